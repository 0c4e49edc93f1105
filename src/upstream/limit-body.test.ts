import { describe, expect, it } from 'vitest'
import { BodyLimitExceededError, limitBodyStream } from './limit-body'

function chunks(...sizes: number[]) {
  let pulls = 0
  let cancelled: unknown
  const stream = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        const size = sizes[pulls++]
        if (size === undefined) controller.close()
        else controller.enqueue(new Uint8Array(size).fill(pulls))
      },
      cancel(reason) {
        cancelled = reason
      },
    },
    { highWaterMark: 0 },
  ) // pulled only on demand, so `pulls` counts what the limiter asked for
  return { stream, pulls: () => pulls, cancelled: () => cancelled }
}

describe('limitBodyStream', () => {
  it('passes a body of exactly maxBytes through unchanged', async () => {
    const { stream } = chunks(3, 4, 3)
    const limited = limitBodyStream(stream, 10)
    const bytes = new Uint8Array(await new Response(limited.stream).arrayBuffer())
    expect([...bytes]).toEqual([1, 1, 1, 2, 2, 2, 2, 3, 3, 3])
    expect(limited.exceeded()).toBe(false)
  })

  it('errors on the chunk that crosses maxBytes, cancels the source and calls onExceeded first', async () => {
    const source = chunks(6, 6, 6, 6)
    const events: string[] = []
    const limited = limitBodyStream(source.stream, 10, () => events.push(`onExceeded:${String(limited.exceeded())}`))
    const reader = limited.stream.getReader()
    expect((await reader.read()).value?.byteLength).toBe(6)
    await expect(reader.read()).rejects.toBeInstanceOf(BodyLimitExceededError)
    expect(limited.exceeded()).toBe(true)
    expect(events).toEqual(['onExceeded:true'])
    expect(source.cancelled()).toBeInstanceOf(BodyLimitExceededError)
    expect(source.pulls()).toBe(2) // nothing read past the crossing chunk
  })

  it('treats an empty body as within any limit, including 0', async () => {
    const limited = limitBodyStream(chunks().stream, 0)
    expect(await new Response(limited.stream).text()).toBe('')
    expect(limited.exceeded()).toBe(false)
  })

  it('reads the source only as the consumer pulls (no buffering ahead)', async () => {
    const source = chunks(1, 1, 1, 1, 1)
    const reader = limitBodyStream(source.stream, 100).stream.getReader()
    await reader.read()
    await new Promise((r) => setTimeout(r, 10))
    expect(source.pulls()).toBeLessThanOrEqual(2)
  })

  it.each([-1, 1.5, Number.NaN])('refuses maxBytes %s', (maxBytes) => {
    expect(() => limitBodyStream(chunks().stream, maxBytes)).toThrow(TypeError)
  })
})

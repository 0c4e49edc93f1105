import { describe, expect, it } from 'vitest'
import { inflate, requestCoding } from './content-coding'

describe('requestCoding', () => {
  it.each([
    [undefined, { kind: 'none' }],
    ['', { kind: 'none' }],
    ['identity', { kind: 'none' }],
    [' Identity , identity', { kind: 'none' }],
    ['gzip', { kind: 'inflatable', format: 'gzip' }],
    ['GZIP', { kind: 'inflatable', format: 'gzip' }],
    ['x-gzip', { kind: 'inflatable', format: 'gzip' }],
    ['deflate', { kind: 'inflatable', format: 'deflate' }],
    ['identity, gzip', { kind: 'inflatable', format: 'gzip' }],
    ['br', { kind: 'unsupported' }],
    ['zstd', { kind: 'unsupported' }],
    ['compress', { kind: 'unsupported' }],
    ['gzip, gzip', { kind: 'unsupported' }],
    ['deflate, gzip', { kind: 'unsupported' }],
    ['gzip;q=1', { kind: 'unsupported' }],
  ])('%j → %o', (header, expected) => {
    expect(requestCoding(header)).toEqual(expected)
  })
})

describe('inflate: a client that sends more than one compressed stream', () => {
  const gzipOf = async (text: string) =>
    new Uint8Array(
      await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer(),
    )

  /** A body that sends `first` and then nothing, never ending; `cancelled()` once the reader gave it up. */
  function stalled(first: Uint8Array) {
    let cancelled = false
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(first)
      },
      pull: () => new Promise(() => {}),
      cancel() {
        cancelled = true
      },
    })
    return { stream, cancelled: () => cancelled }
  }

  it('fails at once, and stops reading the client, when bytes follow the end in the same chunk', async () => {
    const head = await gzipOf('hello')
    const chunk = new Uint8Array(head.byteLength + 8)
    chunk.set(head)
    const client = stalled(chunk)
    const started = Date.now()
    await expect(new Response(inflate(client.stream, 'gzip')).text()).rejects.toThrow('data after the end')
    expect(Date.now() - started).toBeLessThan(500)
    expect(client.cancelled()).toBe(true)
  })

  it('cancels the client when the result is cancelled, also after the compressed stream ended', async () => {
    const client = stalled(await gzipOf('hello'))
    const reader = inflate(client.stream, 'gzip').getReader()
    expect(new TextDecoder().decode((await reader.read()).value)).toBe('hello')
    await reader.cancel()
    expect(client.cancelled()).toBe(true)
  })
})

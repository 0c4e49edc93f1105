/** A byte limit on a streamed body, enforced as it flows: nothing is buffered, and Content-Length is not trusted. */

/** Error the limited stream fails with; `forward()` turns it into a 413 `payload_too_large`. */
export class BodyLimitExceededError extends RangeError {
  constructor(readonly maxBytes: number) {
    super(`request body exceeds ${maxBytes} bytes`)
    this.name = 'BodyLimitExceededError'
  }
}

export interface LimitedBody {
  /** Yields the same bytes as the source; errors (and cancels the source) once more than `maxBytes` arrive. */
  stream: ReadableStream<Uint8Array>
  /** True once more than `maxBytes` have arrived. */
  exceeded(): boolean
  /** True once reading the source failed (a corrupt compressed body, a client that went away). */
  sourceFailed(): boolean
  /**
   * True while a read of the source is outstanding: the consumer wants bytes the client has not sent yet. False
   * when the consumer has stopped pulling (an origin that does not read the body) or the body is complete.
   */
  waitingForSource(): boolean
}

/**
 * Passes `stream` through byte for byte and errors with {@link BodyLimitExceededError} on the chunk that takes it
 * past `maxBytes` (that chunk is not delivered). Pull-based: it reads the source only as fast as the consumer.
 *
 * `onExceeded` runs just before the stream errors, on the limit or on a failing source. Give it the AbortController
 * of the upload that consumes the
 * stream: workerd's fetch ends a chunked request body *cleanly* when its source stream errors, so without an
 * abort the origin receives the first `maxBytes` as a complete, truncated request (seen with workerd 1.2026-11).
 * Aborting first drops the connection, and the origin never sees a finished request.
 *
 * @example
 * const upload = new AbortController()
 * const limited = limitBodyStream(c.req.raw.body, 1024 * 1024, () => upload.abort())
 * await fetch(url, { method: 'POST', body: limited.stream, signal: upload.signal, duplex: 'half' }).catch((e) => {
 *   if (limited.exceeded()) throw new GatewayError('payload_too_large'); throw e
 * })
 */
export function limitBodyStream(
  stream: ReadableStream<Uint8Array>,
  maxBytes: number,
  onExceeded?: () => void,
): LimitedBody {
  if (!Number.isSafeInteger(maxBytes) || maxBytes < 0) {
    throw new TypeError(`limitBodyStream: maxBytes must be a non-negative integer, got ${maxBytes}`)
  }
  let total = 0
  let exceeded = false
  let sourceFailed = false
  let waiting = false
  // A ReadableStream over the source's reader rather than pipeThrough(TransformStream): the same flow, but no
  // internal pipe promise that workerd would log as an uncaught rejection when the limit trips. (workerd still logs
  // one from the aborted upload's own body pump; the tests hide that line, see test/runtime-logs.ts.)
  const reader = stream.getReader()
  const limited = new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        let chunk: ReadableStreamReadResult<Uint8Array>
        try {
          waiting = true
          chunk = await reader.read()
        } catch (error) {
          sourceFailed = true
          onExceeded?.()
          controller.error(error)
          return
        } finally {
          waiting = false
        }
        const { done, value } = chunk
        if (done) return controller.close()
        total += value.byteLength
        if (total > maxBytes) {
          exceeded = true
          const error = new BodyLimitExceededError(maxBytes)
          onExceeded?.()
          controller.error(error)
          reader.cancel(error).catch(() => {})
          return
        }
        controller.enqueue(value)
      },
      cancel(reason) {
        return reader.cancel(reason)
      },
    },
    { highWaterMark: 0 },
  )
  return {
    stream: limited,
    exceeded: () => exceeded,
    sourceFailed: () => sourceFailed,
    waitingForSource: () => waiting,
  }
}

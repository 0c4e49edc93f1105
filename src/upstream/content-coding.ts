/**
 * The Content-Encoding of a request body, as the gateway handles it: none, one coding it can inflate (gzip or
 * deflate, the formats DecompressionStream supports), or anything else. A body size limit counts inflated bytes
 * only if the gateway inflates them, so a compressed body is either inflated under a limit or refused.
 */

/** DecompressionStream formats, by the Content-Encoding tokens that name them (RFC 9110 §8.4.1). */
const INFLATABLE = { gzip: 'gzip', 'x-gzip': 'gzip', deflate: 'deflate' } as const

export type InflateFormat = (typeof INFLATABLE)[keyof typeof INFLATABLE]

export type RequestCoding = { kind: 'none' } | { kind: 'inflatable'; format: InflateFormat } | { kind: 'unsupported' }

/** What to send as `Accept-Encoding` with a 415 (RFC 9110 §15.5.16): the codings a route accepts. */
export const ACCEPTED_CODINGS = { plain: 'identity', inflating: 'gzip, deflate, identity' } as const

/**
 * Reads a request's Content-Encoding. `identity` (alone or in a list) means none; a single gzip or deflate is
 * inflatable; several codings, or any other one (br, zstd, compress…), are unsupported.
 *
 * @example requestCoding('GZIP') // { kind: 'inflatable', format: 'gzip' }
 */
export function requestCoding(header: string | null | undefined): RequestCoding {
  if (header === null || header === undefined) return { kind: 'none' }
  const codings = header
    .split(',')
    .map((token) => token.trim().toLowerCase())
    .filter((token) => token !== '' && token !== 'identity')
  if (codings.length === 0) return { kind: 'none' }
  const format = codings.length === 1 ? INFLATABLE[codings[0] as keyof typeof INFLATABLE] : undefined
  return format === undefined ? { kind: 'unsupported' } : { kind: 'inflatable', format }
}

/**
 * `source` inflated with `format`. A hand-written pump instead of `pipeThrough`: the pipe's internal promise
 * would reject unobserved (and workerd log it as an uncaught error) each time a consumer cancels on a size limit
 * or the data turns out corrupt; here every rejection is handled, and the source is cancelled with the reason.
 */
export function inflate(source: ReadableStream<Uint8Array>, format: InflateFormat): ReadableStream<Uint8Array> {
  const { readable, writable } = new DecompressionStream(format)
  const writer = writable.getWriter()
  const reader = source.getReader()
  const pump = async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) break
        await writer.write(value)
      }
      await writer.close()
    } catch (error) {
      await writer.abort(error).catch(() => {})
      await reader.cancel(error).catch(() => {})
    }
  }
  void pump()
  return readable
}

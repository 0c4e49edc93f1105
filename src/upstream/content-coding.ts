/**
 * The Content-Encoding of a request body, as the gateway handles it: none, one coding it can inflate (gzip or
 * deflate), or anything else. A body size limit counts inflated bytes
 * only if the gateway inflates them, so a compressed body is either inflated under a limit or refused.
 */

import { once } from 'node:events'
import { Readable } from 'node:stream'
import { createGunzip, createInflate } from 'node:zlib'

/** The zlib formats the gateway inflates, by the Content-Encoding tokens that name them (RFC 9110 §8.4.1). */
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

/** The inflated stream errors with this when bytes follow the end of the compressed stream. */
export class TrailingDataError extends Error {
  constructor() {
    super('data after the end of the compressed stream')
    this.name = 'TrailingDataError'
  }
}

/**
 * `source` inflated with `format`, strictly as fast as the result is read. workerd's DecompressionStream inflates
 * every chunk it is given whether or not anyone reads (a 1 MB gzip of 1 GiB is inflated in full, in memory, before
 * a size limit downstream can stop it); node:zlib stops taking input while its output is unread, so a reader that
 * quits at a limit also stops the inflation and the reading of `source` within one chunk. Corrupt data errors the
 * result, and so do bytes after the end of the compressed stream (zlib drops them silently: zeros after a gzip
 * member, anything after a deflate stream), so the origin never gets a body the client did not send whole; the
 * result ends only once `source` has. Cancelling the result cancels `source`.
 */
export function inflate(source: ReadableStream<Uint8Array>, format: InflateFormat): ReadableStream<Uint8Array> {
  const zlib = format === 'gzip' ? createGunzip() : createInflate()
  const reader = source.getReader()
  let ended = false
  let trailing = false
  let fed = 0
  zlib.once('end', () => {
    ended = true
    // Input zlib took but did not consume: bytes after the end, known now. Stop reading the client at once.
    if (fed > zlib.bytesWritten) {
      trailing = true
      reader.cancel().catch(() => {})
    }
  })
  const closed = new Promise<void>((resolve) => zlib.once('close', resolve))
  // A destroyed inflater (corrupt data, a cancelled result) stops the upload; one that ended reads on to the end.
  closed.then(() => {
    if (!ended) reader.cancel().catch(() => {})
  })
  const feed = async () => {
    try {
      for (;;) {
        const { done, value } = await reader.read()
        if (done) {
          if (!ended) zlib.end()
          return
        }
        if (ended) {
          if (value.byteLength === 0) continue
          trailing = true
          await reader.cancel().catch(() => {})
          return
        }
        if (zlib.destroyed) return
        fed += value.byteLength
        if (!zlib.write(value)) await Promise.race([once(zlib, 'drain'), closed])
      }
    } catch (error) {
      zlib.destroy(error instanceof Error ? error : new Error('request body stream failed', { cause: error }))
    }
  }
  const feeding = feed()
  const inflated = (Readable.toWeb(zlib) as ReadableStream<Uint8Array>).getReader()
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await inflated.read()
      if (!done) return controller.enqueue(value)
      await feeding
      // Input zlib took but never consumed, or input after its end: not one compressed stream.
      if (trailing || fed > zlib.bytesWritten) throw new TrailingDataError()
      controller.close()
    },
    cancel: (reason) => {
      reader.cancel(reason).catch(() => {})
      return inflated.cancel(reason)
    },
  })
}

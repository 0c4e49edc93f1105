/**
 * Body limits, checked before anything reads the body, so before JSON parsing or password hashing (R-ERR-3 in
 * docs/requirements.md): a global limit and a tight one on `/auth/*`. hono's bodyLimit trusts Content-Length when
 * present and counts a chunked body as it arrives; either way an oversized body is a 413 problem, never text/plain.
 */

import type { Context } from 'hono'
import { bodyLimit as honoBodyLimit } from 'hono/body-limit'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { logRequest } from '../../request-log'
import { hasBody, requestHeader } from '../../request-parse'
import { AUTH_PATH_PREFIX } from '../../routes/paths'
import { ACCEPTED_CODINGS, requestCoding } from '../../upstream/content-coding'
import type { Stage } from '../stage'

function limiter(maxSize: number) {
  return honoBodyLimit({
    maxSize,
    onError: () => {
      throw new GatewayError('payload_too_large', { internal: { reason: 'body_too_large', limit_bytes: maxSize } })
    },
  })
}

/**
 * A compressed body would pass any limit on its compressed size and inflate behind it (a 4 KB gzip of 4 MiB), so
 * a body with a Content-Encoding is refused with 415 unless its proxied route inflates it under a limit of its own
 * (`decompress`). Requests without a body may carry the header: there is nothing to inflate.
 */
function refuseCompressedBody(c: Context<AppEnv>): void {
  const coding = requestCoding(requestHeader(c, 'content-encoding'))
  if (coding.kind === 'none' || !hasBody(c.req.raw)) return
  const inflating = c.get('route')?.policy.decompress !== undefined
  if (inflating && coding.kind === 'inflatable') return
  logRequest(c, { event: 'input_validation_fail', level: 'info', reason: 'content_encoding', outcome: 'denied' })
  throw new GatewayError('unsupported_content_encoding', {
    headers: { 'accept-encoding': inflating ? ACCEPTED_CODINGS.inflating : ACCEPTED_CODINGS.plain },
  })
}

/**
 * hono's limiter reads a chunked body itself, and a body the client stops sending half-way fails that read: a 400
 * `bad_request` (the client's doing), not the 500 an unexpected error would be. The limiter is given a `next` that
 * does nothing, so everything it throws is the read's: the rest of the pipeline runs after it, not inside it.
 */
async function limitReading(limit: ReturnType<typeof limiter>, c: Context<AppEnv>): Promise<void> {
  try {
    await limit(c, readDone)
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause
    throw new GatewayError('bad_request', { internal: { reason: 'body_unreadable', cause } })
  }
}

const readDone = async (): Promise<void> => {}

/** The limiters are built once, with the stage: one per distinct limit (the route table is fixed). */
export const bodyLimit = (limits: Config['bodyLimits']): Stage => {
  const limiters = new Map<number, ReturnType<typeof limiter>>()
  const limiterFor = (maxSize: number) => {
    let found = limiters.get(maxSize)
    if (found === undefined) {
      found = limiter(maxSize)
      limiters.set(maxSize, found)
    }
    return found
  }
  return {
    enter(c) {
      refuseCompressedBody(c)
      const route = c.get('route')
      if (route !== undefined) {
        // A proxied body is streamed to the origin, never buffered, unless its route has a JSON schema: only an
        // oversized Content-Length is refused here, and the forwarder (`limitBodyStream`) counts the stream itself.
        const maxSize = route.policy.bodyLimitBytes ?? limits.defaultBytes
        if (route.policy.schema !== undefined) return limitReading(limiterFor(maxSize), c)
        const declared = Number(requestHeader(c, 'content-length') ?? Number.NaN)
        if (declared > maxSize) {
          throw new GatewayError('payload_too_large', {
            internal: { reason: 'body_too_large', limit_bytes: maxSize, source: 'content_length' },
          })
        }
        return
      }
      const auth = c.req.path.toLowerCase().startsWith(AUTH_PATH_PREFIX)
      return limitReading(limiterFor(auth ? limits.authBytes : limits.defaultBytes), c)
    },
  }
}

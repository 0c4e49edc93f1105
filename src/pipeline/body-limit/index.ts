/**
 * Body limits (R-ERR-3): a global limit and a tight one on `/auth/*`, checked before anything reads the body —
 * so before JSON parsing or password hashing. hono's bodyLimit trusts Content-Length when present and counts
 * the bytes of a chunked body as they arrive; either way an oversized body is a 413 problem, never text/plain.
 */
import { bodyLimit as honoBodyLimit } from 'hono/body-limit'
import { createMiddleware } from 'hono/factory'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'

/** Path prefix that gets the tight limit: the gateway's own auth endpoints (small JSON bodies only). */
export const AUTH_PATH_PREFIX = '/auth/'

const limiters = new WeakMap<
  Config['bodyLimits'],
  { auth: ReturnType<typeof honoBodyLimit>; all: ReturnType<typeof honoBodyLimit> }
>()

function limitersFor(limits: Config['bodyLimits']) {
  let pair = limiters.get(limits)
  if (pair === undefined) {
    const limit = (maxSize: number) =>
      honoBodyLimit({
        maxSize,
        onError: () => {
          throw new GatewayError('payload_too_large', { internal: { reason: 'body_too_large', limit_bytes: maxSize } })
        },
      })
    pair = { auth: limit(limits.authBytes), all: limit(limits.defaultBytes) }
    limiters.set(limits, pair)
  }
  return pair
}

export const bodyLimit = () =>
  createMiddleware<AppEnv>(async function bodyLimit(c, next) {
    const { auth, all } = limitersFor(c.get('config').bodyLimits)
    const limiter = c.req.path.toLowerCase().startsWith(AUTH_PATH_PREFIX) ? auth : all
    await limiter(c, next)
  })

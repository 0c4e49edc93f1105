/**
 * Security headers (R-HDR-1, R-HDR-3, R-HDR-4, R-HDR-5 in docs/requirements.md) on every response, set after the
 * rest of the pipeline so errors and not-found answers carry them too: the fields of hono's secureHeaders with the
 * gateway's options (src/lib/security-headers.ts says why the gateway applies them itself), in one lookup of the
 * response's headers. A proxied answer already carries them (`securedResponse`) and is left as it is.
 */
import { createMiddleware } from 'hono/factory'
import { applySecurityHeaders } from '../../lib/security-headers'
import type { Stage } from '../stage'

export const securityHeaders = (): Stage => ({
  enter() {},
  leave(c) {
    applySecurityHeaders(c.res.headers)
  },
})

/**
 * `Cache-Control: no-store` on every response of a path that can carry tokens (R-HDR-2), unless the handler
 * chose a policy itself.
 */
export const noStore = () =>
  createMiddleware(async function noStore(c, next) {
    await next()
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store')
  })

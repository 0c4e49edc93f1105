/**
 * The refresh token in a cookie, for browser apps: `__Host-rt`, HttpOnly (no script can read it), Secure, Path=/
 * and no Domain (the `__Host-` prefix makes the browser enforce both: only this host ever gets it), SameSite=Strict
 * (never sent on a request another site starts). The upstream code drops it from the requests it forwards and from
 * the origin's `Set-Cookie`s (`GATEWAY_COOKIES`), so only the gateway ever sees it.
 *
 * A browser attaches a cookie to requests that scripts of other origins start, so a route that acts on the cookie
 * alone checks where the request came from ({@link checkCookieRequest}).
 */
import type { Context } from 'hono'
import { deleteCookie, generateCookie, getCookie, setCookie } from 'hono/cookie'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { isJsonContentType } from '../../middleware/validate'

/** The cookie's name without its prefix: browsers get `__Host-rt`. */
export const REFRESH_COOKIE = 'rt'

const ATTRIBUTES = { prefix: 'host', httpOnly: true, secure: true, sameSite: 'Strict', path: '/' } as const

/** The `Set-Cookie` value that removes the cookie, for a problem response (which `c.header` cannot reach). */
export const CLEAR_REFRESH_COOKIE = generateCookie(REFRESH_COOKIE, '', { ...ATTRIBUTES, maxAge: 0 })

/** Sets the cookie to `token` for as long as the token lives. */
export function setRefreshCookie(c: Context<AppEnv>, token: string, maxAgeSeconds: number): void {
  setCookie(c, REFRESH_COOKIE, token, { ...ATTRIBUTES, maxAge: maxAgeSeconds })
}

/** Tells the browser to forget the cookie (logout, logout-all). */
export function clearRefreshCookie(c: Context<AppEnv>): void {
  deleteCookie(c, REFRESH_COOKIE, ATTRIBUTES)
}

/** The refresh token the request's cookie carries, if any (of any length: a refresh refuses an overlong one). */
export function refreshCookie(c: Context<AppEnv>): string | undefined {
  const value = getCookie(c, REFRESH_COOKIE, 'host')
  return value === '' ? undefined : value
}

/**
 * Refuses (403 `csrf_check_failed`) a request that would act on the cookie alone unless it is one that only a
 * page of an allowed origin can send: an `Origin` in `CORS_ORIGINS` and
 * `Content-Type: application/json`. Browsers always send `Origin` on a cross-origin POST and scripts cannot forge
 * it; a JSON content type is not CORS-safelisted, so another origin's page cannot send one without a preflight,
 * which the CORS stage refuses. Nothing about the cookie is read before this check, so its answer is the same
 * whether or not the cookie is valid. The gateway's own origin is not implied: any page the API host serves (an
 * origin's upload, a reflected error page) would then be trusted with the cookie; list it to allow it.
 */
export function checkCookieRequest(c: Context<AppEnv>, cors: Config['cors']): void {
  const origin = c.req.header('origin')
  const reason =
    origin === undefined
      ? 'origin_missing'
      : !cors.origins.includes(origin)
        ? 'origin_not_allowed'
        : !isJsonContentType(c.req.header('content-type'))
          ? 'content_type_not_json'
          : undefined
  if (reason !== undefined) throw new GatewayError('csrf_check_failed', { internal: { reason } })
}

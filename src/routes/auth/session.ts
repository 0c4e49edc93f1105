/**
 * `GET /auth/me`, `POST /auth/logout` and `POST /auth/logout-all`, and the two halves of ending a session that
 * `DELETE /auth/sessions/{id}` shares with them. A logout whose writes fail tells the client (503) rather than
 * pretending: a logout that silently did nothing would leave a session the user believes dead.
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import {
  type AuthDeps,
  authenticate,
  type Principal,
  REVOCATION_RETRY_AFTER_SECONDS,
} from '../../middleware/authenticate'
import { optionalJsonBody } from '../../middleware/validate'
import { countAuthEvent } from '../../observability/metrics'
import { logRequest } from '../../request-log'
import { ACCOUNT_RETRY_AFTER_SECONDS } from './account'
import { checkCookieRequest, clearRefreshCookie, refreshCookie } from './refresh-cookie'
import { LogoutBody } from './schemas'

/** The verified principal of a route behind `authenticate()`. */
export function principalOf(c: Context<AppEnv>): Principal {
  const principal = c.get('principal')
  if (principal === undefined)
    throw new GatewayError('internal_error', { internal: { reason: 'route without authenticate()' } })
  return principal
}

export function me(c: Context<AppEnv>): Response {
  const { sub, sid, scopes, exp } = principalOf(c)
  c.header('cache-control', 'no-store')
  return c.json({ sub, sid, scopes, expires_at: new Date(exp * 1000).toISOString() })
}

/**
 * Optional bearer for `POST /auth/logout`: with an Authorization header the token must be valid (401 otherwise);
 * without one the handler needs a refresh token in the body.
 */
export const bearerIfPresent = (gw: AuthDeps) => {
  const required = authenticate(gw)
  return createMiddleware<AppEnv>(async function bearerIfPresent(c, next) {
    if (c.req.header('authorization') !== undefined) return required(c, next)
    await next()
  })
}

/**
 * Runs a D1 step of a session route: a failure is a 503 `dependency_unavailable` (the cause is logged with
 * `reason`). Ending a session writes D1 first: if the Upstash half then fails, the family can no longer be
 * refreshed, and a logout retried with the same access token still authenticates and finishes the job.
 */
export async function inD1<T>(reason: string, userid: string | undefined, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (cause) {
    throw unavailable('dependency_unavailable', reason, cause, ACCOUNT_RETRY_AFTER_SECONDS, { userid })
  }
}

/**
 * The Upstash half of ending sessions: every access token of each session in `sids` is refused from the next
 * request on, at every edge location. When the caller's own session is among them, its token is revoked in the same
 * write. A failure is a 503 `revocation_unavailable` (the cause is logged with `reason`).
 */
export async function revokeSessions(
  { revocation }: Pick<Gateway, 'revocation'>,
  sids: Iterable<string>,
  principal: Principal | undefined,
  reason: string,
): Promise<void> {
  try {
    await Promise.all(
      [...sids].map((sid) =>
        principal !== undefined && sid === principal.sid
          ? revocation.revoke({ jti: principal.jti, exp: principal.exp, sid }, Math.floor(Date.now() / 1000))
          : revocation.revokeSession(sid),
      ),
    )
  } catch (cause) {
    throw unavailable('revocation_unavailable', reason, cause, REVOCATION_RETRY_AFTER_SECONDS, {
      userid: principal?.sub,
    })
  }
}

/**
 * Ends a session: the presented access token, its session (`sid`, the refresh family) in Upstash, and the family
 * in D1; plus the family of `refresh_token` from the body when given, else of the `__Host-rt` cookie's (it must
 * belong to the same user). With only a refresh token (an app whose access token expired), that token's family and
 * session are ended; the cookie alone counts only for a request {@link checkCookieRequest} admits. 204 whether or
 * not the refresh token was known: logout is no oracle. The 204 removes the cookie when its session ended (or it
 * named none); a body token leaves the cookie alone.
 *
 * D1 is written before Upstash: if Upstash then fails (503), a retry with the same access token still
 * authenticates and finishes the job. The other order would revoke the token first and make the retry a 401.
 */
export async function logout(c: Context<AppEnv>, gw: Gateway): Promise<Response> {
  const body = await optionalJsonBody(c, LogoutBody)
  const principal = c.get('principal')
  const fromCookie = body?.refresh_token === undefined
  const refreshToken = body?.refresh_token ?? logoutCookie(c, gw, principal)
  if (principal === undefined && refreshToken === undefined) {
    logRequest(c, { event: 'authn_token_invalid', level: 'warn', reason: 'token_missing', outcome: 'denied' })
    throw new GatewayError('unauthenticated')
  }
  const { refreshTokens } = gw

  const families = new Set<string>()
  if (principal !== undefined) families.add(principal.sid)
  // The cookie goes only with its session: a body token leaves it alone, as a refresh does, and a cookie of
  // another user's session stays (clearing it would leave that session alive and unreachable until it expires).
  let clearCookie = false
  await inD1('logout_family_revoke_failed', principal?.sub, async () => {
    if (refreshToken !== undefined) {
      const family = await refreshTokens.findFamily(refreshToken)
      if (family !== null && (principal === undefined || family.userId === principal.sub)) families.add(family.familyId)
      clearCookie = fromCookie && (family === null || families.has(family.familyId))
    }
    for (const familyId of families) await refreshTokens.revokeFamily(familyId, 'logout')
  })
  await revokeSessions(gw, families, principal, 'logout_write_failed')
  logRequest(c, {
    event: 'session_logout',
    level: 'info',
    description: 'The session was ended: access token, session and refresh family revoked.',
    ...(principal !== undefined ? { userid: principal.sub, jti: principal.jti } : {}),
    sessions: families.size,
    outcome: 'success',
  })
  countAuthEvent('logout')
  if (clearCookie) clearRefreshCookie(c)
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

/**
 * The cookie's refresh token for a logout without one in the body. Without a bearer token, the cookie alone
 * would act: only a request {@link checkCookieRequest} admits may use it (403 otherwise). A bearer token needs
 * no such check: another origin's page cannot send `Authorization` without a preflight.
 */
function logoutCookie(c: Context<AppEnv>, gw: Gateway, principal: Principal | undefined): string | undefined {
  const token = refreshCookie(c)
  if (token !== undefined && principal === undefined) checkCookieRequest(c, gw.config.cors)
  return token
}

/**
 * Ends every session of `userId`: every live refresh family in D1 (revoked with `reason`), then every access token
 * issued up to now (`revokeUserBefore(userId, floor(now)+1)`; a token minted later in this same second is refused
 * too: fail safe). D1 first, for the same retry reason as logout. A failure is a 503 logged with reason
 * `<reason>_families_failed` (D1) or `<reason>_write_failed` (Upstash). Returns the families revoked.
 */
export async function endAllSessions(
  gw: Pick<Gateway, 'refreshTokens' | 'revocation'>,
  userId: string,
  reason: string,
): Promise<number> {
  let families: number
  try {
    families = await gw.refreshTokens.revokeAllForUser(userId, reason)
  } catch (cause) {
    throw unavailable('dependency_unavailable', `${reason}_families_failed`, cause, ACCOUNT_RETRY_AFTER_SECONDS, {
      target_userid: userId,
    })
  }
  try {
    await gw.revocation.revokeUserBefore(userId, Math.floor(Date.now() / 1000) + 1)
  } catch (cause) {
    throw unavailable('revocation_unavailable', `${reason}_write_failed`, cause, REVOCATION_RETRY_AFTER_SECONDS, {
      target_userid: userId,
    })
  }
  return families
}

/** Ends every session of the caller (R-RT-11 in docs/requirements.md) with {@link endAllSessions}. */
export async function logoutAll(c: Context<AppEnv>, gw: Gateway): Promise<Response> {
  const principal = principalOf(c)
  const families = await endAllSessions(gw, principal.sub, 'logout_all')
  logRequest(c, {
    event: 'session_logout',
    level: 'info',
    description: 'Every session of the user was ended (logout-all).',
    userid: principal.sub,
    jti: principal.jti,
    sessions: families,
    scope: 'all',
    outcome: 'success',
  })
  countAuthEvent('logout')
  clearRefreshCookie(c)
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

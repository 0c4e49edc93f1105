/**
 * `POST /auth/refresh` (R-RT-2 in docs/requirements.md): rotates a refresh token and answers a new pair. Every failure
 * (unknown, expired, revoked, reused, another audience's, a disabled user's) is the same 401 `invalid_refresh_token`,
 * so a stolen token's holder cannot tell "reused" from "never existed" (R-RT-8). Reuse outside the grace window has
 * already revoked the family in D1 (the store did it); here its session is revoked in Upstash too, so the family's live
 * access tokens die with it (R-RT-9), and `authn_token_reuse` is logged at CRITICAL (R-RT-14).
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { sha256Hex } from '../../lib/crypto'
import { bodyIsEmpty, parseJsonBody } from '../../middleware/validate'
import { countAuthEvent } from '../../observability/metrics'
import { logRequest } from '../../request-log'
import type { RotateResult } from '../../stores/types'
import { ACCOUNT_RETRY_AFTER_SECONDS } from './account'
import { CLEAR_REFRESH_COOKIE, checkCookieRequest, refreshCookie } from './refresh-cookie'
import { MAX_REFRESH_TOKEN_CHARS, RefreshBody } from './schemas'
import { type RefreshTransport, tokenPairResponse } from './token-pair'

function invalid(c: Context<AppEnv>, reason: string): never {
  countAuthEvent('refresh_invalid')
  // `purpose`, as account tokens name theirs: a field named after tokens would be redacted.
  logRequest(c, { event: 'authn_token_invalid', level: 'info', purpose: 'refresh', reason, outcome: 'denied' })
  throw new GatewayError('invalid_refresh_token')
}

/**
 * The route: a `refresh_token` in the body is refreshed as it always was (the cookie is neither read nor changed;
 * `refresh_transport: "cookie"` moves the new token into the cookie). Without one (no body, or a body without the
 * field) the token is the `__Host-rt` cookie's, once {@link checkCookieRequest} admits the request, and the
 * answer always puts the new token back in the cookie: a script can never turn the cookie into a readable token.
 * Every 401 of a cookie refresh (no cookie, unknown, expired, reused…) removes the cookie, so they stay alike.
 */
export async function refreshRoute(c: Context<AppEnv>, gw: Gateway): Promise<Response> {
  // No body at all is a cookie refresh; any body goes through the usual JSON checks (415, 400).
  const body = (await bodyIsEmpty(c)) ? undefined : await parseJsonBody(c, RefreshBody)
  if (body?.refresh_token !== undefined) return refresh(c, body.refresh_token, gw, body.refresh_transport)
  checkCookieRequest(c, gw.config.cors)
  const token = refreshCookie(c)
  try {
    if (token === undefined) invalid(c, 'cookie_missing')
    // Longer than any refresh token (a body's is bounded alike): not a session, so neither looked up nor limited,
    // and nothing derived from what the client sent grows with it.
    if (token.length > MAX_REFRESH_TOKEN_CHARS) invalid(c, 'cookie_oversized')
    return await refresh(c, token, gw, 'cookie')
  } catch (error) {
    if (!(error instanceof GatewayError) || error.code !== 'invalid_refresh_token') throw error
    throw new GatewayError(error.code, {
      ...error.options,
      headers: { ...error.options.headers, 'set-cookie': CLEAR_REFRESH_COOKIE },
    })
  }
}

/** Rotates `refreshToken` and answers the new pair, the refresh token by `transport`. */
export async function refresh(
  c: Context<AppEnv>,
  refreshToken: string,
  gw: Gateway,
  transport: RefreshTransport,
): Promise<Response> {
  const { config, users, refreshTokens } = gw
  // The refresh policy counts per session, so the token's family is looked up before it rotates. A token that is not
  // stored counts as a session of its own: every token meets the same policy, so a refusal tells its holder nothing
  // about whether the token ever existed. It is named by its digest, so what the isolate remembers of it (the
  // engine's identifiers, a refused identity) has a fixed size whatever the client sent.
  const limitAlso = c.get('limitAlso')
  if (limitAlso !== undefined && config.rateLimit.refresh !== 'off') {
    let family: Awaited<ReturnType<typeof refreshTokens.findFamily>>
    try {
      family = await refreshTokens.findFamily(refreshToken)
    } catch (cause) {
      throw unavailable('dependency_unavailable', 'refresh_store_failed', cause, ACCOUNT_RETRY_AFTER_SECONDS)
    }
    await limitAlso('refresh', family === null ? `token:${await sha256Hex(refreshToken)}` : `family:${family.familyId}`)
  }
  // The access token's issue time, taken before the rotation: a reset or a disable that revokes this family after
  // the rotation writes its cutoff after its own D1 writes, and that cutoff then covers this time, however late the
  // token is minted below.
  const issuedAtMs = Date.now()
  let result: RotateResult
  try {
    result = await refreshTokens.rotate(refreshToken, {
      graceSeconds: config.accounts.refresh.graceSeconds,
      client: config.jwt.audience,
    })
  } catch (cause) {
    // Never "invalid" on a store error: the client would throw away a good session.
    throw unavailable('dependency_unavailable', 'refresh_store_failed', cause, ACCOUNT_RETRY_AFTER_SECONDS)
  }

  if (result.kind === 'invalid') invalid(c, 'unknown_expired_or_revoked')
  if (result.kind === 'reuse') {
    let sessionRevoked = true
    try {
      await gw.revocation.revokeSession(result.familyId)
    } catch (cause) {
      // The family is already dead in D1 (no refresh can succeed); its access tokens live at most
      // ACCESS_TOKEN_TTL_SECONDS more. Said loudly, in the same CRITICAL record.
      sessionRevoked = false
      logRequest(c, { event: 'revocation_write_failed', level: 'error', sid: result.familyId, cause })
    }
    countAuthEvent('refresh_reuse')
    logRequest(c, {
      event: 'authn_token_reuse',
      level: 'critical',
      description: `authn_token_reuse:${result.userId},${result.familyId}: a rotated refresh token was presented outside the grace window; the family was revoked.`,
      userid: result.userId,
      family_id: result.familyId,
      session_revoked: sessionRevoked,
      outcome: 'denied',
    })
    throw new GatewayError('invalid_refresh_token')
  }

  // Read side by side (one round trip's wait): the user, and whether the family is still live. A reset, a
  // logout-all or a disable that revoked the family after the rotation refuses the refresh here, rather than
  // answering a pair whose refresh token is dead and whose access token the change's cutoff already covers.
  const failed = (reason: string) => (cause: unknown) => {
    throw unavailable('dependency_unavailable', reason, cause, ACCOUNT_RETRY_AFTER_SECONDS)
  }
  const [user, live] = await Promise.all([
    users.findById(result.userId).catch(failed('user_store_failed')),
    refreshTokens.isFamilyLive(result.familyId).catch(failed('refresh_store_failed')),
  ])
  // rotate() already refuses a disabled user's family; a user deleted in between is just as dead.
  if (user === null || user.disabledAt !== null) invalid(c, 'user_gone')
  if (!live) invalid(c, 'session_revoked')

  const { response, jti } = await tokenPairResponse(c, gw, user, result, transport, issuedAtMs)
  countAuthEvent('refreshed')
  logRequest(c, {
    event: 'session_renewed',
    level: 'info',
    userid: user.id,
    sid: result.familyId,
    jti,
    grace: result.kind === 'grace',
    outcome: 'success',
  })
  return response
}

/**
 * Bearer authentication (S-BL-3, S-BL-4 in docs/requirements.md): verifies the access token, then checks revocation of
 * the token, its session and its user in one Upstash read. Every failure is the same public 401 `invalid_token`; the
 * reason is logged (`authn_token_invalid` / `authn_token_revoked`), the token never is. If the revocation check cannot
 * be made the request fails closed with 503, unless the operator chose REVOCATION_FAILURE_MODE=open and the route did
 * not ask to fail closed whatever the mode (the admin routes do).
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { isScopeToken } from '../../lib/scopes'
import { countAuthEvent } from '../../observability/metrics'
import { logRequest } from '../../request-log'
import { requestHeader, requestUrl } from '../../request-parse'
import type { RevocationStatus } from '../../stores/types'
import { type AccessTokenClaims, type VerifyResult, verifyAccessToken } from '../../tokens/verify'

export interface Principal {
  sub: string
  sid: string
  jti: string
  scopes: string[]
  iat: number
  exp: number
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by authenticate() for a valid, unrevoked access token. */
    principal: Principal | undefined
    /** Set by the rate-limit stage's prefetch, for authenticate() to reuse. */
    authPrefetch: AuthPrefetch | undefined
  }
}

/** Seconds a client should wait after a 503 from an unavailable revocation check. */
export const REVOCATION_RETRY_AFTER_SECONDS = 2
const BEARER = /^Bearer +(\S+)$/i

/** The bearer value, `missing`, or `malformed` (another scheme, several values, a token in the URL). */
export function bearerToken(authorization: string | undefined, url: URL): string | 'missing' | 'malformed' {
  // RFC 6750 §2.3 would allow ?access_token=; it leaks into logs and history, so it is refused (R-JWT-14).
  if (url.search !== '' && url.searchParams.has('access_token')) return 'malformed'
  if (authorization === undefined) return 'missing'
  const match = BEARER.exec(authorization.trim())
  return match?.[1] ?? 'malformed'
}

export interface AuthPrefetch {
  /** The bearer token the prefetch verified. */
  token: string
  verified: VerifyResult
  /**
   * The token's revocation, decided with the rate limits in the same Upstash call; undefined when the rate-limit
   * stage did not ask (authenticate() then checks it alone).
   */
  revocationCheck: RevocationStatus | undefined
}

/** What authentication needs from the gateway. */
export type AuthDeps = Pick<Gateway, 'config' | 'keyRing' | 'revocation'>

/**
 * For stages that run before authenticate() (rate limiting): verifies a bearer token if there is one (no I/O) and
 * leaves the result on the context for authenticate() to reuse. Returns the claims of a valid token (still
 * unchecked for revocation), or undefined. Never rejects the request itself.
 */
export async function prefetchAuthentication(c: Context<AppEnv>, gw: AuthDeps): Promise<AccessTokenClaims | undefined> {
  const token = bearerToken(requestHeader(c, 'authorization'), requestUrl(c))
  if (token === 'missing' || token === 'malformed') return undefined
  const verified = await verifyAccessToken(token, await gw.keyRing(), gw.config.jwt)
  c.set('authPrefetch', { token, verified, revocationCheck: undefined })
  return verified.ok ? verified.claims : undefined
}

/** Hands authenticate() the revocation of the prefetched token, decided by the rate-limit stage's Upstash call. */
export function settleRevocation(c: Context<AppEnv>, status: RevocationStatus): void {
  const prefetch = c.get('authPrefetch')
  if (prefetch !== undefined) c.set('authPrefetch', { ...prefetch, revocationCheck: status })
}

export interface AuthenticateOptions {
  /**
   * Refuse with 503 when the revocation check cannot be made, even under REVOCATION_FAILURE_MODE=open: for routes
   * where a revoked token acting unchecked would do lasting harm (the admin routes).
   */
  failClosed?: boolean
}

/**
 * Requires a valid, unrevoked access token and puts its principal on the context.
 * @example app.get('/auth/me', authenticate(gateway), (c) => c.json(c.get('principal')))
 */
export const authenticate = (gw: AuthDeps, options: AuthenticateOptions = {}) =>
  createMiddleware<AppEnv>(async function authenticate(c, next) {
    const { config } = gw
    // The rate-limit stage's prefetch parsed the same header of the same request: its token is this one.
    const prefetched = c.get('authPrefetch')
    const token = prefetched?.token ?? bearerToken(requestHeader(c, 'authorization'), requestUrl(c))
    if (token === 'missing') return reject(c, 'token_missing', 'unauthenticated')
    if (token === 'malformed') return reject(c, 'authorization_malformed')

    const verified = prefetched?.verified ?? (await verifyAccessToken(token, await gw.keyRing(), config.jwt))
    const revocationCheck = prefetched?.revocationCheck
    if (!verified.ok) return reject(c, verified.reason)
    const { claims } = verified

    const revocation = await (revocationCheck ?? gw.revocation.check(claims))
    if (revocation.status === 'revoked') {
      logRequest(c, {
        event: 'authn_token_revoked',
        level: 'warn',
        description: `A revoked access token was presented (${revocation.scope} revoked).`,
        userid: claims.sub,
        jti: claims.jti,
        scope: revocation.scope,
        outcome: 'denied',
      })
      countAuthEvent('revoked')
      throw new GatewayError('invalid_token')
    }
    if (revocation.status === 'unavailable') {
      if (config.revocation.failureMode === 'closed' || options.failClosed === true) {
        countAuthEvent('revocation_unavailable')
        throw new GatewayError('revocation_unavailable', {
          retryAfterSeconds: REVOCATION_RETRY_AFTER_SECONDS,
          internal: { reason: 'revocation_check_failed', cause: revocation.cause, userid: claims.sub, jti: claims.jti },
        })
      }
      logRequest(c, {
        event: 'revocation_check_skipped',
        level: 'warn',
        description: 'Upstash could not be read and REVOCATION_FAILURE_MODE=open: the token was accepted unchecked.',
        userid: claims.sub,
        jti: claims.jti,
        cause: revocation.cause,
        outcome: 'allowed',
      })
      countAuthEvent('revocation_skipped')
    } else {
      countAuthEvent('authenticated')
    }
    c.set('principal', claims)
    await next()
  })

function reject(
  c: Context<AppEnv>,
  reason: string,
  code: 'invalid_token' | 'unauthenticated' = 'invalid_token',
): never {
  logRequest(c, { event: 'authn_token_invalid', level: 'warn', reason, outcome: 'denied' })
  countAuthEvent('invalid')
  throw new GatewayError(code)
}

/** The RFC 6750 challenge of a 403 `insufficient_scope`, naming the scopes the route requires. */
export function insufficientScopeChallenge(scopes: readonly string[]): string {
  return `Bearer realm="edgeward", error="insufficient_scope", scope="${scopes.join(' ')}"`
}

/**
 * Requires every one of `scopes` on the principal (run after `authenticate()`); otherwise 403
 * `insufficient_scope` with an RFC 6750 challenge naming them.
 * @example app.post('/admin/users', authenticate(), requireScopes('users:write'), handler)
 */
export const requireScopes = (...scopes: string[]) => {
  if (scopes.length === 0 || scopes.some((s) => !isScopeToken(s))) {
    throw new TypeError('requireScopes: give one or more scope tokens (RFC 6749 §3.3 characters)')
  }
  const challenge = insufficientScopeChallenge(scopes)
  return createMiddleware<AppEnv>(async function requireScopes(c, next) {
    const principal = c.get('principal')
    if (principal === undefined) {
      throw new GatewayError('internal_error', { internal: { reason: 'requireScopes() used without authenticate()' } })
    }
    const missing = scopes.filter((s) => !principal.scopes.includes(s))
    if (missing.length > 0) {
      logRequest(c, {
        event: 'authz_fail',
        level: 'warn',
        description: 'The access token lacks a required scope.',
        userid: principal.sub,
        required: scopes,
        missing,
        outcome: 'denied',
      })
      countAuthEvent('scope_denied')
      throw new GatewayError('insufficient_scope', { headers: { 'www-authenticate': challenge } })
    }
    await next()
  })
}

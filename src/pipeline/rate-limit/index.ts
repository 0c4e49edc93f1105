/**
 * Rate limiting (S-RL-1, S-RL-2, S-RL-3 in docs/requirements.md): per client IP on every route but /health and
 * /metrics, a strict per-IP policy on /auth/login, /auth/register, /auth/refresh and `rateLimit: 'strict'` routes,
 * and a per-user (or per-tenant) policy. A request's policies and its revocation check go out together, so the
 * stage costs one Upstash round trip of latency.
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { clientIdentity } from '../../lib/client-identity'
import { createLogThrottle } from '../../lib/throttle'
import { logRequest } from '../../request-log'
import { AUTH_LIMITED_PATHS, RATE_LIMIT_EXEMPT_PATHS } from '../../routes/paths'
import type { PolicyDecision, RateLimitEngine } from '../../stores/redis/rate-limit'

const limitLogs = createLogThrottle({ intervalMs: 60_000, maxKeys: 1_000 })

/** Seconds until `resetMs`, as the draft's delta-seconds `t`: never negative, never more than the window. */
function secondsUntil(resetMs: number, nowMs: number, windowSeconds: number): number {
  return Math.min(windowSeconds, Math.max(0, Math.ceil((resetMs - nowMs) / 1_000)))
}

/**
 * RateLimit-Policy / RateLimit (draft-ietf-httpapi-ratelimit-headers-10 structured fields) for every exact decision,
 * X-RateLimit-Limit / -Remaining for the most constrained; nothing from a degraded decision, whose numbers would be
 * guesses. RFC 9651 strings need only `"` and `\` escaped; policy names are fixed identifiers anyway.
 */
function rateLimitHeaders(decisions: PolicyDecision[], nowMs: number): Record<string, string> {
  const exact = decisions.filter((d) => !d.degraded)
  if (exact.length === 0) return {}
  const tightest = exact.reduce((a, b) => (b.remaining < a.remaining ? b : a))
  return {
    'RateLimit-Policy': exact.map((d) => `"${d.policy}";q=${d.spec.limit};w=${d.spec.windowSeconds}`).join(', '),
    RateLimit: exact
      .map((d) => `"${d.policy}";r=${d.remaining};t=${secondsUntil(d.resetMs, nowMs, d.spec.windowSeconds)}`)
      .join(', '),
    'X-RateLimit-Limit': String(tightest.spec.limit),
    'X-RateLimit-Remaining': String(tightest.remaining),
  }
}

function userIdentity(claims: { sub: string; tenant?: string }): string {
  return claims.tenant !== undefined ? `tenant:${claims.tenant}` : `sub:${claims.sub}`
}

function normalizedPath(c: Context<AppEnv>): string {
  const path = c.req.path.toLowerCase()
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path
}

export interface RateLimitOptions {
  engine: RateLimitEngine
  settings: Config['rateLimit']
  /**
   * Verifies a bearer token without I/O and starts its revocation check, returning its claims (or undefined), so
   * the user policy and the revocation read go out with the IP checks in one Upstash round trip.
   */
  prefetchClaims(c: Context<AppEnv>): Promise<{ sub: string; tenant?: string } | undefined>
}

export const rateLimit = ({ engine, settings, prefetchClaims }: RateLimitOptions) =>
  createMiddleware<AppEnv>(async function rateLimit(c, next) {
    if (RATE_LIMIT_EXEMPT_PATHS.has(c.req.path)) return next()
    const nowMs = Date.now()
    const client = clientIdentity(c.req.header('cf-connecting-ip'))

    const checks: Promise<PolicyDecision>[] = []
    if (settings.global !== 'off') checks.push(engine.decide('global', client.key, nowMs))
    // The auth policy: the gateway's credential routes, and proxied routes whose policy asks for `strict`.
    const strict = AUTH_LIMITED_PATHS.has(normalizedPath(c)) || c.get('route')?.policy.rateLimit === 'strict'
    if (settings.auth !== 'off' && strict) {
      checks.push(engine.decide('auth', client.key, nowMs))
    }
    // A bearer token is verified here (no I/O) so the user policy and the revocation check go out with the IP
    // checks; authenticate() then reuses both.
    const claims = await prefetchClaims(c)
    if (claims !== undefined && settings.user !== 'off') checks.push(engine.decide('user', userIdentity(claims), nowMs))
    const decisions = await Promise.all(checks)

    const unavailable = decisions.filter((d) => d.unavailable)
    if (unavailable.length > 0) {
      logRequest(c, { event: 'rate_limit_unavailable', level: 'error', policies: unavailable.map((d) => d.policy) })
      throw new GatewayError('rate_limit_unavailable', {
        retryAfterSeconds: Math.max(1, Math.ceil(settings.breaker.cooldownMs / 1_000)),
      })
    }
    const headers = rateLimitHeaders(decisions, nowMs)
    const denied = decisions.filter((d) => !d.success)
    if (denied.length > 0) {
      const retryAfterSeconds = Math.max(1, ...denied.map((d) => Math.ceil((d.resetMs - nowMs) / 1_000)))
      const throttleKey = `${denied.map((d) => d.policy).join(',')}:${client.key}`
      const logged = limitLogs.admit(throttleKey, nowMs)
      if (logged) {
        logRequest(c, {
          event: 'excess_rate_limit_exceeded',
          level: 'warn',
          policies: denied.map((d) => d.policy),
          degraded: denied.some((d) => d.degraded),
          client_kind: client.kind,
          suppressed: logged.suppressed,
        })
      }
      throw new GatewayError('rate_limited', {
        retryAfterSeconds,
        headers,
        extensions: { 'violated-policies': denied.map((d) => d.policy) },
      })
    }
    await next()
    for (const [name, value] of Object.entries(headers)) c.res.headers.set(name, value)
  })

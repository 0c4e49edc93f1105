/**
 * Rate limiting (S-RL-1, S-RL-2, S-RL-3 in docs/requirements.md): per client IP on every route but /health and
 * /metrics, a strict per-IP policy on /auth/login, /auth/register and `rateLimit: 'strict'` routes, a per-session
 * policy on /auth/refresh (decided by its handler through `limitAlso`), and a per-user (or per-tenant) policy,
 * which neither the routes that end sessions nor those that take no bearer token meet (`endsSessions`,
 * `TOKENLESS_PATHS`). A request's policies and the revocation of its access token are decided together, by one
 * Upstash command (src/stores/redis/admission.ts), and the request is counted against every policy only if all of
 * them admit it. A client refused in this isolate is refused again from memory until its reset,
 * with no Upstash call at all.
 */
import type { Context } from 'hono'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { createBlockedIdentities } from '../../lib/blocked-identities'
import type { ClientIdentity } from '../../lib/client-identity'
import { createLogThrottle } from '../../lib/throttle'
import { logRequest, recordEvent } from '../../request-log'
import { requestClient } from '../../request-parse'
import { AUTH_LIMITED_PATHS, endsSessions, RATE_LIMIT_EXEMPT_PATHS, TOKENLESS_PATHS } from '../../routes/paths'
import type { RevocationStatus, RevocationSubject } from '../../stores/types'
import type { Stage } from '../stage'
import type { PolicyDecision, PolicyName, RateLimitEngine } from './engine'

const limitLogs = createLogThrottle({ intervalMs: 60_000, maxKeys: 1_000 })

/**
 * Decides one more policy for the current request, for a handler that learns the identity only from the body (the
 * refresh policy: the session of a refresh token). A refusal is the stage's usual 429 with Retry-After and
 * `violated-policies`, remembered like the stage's; the decision stays out of the RateLimit headers, whose remaining
 * count would tell a token's holder whether its session exists and how busy it is. A policy that is off admits.
 */
export type LimitAlso = (policy: PolicyName, identity: string) => Promise<void>

declare module 'hono' {
  interface ContextVariableMap {
    /** Set by the rate-limit stage for the handlers behind it. */
    limitAlso: LimitAlso | undefined
  }
}

/**
 * Refused identities (policy and identity) an app remembers. At ~100 bytes an entry, 10,000 entries stay near 1 MB
 * of the isolate's 128 MB; beyond it the oldest block is forgotten (src/lib/blocked-identities.ts), which costs one
 * Upstash call when that client returns, never an admission.
 */
export const MAX_BLOCKED_IDENTITIES = 10_000

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
  const exact = decisions.filter((d) => !d.degraded && d.hidden !== true)
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
   * Verifies a bearer token without I/O and returns its claims (or undefined), so the user policy and the token's
   * revocation are decided with the IP checks, in one Upstash call.
   */
  prefetchClaims(c: Context<AppEnv>): Promise<(RevocationSubject & { tenant?: string }) | undefined>
  /** Hands the revocation decided with the limits to authentication. */
  settleRevocation(c: Context<AppEnv>, status: RevocationStatus): void
}

/** What the stage decided for a request, for the RateLimit headers of its answer. */
interface Decided {
  decisions: PolicyDecision[]
  nowMs: number
}

export const rateLimit = ({
  engine,
  settings,
  prefetchClaims,
  settleRevocation,
}: RateLimitOptions): Stage<Decided | undefined> => {
  // One memory per app, so apps built for other settings (tests, a reloaded configuration) never share refusals.
  const blocked = createBlockedIdentities({ maxEntries: MAX_BLOCKED_IDENTITIES })
  const blockKey = (policy: PolicyName, identity: string) => `${policy}|${identity}`

  /** The policies among `checks` that refused their identity earlier and still do, as decisions from memory. */
  const remembered = (checks: [PolicyName, string][], nowMs: number): PolicyDecision[] =>
    checks.flatMap(([policy, identity]) => {
      const spec = settings[policy]
      const block = blocked.blocked(blockKey(policy, identity), nowMs)
      if (block === undefined || spec === 'off') return []
      const { untilMs: resetMs, degraded } = block
      return [{ policy, spec, success: false, remaining: 0, resetMs, degraded, unavailable: false }]
    })

  /**
   * Remembers every identity a decision refused, until its reset, never past one window from now. A degraded
   * refusal is kept no longer than the breaker's cooldown: after it Upstash may answer again, with the real limit.
   */
  const remember = (checks: [PolicyName, string][], decisions: PolicyDecision[], nowMs: number) => {
    for (const [i, d] of decisions.entries()) {
      const identity = checks[i]?.[1]
      // An unavailable fail-closed policy refused no one: its next request must ask again.
      if (identity === undefined || d.success || d.unavailable) continue
      const horizonMs = d.degraded ? settings.breaker.cooldownMs : d.spec.windowSeconds * 1_000
      const untilMs = Math.min(d.resetMs, nowMs + horizonMs)
      if (untilMs > nowMs) blocked.block(blockKey(d.policy, identity), untilMs, d.degraded)
    }
  }

  /** Every policy of the request decided (or the request refused); undefined on a path no limit applies to. */
  async function decide(c: Context<AppEnv>): Promise<Decided | undefined> {
    if (RATE_LIMIT_EXEMPT_PATHS.has(c.req.path)) return undefined
    const nowMs = Date.now()
    const client = requestClient(c)

    const checks: [PolicyName, string][] = []
    if (settings.global !== 'off') checks.push(['global', client.key])
    // The auth policy: the gateway's credential routes, and proxied routes whose policy asks for `strict`.
    const strict = AUTH_LIMITED_PATHS.has(normalizedPath(c)) || c.get('route')?.policy.rateLimit === 'strict'
    if (settings.auth !== 'off' && strict) checks.push(['auth', client.key])
    // A client refused from memory costs no token verification either.
    const refusedIp = remembered(checks, nowMs)
    if (refusedIp.length > 0) refuse(c, client, refusedIp, refusedIp, nowMs)

    // A bearer token is verified here (no I/O), so the user policy and the token's revocation are decided with the
    // IP checks; authenticate() then reuses both. A user refused from memory costs no Upstash call either. A route
    // that takes no token leaves it alone; one that ends sessions decides its revocation but not its user's quota.
    const { path } = c.req
    const claims = TOKENLESS_PATHS.has(path) ? undefined : await prefetchClaims(c)
    if (claims !== undefined && settings.user !== 'off' && !endsSessions(c.req.method, path)) {
      const refusedUser = remembered([['user', userIdentity(claims)]], nowMs)
      if (refusedUser.length > 0) refuse(c, client, refusedUser, refusedUser, nowMs)
      checks.push(['user', userIdentity(claims)])
    }
    const decisions: PolicyDecision[] = []
    c.set('limitAlso', async (policy, identity) => {
      if (settings[policy] === 'off') return
      const later = Date.now()
      const refused = remembered([[policy, identity]], later)
      if (refused.length > 0) refuse(c, client, [...decisions, ...refused], refused, later)
      const decided = await engine.admit([{ policy, identity }], undefined, later)
      remember([[policy, identity]], decided.decisions, later)
      decisions.push(...decided.decisions.map((d) => ({ ...d, hidden: true })))
      const denied = decided.decisions.filter((d) => !d.success)
      if (denied.length > 0) refuse(c, client, decisions, denied, later)
    })
    if (checks.length > 0 || claims !== undefined) {
      const asked = checks.map(([policy, identity]) => ({ policy, identity }))
      const admission = await engine.admit(asked, claims, nowMs)
      if (admission.revocation !== undefined) settleRevocation(c, admission.revocation)
      // A revoked token's user was not counted, and is not shown either: its 401 must look like any other bad
      // token's, and its holder must not read how busy the owner's other sessions are.
      const revoked = admission.revocation?.status === 'revoked'
      for (const d of admission.decisions) decisions.push(revoked && d.policy === 'user' ? { ...d, hidden: true } : d)
      remember(checks, admission.decisions, nowMs)
    }

    // Every request the in-isolate fallback decided is one data point, admitted or not (the log has transitions only).
    if (decisions.some((d) => d.degraded)) {
      const outcome = decisions.some((d) => !d.success) ? 'denied' : 'allowed'
      const policies = decisions.filter((d) => d.degraded).map((d) => d.policy)
      recordEvent(c, { event: 'rate_limit_degraded', outcome, policies })
    }
    const unavailable = decisions.filter((d) => d.unavailable)
    if (unavailable.length > 0) {
      logRequest(c, { event: 'rate_limit_unavailable', level: 'error', policies: unavailable.map((d) => d.policy) })
      throw new GatewayError('rate_limit_unavailable', {
        retryAfterSeconds: Math.max(1, Math.ceil(settings.breaker.cooldownMs / 1_000)),
      })
    }
    const denied = decisions.filter((d) => !d.success)
    if (denied.length > 0) refuse(c, client, decisions, denied, nowMs)
    return { decisions, nowMs }
  }

  return {
    enter: decide,
    leave(c, decided) {
      if (decided === undefined) return
      const fields = Object.entries(rateLimitHeaders(decided.decisions, decided.nowMs))
      if (fields.length === 0) return
      const { headers } = c.res
      for (const [name, value] of fields) headers.set(name, value)
    },
  }
}

/**
 * The 429 for `denied` among `decisions`, the same whether the decisions are Upstash's or remembered ones (whose
 * headers then cover only the remembered policies, since the others were not asked).
 */
function refuse(
  c: Context<AppEnv>,
  client: ClientIdentity,
  decisions: PolicyDecision[],
  denied: PolicyDecision[],
  nowMs: number,
): never {
  const retryAfterSeconds = Math.max(1, ...denied.map((d) => Math.ceil((d.resetMs - nowMs) / 1_000)))
  const throttleKey = `${denied.map((d) => d.policy).join(',')}:${client.key}`
  const logged = limitLogs.admit(throttleKey, nowMs)
  const policies = denied.map((d) => d.policy)
  if (logged) {
    logRequest(c, {
      event: 'excess_rate_limit_exceeded',
      level: 'warn',
      policies,
      degraded: denied.some((d) => d.degraded),
      client_kind: client.kind,
      suppressed: logged.suppressed,
    })
  } else {
    // The log is throttled per client; the fleet-wide count is not.
    recordEvent(c, { event: 'excess_rate_limit_exceeded', policies })
  }
  throw new GatewayError('rate_limited', {
    retryAfterSeconds,
    headers: rateLimitHeaders(decisions, nowMs),
    extensions: { 'violated-policies': denied.map((d) => d.policy) },
  })
}

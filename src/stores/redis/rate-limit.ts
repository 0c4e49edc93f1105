/**
 * The rate-limit engine of an isolate: one @upstash/ratelimit limiter per policy, a circuit breaker in front of
 * Upstash and a bounded in-isolate fallback. The library's own timeout is off, because it resolves `success: true`
 * (a silent fail-open); a rejection, a client timeout or an open breaker count as "unavailable", and then the auth
 * policy fails closed while the others fall back (S-RL-7, R-BF-7 in docs/requirements.md).
 */
import { Ratelimit } from '@upstash/ratelimit'
import type { Config, RateLimitSpec } from '../../config/schema'
import { type CircuitBreaker, createCircuitBreaker } from '../../lib/breaker'
import { sha256Hex } from '../../lib/crypto'
import { RATE_LIMIT_POLICIES, type RateLimitPolicy } from '../../lib/rate-limit-policies'
import { log } from '../../observability/logger'
import { countRateLimitDecision, setDegradedMode } from '../../observability/metrics'
import { createFallbackLimiter } from '../../pipeline/rate-limit/fallback'
import { probeRedis } from './client'
import { exactSlidingWindow } from './exact-window'
import type { UpstashRest as Redis } from './rest'

export type PolicyName = RateLimitPolicy

/** Redis key prefixes, one per policy (src/stores/STORAGE.md). */
export const RATE_LIMIT_PREFIXES: Record<PolicyName, string> = { global: 'rl:global', auth: 'rl:auth', user: 'rl:user' }

export interface PolicyDecision {
  policy: PolicyName
  spec: RateLimitSpec
  success: boolean
  remaining: number
  /** Epoch ms when more quota is available. */
  resetMs: number
  /** Decided without Upstash (fallback or fail-closed): its numbers are never sent in headers. */
  degraded: boolean
  /** The policy could not be checked and fails closed. */
  unavailable: boolean
}

export interface RateLimitEngine {
  decide(policy: PolicyName, identity: string, nowMs: number): Promise<PolicyDecision>
}

/**
 * The isolate's one breaker for Upstash, shared by the rate limits and the revocation check: once Upstash has
 * failed `failureThreshold` times in a row (timeouts included), every check fails fast for `cooldownMs` with its
 * documented fallback (auth limit closed, global/user degraded, revocation per REVOCATION_FAILURE_MODE) instead of
 * each waiting for the Upstash timeout; then one call probes.
 */
export function createUpstashBreaker(settings: Config['rateLimit']['breaker']): CircuitBreaker {
  return createCircuitBreaker({
    failureThreshold: settings.failureThreshold,
    cooldownMs: settings.cooldownMs,
    onTransition(from, to) {
      if (to === 'open' && from === 'closed') {
        setDegradedMode(true)
        log({ event: 'degraded_mode_entered', level: 'error', breaker: to })
      } else if (to === 'closed') {
        setDegradedMode(false)
        log({ event: 'degraded_mode_exited', level: 'info', breaker: to })
      }
    },
  })
}

/**
 * The rate-limit decisions of an isolate: a limiter per policy on `redis`, one breaker for them, and the bounded
 * in-isolate fallback while it is open. The gateway builds one per isolate (`createGateway`).
 */
export function createRateLimitEngine(
  config: Config,
  redis: Redis,
  breaker: CircuitBreaker = createUpstashBreaker(config.rateLimit.breaker),
): RateLimitEngine {
  const settings = config.rateLimit
  const limiters = new Map<PolicyName, { spec: RateLimitSpec; limiter: Ratelimit }>()
  for (const policy of RATE_LIMIT_POLICIES) {
    const spec = settings[policy]
    if (spec === 'off') continue
    const windowMs = spec.windowSeconds * 1_000
    limiters.set(policy, {
      spec,
      limiter: new Ratelimit({
        redis,
        prefix: RATE_LIMIT_PREFIXES[policy],
        // The auth policy must never admit more than N in any window: an exact sliding log. The others use the
        // library's sliding window (two counters, approximate, cheaper).
        limiter:
          policy === 'auth'
            ? exactSlidingWindow(spec.limit, windowMs)
            : Ratelimit.slidingWindow(spec.limit, `${spec.windowSeconds} s`),
        ephemeralCache: new Map(),
        timeout: 0,
        analytics: false,
      }),
    })
  }
  const fallback = createFallbackLimiter({})

  return {
    async decide(policy, identity, nowMs) {
      const entry = limiters.get(policy)
      if (entry === undefined) throw new TypeError(`rate-limit policy ${policy} is off`)
      const { spec, limiter } = entry
      const key = (await sha256Hex(identity)).slice(0, 32)
      const attempt = breaker.attempt(nowMs)
      // While another decision holds the breaker's single probe, the fail-closed auth policy asks Upstash too
      // instead of refusing a login Upstash can probably answer; its outcome counts as the probe's result.
      const ask = attempt !== 'skip' || (policy === 'auth' && breaker.state() === 'half-open')
      if (ask) {
        try {
          const result = await limiter.limit(key)
          if (result.reason !== 'timeout') {
            if (result.reason !== 'cacheBlock') breaker.success(Date.now())
            // A probe answered from the ephemeral cache told us nothing about Upstash: ask it directly.
            else if (attempt === 'probe') {
              const probe = await probeRedis(redis)
              if (probe.ok) breaker.success(Date.now())
              else breaker.failure(Date.now())
            }
            countRateLimitDecision(policy, result.success ? 'allowed' : 'limited')
            return {
              policy,
              spec,
              success: result.success,
              remaining: Math.max(0, result.remaining),
              resetMs: result.reset,
              degraded: false,
              unavailable: false,
            }
          }
          breaker.failure(Date.now())
        } catch {
          breaker.failure(Date.now())
        }
      }
      return degradedDecision(policy, spec, key, nowMs)
    },
  }

  function degradedDecision(policy: PolicyName, spec: RateLimitSpec, key: string, nowMs: number): PolicyDecision {
    const windowMs = spec.windowSeconds * 1_000
    if (policy === 'auth') {
      countRateLimitDecision(policy, 'degraded_limited')
      return {
        policy,
        spec,
        success: false,
        remaining: 0,
        resetMs: nowMs + settings.breaker.cooldownMs,
        degraded: true,
        unavailable: true,
      }
    }
    const tokens = Math.max(1, Math.floor(spec.limit * settings.degradedFraction))
    const local = fallback.limit(`${policy}:${key}`, tokens, windowMs, nowMs)
    countRateLimitDecision(policy, local.success ? 'degraded_allowed' : 'degraded_limited')
    return {
      policy,
      spec,
      success: local.success,
      remaining: local.remaining,
      resetMs: local.resetMs,
      degraded: true,
      unavailable: false,
    }
  }
}

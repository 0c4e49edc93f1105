/**
 * The rate-limit engine of an isolate: the admission store (one Upstash call deciding every policy and the
 * revocation of a request), a circuit breaker in front of it and a bounded in-isolate fallback. A rejection, a
 * client timeout or an open breaker count as "unavailable": the auth policy then fails closed while the others fall
 * back (S-RL-7, R-BF-7 in docs/requirements.md), and the revocation is `unavailable` (the caller applies
 * REVOCATION_FAILURE_MODE).
 */
import type { Config, RateLimitSpec } from '../../config/schema'
import { boundedMemo } from '../../lib/bounded-memo'
import { type CircuitBreaker, createCircuitBreaker } from '../../lib/breaker'
import { sha256Hex } from '../../lib/crypto'
import type { RateLimitPolicy } from '../../lib/rate-limit-policies'
import { log } from '../../observability/logger'
import { countRateLimitDecision, observeUpstash, setDegradedMode } from '../../observability/metrics'
import type { AdmissionStore, RevocationStatus, RevocationSubject } from '../../stores/types'
import { createFallbackLimiter } from './fallback'

export type PolicyName = RateLimitPolicy

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
  /** Left out of the RateLimit headers: its numbers would tell the client more than it should know. */
  hidden?: boolean
}

/** One policy to check for one identity (a client key or a user), as the caller knows them. */
export interface RateLimitCheck {
  policy: PolicyName
  identity: string
}

export interface AdmissionDecision {
  /** One decision per check, in order. */
  decisions: PolicyDecision[]
  /** Present when a subject was given. */
  revocation?: RevocationStatus
}

export interface RateLimitEngine {
  /**
   * Decides `checks` and, when a subject is given, its revocation, in one call to the admission store. The request
   * is counted against every policy only if all of them admit it (a revoked token's request counts against the IP
   * policies only). Never rejects: what Upstash cannot decide is decided by the fallback or fails closed.
   */
  admit(checks: RateLimitCheck[], subject: RevocationSubject | undefined, nowMs: number): Promise<AdmissionDecision>
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
 * Identities are stored as hashes: a dump of Redis names no address and no user. The same clients and users come
 * back request after request, so an isolate hashes each once (up to 10,000 remembered, about 1 MB).
 */
const identifier = boundedMemo(10_000, async (identity) => (await sha256Hex(identity)).slice(0, 32))

/**
 * The rate-limit decisions of an isolate on `store`, one breaker for them, and the bounded in-isolate fallback
 * while it is open. The gateway builds one per isolate (`createGateway`).
 */
export function createRateLimitEngine(
  config: Config,
  store: AdmissionStore,
  breaker: CircuitBreaker = createUpstashBreaker(config.rateLimit.breaker),
): RateLimitEngine {
  const settings = config.rateLimit
  const fallback = createFallbackLimiter({})
  const specOf = (policy: PolicyName): RateLimitSpec => {
    const spec = settings[policy]
    if (spec === 'off') throw new TypeError(`rate-limit policy ${policy} is off`)
    return spec
  }

  return {
    async admit(checks, subject, nowMs) {
      const specs = checks.map(({ policy }) => specOf(policy))
      const identifiers = await Promise.all(checks.map(({ identity }) => identifier(identity)))
      const attempt = breaker.attempt(nowMs)
      // While another request holds the breaker's single probe, a request under the fail-closed auth policy asks
      // Upstash too instead of refusing a login Upstash can probably answer; its outcome counts as a probe's.
      const ask = attempt !== 'skip' || (checks.some((c) => c.policy === 'auth') && breaker.state() === 'half-open')
      // The store's own error, kept as thrown (even `undefined`). The breaker-open Error is made below, only when
      // Upstash was not asked: an Error captures a stack trace, which a request that Upstash answers would pay for
      // nothing (measured at about 1 % of an authenticated request's CPU).
      let failure: { cause: unknown } | undefined
      if (ask) {
        const started = performance.now()
        try {
          const limits = checks.map(({ policy }, i) => ({
            policy,
            identifier: identifiers[i] as string,
            limit: (specs[i] as RateLimitSpec).limit,
            windowSeconds: (specs[i] as RateLimitSpec).windowSeconds,
          }))
          const admission = await store.admit({ limits, revocation: subject }, nowMs)
          breaker.success(Date.now())
          const decisions = admission.limits.map((outcome, i): PolicyDecision => {
            const policy = (checks[i] as RateLimitCheck).policy
            countRateLimitDecision(policy, outcome.success ? 'allowed' : 'limited')
            return { policy, spec: specs[i] as RateLimitSpec, ...outcome, degraded: false, unavailable: false }
          })
          return { decisions, revocation: admission.revocation }
        } catch (error) {
          breaker.failure(Date.now())
          failure = { cause: error }
        } finally {
          observeUpstash(performance.now() - started, 'admission')
        }
      }
      const decisions = checks.map(({ policy }, i) =>
        degradedDecision(policy, specs[i] as RateLimitSpec, identifiers[i] as string, nowMs),
      )
      if (subject === undefined) return { decisions }
      const cause = failure === undefined ? new Error('Upstash circuit breaker open: not checked') : failure.cause
      return { decisions, revocation: { status: 'unavailable', cause } }
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

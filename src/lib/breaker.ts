/**
 * A per-isolate circuit breaker: after `failureThreshold` consecutive failures, stop waiting on a dead dependency
 * for `cooldownMs`, then let a probe through. The caller asks `attempt()`, does (or skips) the call, and reports.
 * With `minSources` above 1 (the proxy, keyed by client identity), failures count only once they come from that
 * many distinct sources, so no single client can open it for everyone, or keep it open by winning the probe.
 */

export type BreakerState = 'closed' | 'open' | 'half-open'

/** 'call': closed, go ahead. 'probe': you are a half-open trial, report its outcome. 'skip': do not call. */
export type BreakerAttempt = 'call' | 'probe' | 'skip'

export interface CircuitBreakerOptions {
  /** Consecutive failures (while closed) that open the breaker; a positive integer. */
  failureThreshold: number
  /** How long the breaker stays open before a probe, and how long a probe may stay unanswered, in ms. */
  cooldownMs: number
  /**
   * Distinct sources among the failures needed to open (capped at `failureThreshold`), and the number of probes
   * from distinct sources that must fail to re-open from half-open. @default 1
   */
  minSources?: number
  /** Called once per state change, after the state has changed. */
  onTransition?: (from: BreakerState, to: BreakerState) => void
}

export interface CircuitBreaker {
  /** `source`: who is asking (a client identity); omitted, every caller is one source. */
  attempt(nowMs: number, source?: string): BreakerAttempt
  success(nowMs: number): void
  failure(nowMs: number, source?: string): void
  state(): BreakerState
}

/**
 * closed --threshold consecutive failures from minSources sources--> open --cooldown passed--> half-open
 * half-open: up to minSources probes, one per source --any success--> closed; --failures from minSources
 * sources, or a probe unanswered for cooldownMs--> open (a new cooldown).
 *
 * Outcomes reported while open are ignored: they come from calls started before the breaker opened (or from a
 * probe already given up on) and must neither close it early nor extend the cooldown. While half-open, any
 * reported outcome counts as a probe's: a late success from an older call is still proof the dependency answers.
 *
 * @example
 * const breaker = createCircuitBreaker({ failureThreshold: 5, cooldownMs: 10_000 })
 * if (breaker.attempt(Date.now()) !== 'skip') {
 *   try { await call(); breaker.success(Date.now()) } catch { breaker.failure(Date.now()) }
 * }
 */
export function createCircuitBreaker({
  failureThreshold,
  cooldownMs,
  minSources = 1,
  onTransition,
}: CircuitBreakerOptions): CircuitBreaker {
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    throw new TypeError(`circuit breaker: failureThreshold must be a positive integer, got ${failureThreshold}`)
  }
  if (!Number.isFinite(cooldownMs) || cooldownMs <= 0) {
    throw new TypeError(`circuit breaker: cooldownMs must be a positive number of milliseconds, got ${cooldownMs}`)
  }
  if (!Number.isSafeInteger(minSources) || minSources < 1) {
    throw new TypeError(`circuit breaker: minSources must be a positive integer, got ${minSources}`)
  }
  const sourcesNeeded = Math.min(minSources, failureThreshold)

  let current: BreakerState = 'closed'
  let consecutiveFailures = 0
  /** closed: the sources of the current run of failures. half-open: the sources whose probe failed. */
  let failedSources = new Set<string>()
  /** half-open: the sources holding a probe, and when each was handed out. */
  let probes = new Map<string, number>()
  /** When it opened (open state). */
  let since = 0

  function moveTo(to: BreakerState, nowMs: number) {
    const from = current
    current = to
    since = nowMs
    consecutiveFailures = 0
    failedSources = new Set()
    probes = new Map()
    onTransition?.(from, to)
  }

  /** Half-open: a probe unanswered for a cooldown counts as failed, so a hung request cannot wedge the state. */
  function expireProbes(nowMs: number) {
    for (const [source, handedOut] of probes) {
      if (nowMs - handedOut >= cooldownMs) {
        probes.delete(source)
        failedSources.add(source)
      }
    }
    if (failedSources.size >= sourcesNeeded) moveTo('open', nowMs)
  }

  return {
    attempt(nowMs, source = '') {
      if (current === 'open') {
        if (nowMs - since < cooldownMs) return 'skip'
        moveTo('half-open', nowMs)
      }
      if (current === 'closed') return 'call'
      expireProbes(nowMs)
      if ((current as BreakerState) === 'open') return 'skip'
      if (probes.has(source) || failedSources.has(source) || probes.size + failedSources.size >= sourcesNeeded) {
        return 'skip'
      }
      probes.set(source, nowMs)
      return 'probe'
    },

    success(nowMs) {
      if (current === 'closed') {
        consecutiveFailures = 0
        failedSources = new Set()
      } else if (current === 'half-open') moveTo('closed', nowMs)
    },

    failure(nowMs, source = '') {
      if (current === 'closed') {
        consecutiveFailures++
        failedSources.add(source)
        if (consecutiveFailures >= failureThreshold && failedSources.size >= sourcesNeeded) moveTo('open', nowMs)
      } else if (current === 'half-open') {
        probes.delete(source)
        failedSources.add(source)
        if (failedSources.size >= sourcesNeeded) moveTo('open', nowMs)
      }
    },

    state() {
      return current
    },
  }
}

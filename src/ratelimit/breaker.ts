/**
 * A per-isolate circuit breaker for Upstash: after `failureThreshold` consecutive failures, stop waiting on a dead
 * Upstash for `cooldownMs`, then let exactly one probe through. Pure apart from its own state; the clock is passed
 * in. It does not call anything itself: the caller asks `attempt()`, does (or skips) the call, and reports.
 */

export type BreakerState = 'closed' | 'open' | 'half-open'

/** 'call': closed, go ahead. 'probe': you are the single half-open trial, report its outcome. 'skip': do not call. */
export type BreakerAttempt = 'call' | 'probe' | 'skip'

export interface CircuitBreakerOptions {
  /** Consecutive failures (while closed) that open the breaker; a positive integer. */
  failureThreshold: number
  /** How long the breaker stays open before a probe, and how long a probe may stay unanswered, in ms. */
  cooldownMs: number
  /** Called once per state change, after the state has changed. */
  onTransition?: (from: BreakerState, to: BreakerState) => void
}

export interface CircuitBreaker {
  attempt(nowMs: number): BreakerAttempt
  success(nowMs: number): void
  failure(nowMs: number): void
  state(): BreakerState
}

/**
 * closed --threshold consecutive failures--> open --cooldown passed, first attempt()--> half-open (one probe)
 * half-open --success--> closed; --failure, or no outcome within cooldownMs--> open (a new cooldown).
 *
 * Outcomes reported while open are ignored: they come from calls started before the breaker opened (or from a
 * probe already given up on) and must neither close it early nor extend the cooldown. While half-open, any
 * reported outcome counts as the probe's: a late success from an older call is still proof that Upstash answers.
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
  onTransition,
}: CircuitBreakerOptions): CircuitBreaker {
  if (!Number.isSafeInteger(failureThreshold) || failureThreshold < 1) {
    throw new TypeError(`circuit breaker: failureThreshold must be a positive integer, got ${failureThreshold}`)
  }
  if (!Number.isFinite(cooldownMs) || cooldownMs <= 0) {
    throw new TypeError(`circuit breaker: cooldownMs must be a positive number of milliseconds, got ${cooldownMs}`)
  }

  let current: BreakerState = 'closed'
  let consecutiveFailures = 0
  /** open: when it opened. half-open: when the probe was handed out. */
  let since = 0

  function moveTo(to: BreakerState, nowMs: number) {
    const from = current
    current = to
    since = nowMs
    consecutiveFailures = 0
    onTransition?.(from, to)
  }

  return {
    attempt(nowMs) {
      switch (current) {
        case 'closed':
          return 'call'
        case 'open':
          if (nowMs - since < cooldownMs) return 'skip'
          moveTo('half-open', nowMs)
          return 'probe'
        case 'half-open':
          // A probe that never reported (a hung request, a forgotten branch) counts as failed, so it cannot
          // wedge the breaker half-open: open again, and the next probe comes one cooldown later.
          if (nowMs - since >= cooldownMs) moveTo('open', nowMs)
          return 'skip'
      }
    },

    success(nowMs) {
      if (current === 'closed') consecutiveFailures = 0
      else if (current === 'half-open') moveTo('closed', nowMs)
    },

    failure(nowMs) {
      if (current === 'closed') {
        consecutiveFailures++
        if (consecutiveFailures >= failureThreshold) moveTo('open', nowMs)
      } else if (current === 'half-open') {
        moveTo('open', nowMs)
      }
    },

    state() {
      return current
    },
  }
}

/**
 * Account lockout in memory, step for step the Redis scripts: `begin` checks both locks and reserves the attempt
 * in one synchronous step (so parallel logins cannot all pass the check), the consecutive counter lives
 * `lockSeconds` after the last counted attempt, the hourly one an hour from its first failure, and a refused
 * attempt counts nothing and extends nothing. Counters are keyed by the identifier as given: this store is never
 * dumped, so it needs no HMAC. For tests and single-isolate development: nothing is shared between isolates.
 */
import type { LockoutPolicy } from '../redis/lockout'
import type { LockoutDecision, LockoutStatus, LockoutStore } from '../types'
import { createExpiringMap, type ExpiringMap } from './expiring-map'

const HOUR_MS = 3_600_000

export interface MemoryLockoutOptions {
  /** Epoch milliseconds; tests pass a clock they move by hand. */
  clock?: () => number
}

/** Decrements a counter without going below zero or touching its expiry, like the scripts' guarded DECR. */
function giveBack(counters: ExpiringMap<number>, identifier: string, now: number): void {
  const count = counters.get(identifier, now)
  const expiresAt = counters.expiresAt(identifier, now)
  if (count !== undefined && expiresAt !== undefined && count > 0) counters.set(identifier, count - 1, expiresAt, now)
}

/**
 * @example
 * const lockout = createMemoryLockoutStore({ threshold: 5, lockSeconds: 900, hourlyCeiling: 100 })
 * const decision = await lockout.begin('alice@example.com')
 */
export function createMemoryLockoutStore(policy: LockoutPolicy, options: MemoryLockoutOptions = {}): LockoutStore {
  const clock = options.clock ?? Date.now
  const lockMs = policy.lockSeconds * 1_000
  const consecutive = createExpiringMap<number>()
  const hourly = createExpiringMap<number>()

  const locked = (expiresAt: number | undefined, now: number, by: 'consecutive_failures' | 'hourly_ceiling') =>
    ({
      status: 'locked',
      retryAfterSeconds: Math.max(1, Math.ceil(((expiresAt ?? now) - now) / 1_000)),
      by,
    }) satisfies LockoutDecision

  /** The refusal `begin` would answer now, or undefined when the identifier may try. */
  const lockOf = (identifier: string, now: number) => {
    if ((consecutive.get(identifier, now) ?? 0) >= policy.threshold)
      return locked(consecutive.expiresAt(identifier, now), now, 'consecutive_failures')
    if ((hourly.get(identifier, now) ?? 0) >= policy.hourlyCeiling)
      return locked(hourly.expiresAt(identifier, now), now, 'hourly_ceiling')
    return undefined
  }

  return {
    async begin(identifier): Promise<LockoutDecision> {
      const now = clock()
      const refusal = lockOf(identifier, now)
      if (refusal !== undefined) return refusal
      const failures = consecutive.get(identifier, now) ?? 0
      const hour = hourly.get(identifier, now) ?? 0
      consecutive.set(identifier, failures + 1, now + lockMs, now)
      // The hour starts at the first failure and is not renewed by later ones.
      hourly.set(identifier, hour + 1, hour === 0 ? now + HOUR_MS : (hourly.expiresAt(identifier, now) ?? now), now)
      return { status: 'allowed', failures: failures + 1, lastAttempt: failures + 1 >= policy.threshold }
    },

    async succeeded(identifier) {
      const now = clock()
      consecutive.delete(identifier)
      giveBack(hourly, identifier, now)
    },

    async release(identifier) {
      const now = clock()
      giveBack(consecutive, identifier, now)
      giveBack(hourly, identifier, now)
    },

    async status(identifier): Promise<LockoutStatus> {
      const now = clock()
      const refusal = lockOf(identifier, now)
      if (refusal === undefined) return { locked: false, failures: consecutive.get(identifier, now) ?? 0 }
      return { locked: true, retryAfterSeconds: refusal.retryAfterSeconds, by: refusal.by }
    },

    async unlock(identifier) {
      consecutive.delete(identifier)
      hourly.delete(identifier)
    },
  }
}

/**
 * Rate limits in memory: an exact sliding log for every policy, decided on the caller's `nowMs`. At most `limit`
 * admissions in any window, refusals not counted, `resetMs` when the oldest admission leaves (admitted) or when
 * one more would fit (refused): the semantics of the Redis `auth` policy. The Redis `global` and `user` policies
 * are the library's sliding window, an approximation that can admit a little more across a bucket boundary and
 * may need up to two windows to forget a burst; this store is stricter than both, never looser.
 *
 * Memory: at most `limit` timestamps per key, and a key expires with its newest admission, as the Redis sorted set
 * does, so keys nobody uses are dropped. For tests and single-isolate development: nothing is shared between
 * isolates (the degraded-mode limiter in src/pipeline/rate-limit/fallback.ts is the bounded in-isolate one).
 */
import type { RateLimitStore } from '../types'
import { createExpiringMap } from './expiring-map'

/** @example const limits = createMemoryRateLimitStore() */
export function createMemoryRateLimitStore(): RateLimitStore {
  /** `<policy>:<identifier>` → admission times, ascending, epoch ms. */
  const logs = createExpiringMap<number[]>()

  return {
    async limit(policy, identifier, { limit, windowSeconds }, nowMs) {
      if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer: ${limit}`)
      if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
        throw new RangeError(`windowSeconds must be a positive integer: ${windowSeconds}`)
      }
      const windowMs = windowSeconds * 1_000
      const key = `${policy}:${identifier}`
      // An admission at t counts while now < t + window, as the Redis log drops scores <= now − window.
      const log = (logs.get(key, nowMs) ?? []).filter((at) => at > nowMs - windowMs)
      const success = log.length < limit
      if (success) {
        // A clock that steps back must not reorder the log: record no earlier than the newest entry.
        log.push(Math.max(nowMs, log.at(-1) ?? nowMs))
      }
      if (log.length > 0) logs.set(key, log, (log.at(-1) as number) + windowMs, nowMs)
      else logs.delete(key)
      // Refused: one more fits once the (length − limit + 1)-th oldest admission leaves.
      const next = success ? log[0] : log[log.length - limit]
      return { success, remaining: Math.max(0, limit - log.length), resetMs: (next ?? nowMs) + windowMs }
    },
  }
}

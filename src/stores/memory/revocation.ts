/**
 * Token revocation in memory, with the Redis store's lifetimes: a token entry lives its remaining lifetime plus
 * skew (at least 1 s), session and user entries the longest access-token lifetime plus skew, and the user cutoff
 * only ever moves forward. Lifetimes run on this store's clock, as Redis TTLs run on Redis's: `nowSeconds` given to
 * `revoke` only sizes the entry. For tests and single-isolate development: nothing is shared between isolates.
 */
import type { RevocationTimings } from '../redis/revocation'
import type { RevocationStore } from '../types'
import { createExpiringMap } from './expiring-map'

export interface MemoryRevocationOptions extends RevocationTimings {
  /** Epoch milliseconds; tests pass a clock they move by hand. */
  clock?: () => number
}

/**
 * @example const revocation = createMemoryRevocationStore({ clockSkewSeconds: 60, accessTtlSeconds: 900 })
 */
export function createMemoryRevocationStore(options: MemoryRevocationOptions): RevocationStore {
  const clock = options.clock ?? Date.now
  const boundedTtlMs = (options.accessTtlSeconds + options.clockSkewSeconds) * 1_000
  const tokens = createExpiringMap<true>()
  const sessions = createExpiringMap<true>()
  /** sub → cutoff, epoch seconds. */
  const users = createExpiringMap<number>()

  const revokeSession = (sid: string, now: number) => sessions.set(sid, true, now + boundedTtlMs, now)

  return {
    async check(subject) {
      const now = clock()
      if (tokens.get(subject.jti, now) !== undefined) return { status: 'revoked', scope: 'token' }
      if (sessions.get(subject.sid, now) !== undefined) return { status: 'revoked', scope: 'session' }
      const cutoff = users.get(subject.sub, now)
      if (cutoff !== undefined && subject.iat < cutoff) return { status: 'revoked', scope: 'user' }
      return { status: 'ok' }
    },

    async revoke(entry, nowSeconds) {
      const now = clock()
      const ttlSeconds = Math.max(1, entry.exp - nowSeconds + options.clockSkewSeconds)
      tokens.set(entry.jti, true, now + ttlSeconds * 1_000, now)
      if (entry.sid !== undefined) revokeSession(entry.sid, now)
    },

    async revokeSession(sid) {
      revokeSession(sid, clock())
    },

    async revokeUserBefore(sub, cutoffSeconds) {
      // Like the Redis script: keep the later cutoff, and renew the entry's lifetime either way.
      const now = clock()
      const cutoff = Math.max(users.get(sub, now) ?? 0, cutoffSeconds)
      users.set(sub, cutoff, now + boundedTtlMs, now)
    },
  }
}

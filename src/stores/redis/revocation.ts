/**
 * Token revocation in Upstash, so a logout through one isolate holds on every other at once (S-BL-5 in
 * docs/requirements.md). Keys are SHA-256 hashes of token, session and user ids, never the raw values (S-BL-2,
 * R-JWT-8), and every entry has a TTL, so Redis memory stays bounded. Layout: src/stores/STORAGE.md. A check is the
 * admission script with no limits (requests that are rate limited get it with their limits), sent with EVALSHA,
 * which Upstash runs on the primary: a check never reads a replica that has not seen a revocation yet.
 */

import type { CircuitBreaker } from '../../lib/breaker'
import { observeUpstash } from '../../observability/metrics'
import type { RevocationStore, RevocationSubject } from '../types'
import { createRedisAdmissionStore } from './admission'
import { revocationKey } from './keys'
import type { UpstashRest as Redis } from './rest'

export { REVOCATION_KEY_PREFIX, revocationKey } from './keys'

export interface RevocationTimings {
  /** Tolerated clock skew, seconds: added to every TTL. */
  clockSkewSeconds: number
  /** The longest access-token lifetime, seconds: bounds session and user entries. */
  accessTtlSeconds: number
}

/** SET key to ARGV[1] unless it already holds a later cutoff; either way the entry lives ARGV[2] more seconds. */
const RAISE_CUTOFF_SCRIPT = `local current = tonumber(redis.call('GET', KEYS[1]) or '0')
local cutoff = math.max(current, tonumber(ARGV[1]))
redis.call('SET', KEYS[1], cutoff, 'EX', ARGV[2])
return cutoff`

export function createRedisRevocationStore(
  redis: Pick<Redis, 'evalsha' | 'pipeline' | 'eval' | 'set'>,
  timings: RevocationTimings,
): RevocationStore {
  const boundedTtl = timings.accessTtlSeconds + timings.clockSkewSeconds
  const admission = createRedisAdmissionStore(redis)
  return {
    async check(subject: RevocationSubject) {
      const started = performance.now()
      try {
        const { revocation } = await admission.admit({ limits: [], revocation: subject }, Date.now())
        return revocation ?? { status: 'unavailable', cause: new Error('admission answered no revocation') }
      } catch (cause) {
        return { status: 'unavailable', cause }
      } finally {
        observeUpstash(performance.now() - started, 'revocation_check')
      }
    },

    async revoke(entry, nowSeconds) {
      const pipeline = redis.pipeline()
      const ttl = Math.max(1, entry.exp - nowSeconds + timings.clockSkewSeconds)
      pipeline.set(await revocationKey('jti', entry.jti), '1', { ex: ttl })
      if (entry.sid !== undefined) pipeline.set(await revocationKey('sid', entry.sid), '1', { ex: boundedTtl })
      await pipeline.exec()
    },

    async revokeSession(sid) {
      await redis.set(await revocationKey('sid', sid), '1', { ex: boundedTtl })
    },

    async revokeUserBefore(sub, cutoffSeconds) {
      // The cutoff only ever moves forward: two racing logout-alls must not leave the earlier one in place.
      await redis.eval(RAISE_CUTOFF_SCRIPT, [await revocationKey('sub', sub)], [cutoffSeconds, boundedTtl])
    },
  }
}

/**
 * `store` with its checks behind the isolate's Upstash breaker: while it is open a check answers `unavailable` at
 * once (the caller applies REVOCATION_FAILURE_MODE) instead of waiting for Upstash to time out; each real check
 * reports its outcome. Writes (logout) are left alone: they must be tried, and their caller answers 503 on failure.
 */
export function withUpstashBreaker(store: RevocationStore, breaker: CircuitBreaker): RevocationStore {
  return {
    ...store,
    async check(subject) {
      if (breaker.attempt(Date.now()) === 'skip') {
        return { status: 'unavailable', cause: new Error('Upstash circuit breaker open: revocation not checked') }
      }
      const result = await store.check(subject)
      if (result.status === 'unavailable') breaker.failure(Date.now())
      else breaker.success(Date.now())
      return result
    },
  }
}

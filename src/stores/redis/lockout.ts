/**
 * Account lockout in Upstash, counted per login identifier and not per IP, so a credential-stuffing run from many
 * addresses still locks the account (S-LO-1, S-LO-2, R-BF-1 in docs/requirements.md). Keys are an HMAC of the
 * identifier: unknown addresses count like known ones and a Redis dump names nobody. Layout:
 * src/stores/STORAGE.md.
 */
import { hmacSha256Hex } from '../../lib/crypto'
import type { LockoutDecision, LockoutStore } from '../types'
import type { UpstashRest } from './rest'

export const LOCKOUT_KEY_PREFIX = 'auth:fail'

export interface LockoutPolicy {
  /** Consecutive failures that lock the identifier (S-LO-2: 5 by default). */
  threshold: number
  /** How long a lock lasts after the last counted failure, seconds (S-LO-1: 900 by default). */
  lockSeconds: number
  /** Failed attempts allowed per identifier per hour, successes in between or not (R-BF-1: 100). */
  hourlyCeiling: number
}

/**
 * Reserves the attempt before the password is checked: it counts as a failure up front, in the same script that
 * checks the lock, and a success gives it back. Checking first and counting after the KDF would let N parallel
 * guesses all pass the check; reserving keeps the threshold exact under concurrency.
 * KEYS: consecutive counter, hourly counter. ARGV: threshold, lock ms, hourly ceiling, hour ms.
 * Returns {1, consecutive, hourly} for a reserved attempt, or {0, retry-after ms, 1|2} when locked by the
 * consecutive (1) or the hourly (2) counter.
 */
const BEGIN_SCRIPT = `local consecutive = tonumber(redis.call('GET', KEYS[1]) or '0')
local hourly = tonumber(redis.call('GET', KEYS[2]) or '0')
if consecutive >= tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]); ttl = tonumber(ARGV[2]) end
  return {0, ttl, 1}
end
if hourly >= tonumber(ARGV[3]) then
  local ttl = redis.call('PTTL', KEYS[2])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[4]); ttl = tonumber(ARGV[4]) end
  return {0, ttl, 2}
end
consecutive = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
hourly = redis.call('INCR', KEYS[2])
if hourly == 1 or redis.call('PTTL', KEYS[2]) < 0 then redis.call('PEXPIRE', KEYS[2], ARGV[4]) end
return {1, consecutive, hourly}`

/** A success: forget the consecutive failures (R-BF-2); the reserved hourly slot was not a failure, give it back. */
const SUCCEED_SCRIPT = `redis.call('DEL', KEYS[1])
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then redis.call('DECR', KEYS[2]) end
return 1`

/** The attempt was never decided (a D1 error): give both reservations back, never going below zero. */
const RELEASE_SCRIPT = `for i = 1, 2 do
  if tonumber(redis.call('GET', KEYS[i]) or '0') > 0 then redis.call('DECR', KEYS[i]) end
end
return 1`

/**
 * The lock as `begin` would see it, read without writing: {consecutive, its PTTL, hourly, its PTTL}. A key
 * without a TTL (PTTL -1) is one `begin` would give a full period on its next refusal.
 */
const STATUS_SCRIPT = `return {tonumber(redis.call('GET', KEYS[1]) or '0'), redis.call('PTTL', KEYS[1]),
  tonumber(redis.call('GET', KEYS[2]) or '0'), redis.call('PTTL', KEYS[2])}`

/** An administrator's unlock: both counters go, as if the identifier had never failed. */
const UNLOCK_SCRIPT = `redis.call('DEL', KEYS[1], KEYS[2])
return 1`

const HOUR_MS = 3_600_000

/** The two keys of an identifier: `auth:fail:<hmac>` (consecutive) and `auth:fail:h:<hmac>` (hourly). */
export async function lockoutKeys(keySecret: string, identifier: string): Promise<[string, string]> {
  const id = await hmacSha256Hex(keySecret, `lockout:${identifier}`)
  return [`${LOCKOUT_KEY_PREFIX}:${id}`, `${LOCKOUT_KEY_PREFIX}:h:${id}`]
}

/**
 * @param keySecret keys the HMAC that names the counters (the password pepper: never stored, so a Redis dump
 *   cannot be matched against a list of addresses).
 * @example
 * const lockout = createRedisLockoutStore(redis, { threshold: 5, lockSeconds: 900, hourlyCeiling: 100 }, pepper)
 * const decision = await lockout.begin('alice@example.com')
 */
export function createRedisLockoutStore(
  redis: Pick<UpstashRest, 'eval'>,
  policy: LockoutPolicy,
  keySecret: string,
): LockoutStore {
  const lockMs = policy.lockSeconds * 1_000
  return {
    async begin(identifier): Promise<LockoutDecision> {
      const keys = await lockoutKeys(keySecret, identifier)
      const [reserved, a, b] = await redis.eval<unknown[], [number, number, number]>(BEGIN_SCRIPT, keys, [
        policy.threshold,
        lockMs,
        policy.hourlyCeiling,
        HOUR_MS,
      ])
      if (reserved === 1) {
        return { status: 'allowed', failures: a, lastAttempt: a >= policy.threshold }
      }
      return {
        status: 'locked',
        retryAfterSeconds: Math.max(1, Math.ceil(a / 1_000)),
        by: b === 2 ? 'hourly_ceiling' : 'consecutive_failures',
      }
    },

    async succeeded(identifier) {
      await redis.eval(SUCCEED_SCRIPT, await lockoutKeys(keySecret, identifier), [])
    },

    async release(identifier) {
      await redis.eval(RELEASE_SCRIPT, await lockoutKeys(keySecret, identifier), [])
    },

    async status(identifier) {
      const keys = await lockoutKeys(keySecret, identifier)
      const [consecutive, consecutiveTtl, hourly, hourlyTtl] = await redis.eval<
        unknown[],
        [number, number, number, number]
      >(STATUS_SCRIPT, keys, [])
      const wait = (ttl: number, period: number) => Math.max(1, Math.ceil((ttl < 0 ? period : ttl) / 1_000))
      if (consecutive >= policy.threshold) {
        return { locked: true, retryAfterSeconds: wait(consecutiveTtl, lockMs), by: 'consecutive_failures' }
      }
      if (hourly >= policy.hourlyCeiling) {
        return { locked: true, retryAfterSeconds: wait(hourlyTtl, HOUR_MS), by: 'hourly_ceiling' }
      }
      return { locked: false, failures: consecutive }
    },

    async unlock(identifier) {
      await redis.eval(UNLOCK_SCRIPT, await lockoutKeys(keySecret, identifier), [])
    },
  }
}

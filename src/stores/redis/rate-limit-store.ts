/**
 * The rate-limit counting in Upstash, behind `RateLimitStore`: one @upstash/ratelimit limiter per policy and spec,
 * built as the engine in rate-limit.ts builds its own (same prefixes, so the same keys: src/stores/STORAGE.md).
 * `auth` is the exact sliding log of exact-window.ts; `global` and `user` are the library's sliding window, which
 * weighs the previous fixed bucket as if its requests were spread evenly, so it can admit a little more across a
 * bucket boundary and forgets a burst only after up to two windows.
 *
 * Time is not the caller's `nowMs`: the exact log reads Redis `TIME` and the library's window the worker's clock,
 * and `resetMs` is on that clock. Failures reject, never admit: the library's own timeout (which resolves
 * `success: true`) stays off, and the client's timeout makes a slow Upstash throw instead.
 */
import { Ratelimit } from '@upstash/ratelimit'
import type { RateLimitPolicy, RateLimitStore } from '../types'
import { exactSlidingWindow } from './exact-window'
import { RATE_LIMIT_PREFIXES } from './rate-limit'
import type { UpstashRest } from './rest'

export interface RedisRateLimitOptions {
  /**
   * Remember refused identifiers in this isolate until their reset and refuse them without a Redis request, as the
   * engine does. Off, every call asks Redis. @default true
   */
  ephemeralCache?: boolean
  /** Key prefixes per policy; tests pass fresh ones. @default RATE_LIMIT_PREFIXES */
  prefixes?: Record<RateLimitPolicy, string>
}

/**
 * @example
 * const limits = createRedisRateLimitStore(createRedis(config.redis))
 * const { success } = await limits.limit('auth', key, { limit: 5, windowSeconds: 900 }, Date.now())
 */
export function createRedisRateLimitStore(redis: UpstashRest, options: RedisRateLimitOptions = {}): RateLimitStore {
  const prefixes = options.prefixes ?? RATE_LIMIT_PREFIXES
  const limiters = new Map<string, Ratelimit>()

  const limiterFor = (policy: RateLimitPolicy, limit: number, windowSeconds: number): Ratelimit => {
    const name = `${policy}:${limit}:${windowSeconds}`
    let limiter = limiters.get(name)
    if (limiter === undefined) {
      limiter = new Ratelimit({
        redis,
        prefix: prefixes[policy],
        limiter:
          policy === 'auth'
            ? exactSlidingWindow(limit, windowSeconds * 1_000)
            : Ratelimit.slidingWindow(limit, `${windowSeconds} s`),
        ephemeralCache: options.ephemeralCache === false ? false : new Map(),
        timeout: 0,
        analytics: false,
      })
      limiters.set(name, limiter)
    }
    return limiter
  }

  return {
    async limit(policy, identifier, { limit, windowSeconds }) {
      if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError(`limit must be a positive integer: ${limit}`)
      if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
        throw new RangeError(`windowSeconds must be a positive integer: ${windowSeconds}`)
      }
      const result = await limiterFor(policy, limit, windowSeconds).limit(identifier)
      if (result.reason === 'timeout') throw new Error('rate limit: Upstash timed out')
      return { success: result.success, remaining: Math.max(0, result.remaining), resetMs: result.reset }
    },
  }
}

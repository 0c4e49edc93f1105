/**
 * An exact sliding-log limiter for `@upstash/ratelimit`: never more than `tokens` admissions in ANY interval of
 * length `window`. The library's `slidingWindow` assumes the previous bucket's requests were spread evenly, so
 * bursts at two bucket edges admit up to ~2× `tokens` inside one window. Time is Redis `TIME`, never the worker's
 * clock, so isolates with skewed clocks share one timeline. Storage: `EXACT_WINDOW_STORAGE` in src/stores/STORAGE.md.
 */
import type { Algorithm, RatelimitConfig } from '@upstash/ratelimit'
import { integers, type LuaScript, runScript, type ScriptRedis } from './script'

/** The single-region context the library hands to an algorithm (not exported by @upstash/ratelimit 2.2.0). */
export type RegionContext = Parameters<ReturnType<RatelimitConfig['limiter']>['limit']>[0]
type RatelimitResponse = Awaited<ReturnType<ReturnType<RatelimitConfig['limiter']>['limit']>>

/** A window as `'15 m'` (seconds, minutes or hours) or as milliseconds. */
export type ExactWindow = `${number} ${'s' | 'm' | 'h'}` | number

/**
 * The admission script. KEYS[1]: the sorted set. ARGV: tokens, window ms, rate (integer), a unique member id.
 *
 * 1. `now` = Redis TIME in epoch ms; drop entries with score <= now − window (they have left the window).
 * 2. rate > 0: admit iff used + rate <= tokens; then ZADD `rate` members `<id>:<i>` at score `now` and
 *    PEXPIRE the key `window` ms (the newest entry is the last to leave, so the key dies with it).
 *    rate < 0: a refund; ZPOPMAX removes the |rate| newest entries. rate = 0: a peek, nothing written.
 * 3. Reply, all integers: { admitted 0|1, used (after), now, reset, unblockAt }.
 *    reset: admitted → when the oldest entry leaves (more quota); denied → when this request would fit
 *    (-1: never, rate > tokens). unblockAt: when a 1-token request would fit, 0 if it fits now.
 *
 * `allow-key-locking` (Upstash only; the local server strips it) is correct: the script touches KEYS[1] only.
 */
export const EXACT_WINDOW_LIMIT_SCRIPT: LuaScript = {
  source: `#!lua flags=allow-key-locking
local key = KEYS[1]
local tokens = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local rate = tonumber(ARGV[3])
local id = ARGV[4]

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)

redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
local used = redis.call('ZCARD', key)

-- when the entry at 0-based position i (oldest first) leaves the window
local function leaves(i)
  local entry = redis.call('ZRANGE', key, i, i, 'WITHSCORES')
  return tonumber(entry[2]) + window
end

local admitted = 0
if rate < 0 then
  redis.call('ZPOPMAX', key, -rate)
  used = redis.call('ZCARD', key)
  admitted = 1
elseif used + rate <= tokens then
  for i = 1, rate do
    redis.call('ZADD', key, now, id .. ':' .. i)
  end
  if rate > 0 then
    redis.call('PEXPIRE', key, window)
  end
  used = used + rate
  admitted = 1
end

local reset = now
if admitted == 1 then
  if used > 0 then reset = leaves(0) end
elseif rate > tokens then
  reset = -1
else
  reset = leaves(used + rate - tokens - 1)
end

local unblockAt = 0
if used >= tokens and used > 0 then
  unblockAt = leaves(used - tokens)
end

return { admitted, used, now, reset, unblockAt }
`,
  sha1: '7586f5ec0e63c586943f430ccab12ce602721a67',
}

/**
 * The read-only count for `getRemaining`. KEYS[1]: the sorted set. ARGV: window ms.
 * Reply: { used, now, reset } with reset = when the oldest live entry leaves (now if there is none).
 */
export const EXACT_WINDOW_REMAINING_SCRIPT: LuaScript = {
  source: `#!lua flags=no-writes,allow-key-locking
local key = KEYS[1]
local window = tonumber(ARGV[1])

local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
-- scores are whole ms: the oldest live score is now - window + 1
local from = now - window + 1

local used = redis.call('ZCOUNT', key, from, '+inf')
local reset = now
if used > 0 then
  local oldest = redis.call('ZRANGEBYSCORE', key, from, '+inf', 'WITHSCORES', 'LIMIT', 0, 1)
  reset = tonumber(oldest[2]) + window
end
return { used, now, reset }
`,
  sha1: '9ec4a80abe996da0ec55c872b347cbeca7448b0e',
}

/** What the limiter stores, for src/stores/STORAGE.md. */
export const EXACT_WINDOW_STORAGE = {
  key: '<prefix>:<identifier> (the Ratelimit `prefix`, then the identifier given to limit())',
  type: 'sorted set',
  member: '<random UUID per call>:<1..rate>',
  score: 'admission time, epoch ms from Redis TIME',
  ttl: 'PEXPIRE window ms after every admission: the key disappears when its newest entry leaves the window',
  size: 'at most `tokens` members per key (denials write nothing but the trim of expired members)',
} as const

/** The key of an identifier: @upstash/ratelimit joins `[prefix, identifier]` with ':' before calling the algorithm. */
export { exactWindowKey } from './keys'

const UNIT_MS = { s: 1_000, m: 60_000, h: 3_600_000 } as const

/** Parses `'15 m'`-style windows (or passes milliseconds through); a bad window throws at factory time. */
export function parseExactWindow(window: ExactWindow): number {
  let ms: number
  if (typeof window === 'number') {
    ms = window
  } else {
    const match = /^(\d+(?:\.\d+)?) (s|m|h)$/.exec(window)
    if (match === null) throw new TypeError(`exactSlidingWindow: cannot parse window "${window}"; use e.g. "15 m"`)
    ms = Number(match[1]) * UNIT_MS[match[2] as keyof typeof UNIT_MS]
  }
  if (!Number.isSafeInteger(ms) || ms < 1) {
    throw new TypeError(`exactSlidingWindow: window must be a whole number of milliseconds >= 1, got ${String(window)}`)
  }
  return ms
}

export type ExactWindowRedis = ScriptRedis

/** One run of `EXACT_WINDOW_LIMIT_SCRIPT`; all times are Redis TIME, epoch ms. */
export interface ExactWindowDecision {
  admitted: boolean
  /** Entries in the window after this call. */
  used: number
  /** Redis's clock when the script ran. */
  now: number
  /** Admitted: when the oldest entry leaves. Denied: when this request would fit (-1: never, rate > tokens). */
  reset: number
  /** When a 1-token request would fit; 0 when it fits now. */
  unblockAt: number
}

/** The atomic check-and-record behind `exactSlidingWindow` (exported for tests and tooling). */
export async function consumeExactWindow(
  redis: ExactWindowRedis,
  key: string,
  tokens: number,
  windowMs: number,
  rate: number,
): Promise<ExactWindowDecision> {
  const reply = await runScript(redis, EXACT_WINDOW_LIMIT_SCRIPT, [key], [tokens, windowMs, rate, crypto.randomUUID()])
  const [admitted, used, now, reset, unblockAt] = integers(reply, 5) as [number, number, number, number, number]
  return { admitted: admitted === 1, used, now, reset, unblockAt }
}

/**
 * An exact sliding-log algorithm for `new Ratelimit({ limiter })`: at most `tokens` admissions in any interval of
 * length `window`, decided by Redis's clock in one atomic script per call.
 *
 * Costs one sorted-set entry per admitted token, so prefer it for small limits (auth routes), not for bulk traffic.
 * Honours the ephemeral cache like the library (a blocked identifier is denied with `reason: 'cacheBlock'` and no
 * Redis request). Dynamic limits are not supported. Errors reject; they never resolve `success: true`.
 *
 * @param tokens - admissions allowed per window, a positive integer
 * @param window - `'15 m'`, `'30 s'`, `'1 h'`, or milliseconds
 * @example
 * new Ratelimit({ redis, prefix: 'rl:auth', limiter: exactSlidingWindow(5, '15 m'), ephemeralCache: new Map(), timeout: 0 })
 */
export function exactSlidingWindow(tokens: number, window: ExactWindow): Algorithm<RegionContext> {
  if (!Number.isSafeInteger(tokens) || tokens < 1) {
    throw new TypeError(`exactSlidingWindow: tokens must be a positive integer, got ${tokens}`)
  }
  const windowMs = parseExactWindow(window)

  return () => ({
    async limit(ctx, identifier, rate = 1): Promise<RatelimitResponse> {
      if (!Number.isSafeInteger(rate)) throw new TypeError(`exactSlidingWindow: rate must be an integer, got ${rate}`)
      if (ctx.dynamicLimits) throw new TypeError('exactSlidingWindow: dynamicLimits is not supported')
      if (ctx.cache && rate > 0) {
        const { blocked, reset } = ctx.cache.isBlocked(identifier)
        if (blocked) {
          return {
            success: false,
            limit: tokens,
            remaining: 0,
            reset,
            pending: Promise.resolve(),
            reason: 'cacheBlock',
          }
        }
      }
      const { admitted, used, now, reset, unblockAt } = await consumeExactWindow(
        ctx.redis,
        identifier,
        tokens,
        windowMs,
        rate,
      )
      if (ctx.cache) {
        if (!admitted && unblockAt > 0) ctx.cache.blockUntil(identifier, unblockAt)
        else if (rate < 0) ctx.cache.pop(identifier)
      }
      return {
        success: admitted,
        limit: tokens,
        remaining: Math.max(0, tokens - used),
        // A request larger than the whole limit never fits: report one window ahead rather than "never".
        reset: reset === -1 ? now + windowMs : reset,
        pending: Promise.resolve(),
      }
    },

    async getRemaining(ctx, identifier) {
      const reply = await runScript(ctx.redis, EXACT_WINDOW_REMAINING_SCRIPT, [identifier], [windowMs])
      const [used, , reset] = integers(reply, 3) as [number, number, number]
      return { remaining: Math.max(0, tokens - used), reset, limit: tokens }
    },

    async resetTokens(ctx, identifier) {
      ctx.cache?.pop(identifier)
      await ctx.redis.del(identifier)
    },
  })
}

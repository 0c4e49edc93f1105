/**
 * The admission of a request in one Upstash command: every rate-limit policy that applies and the revocation of its
 * access token, decided by one Lua script in one EVALSHA (one HTTP request, one round trip, one billed command).
 *
 * Why not @upstash/ratelimit here: its algorithms run one script per limiter, so two policies and a revocation read
 * cost three commands, and a request one policy refuses is still counted by the others. This script keeps the
 * library's algorithm and key layout for `global`, `user` and `refresh` (a weighted sliding window over two fixed
 * buckets on the worker's clock) and an exact sliding log (a sorted set on Redis `TIME`) for the policies in
 * EXACT_POLICIES (`auth` and the per-account message limits), and counts a request
 * against every policy only when all of them admit it.
 *
 * It is sent with EVALSHA (EVAL after NOSCRIPT), which Upstash runs on the primary (only EVAL_RO and EVALSHA_RO may
 * be answered by a replica): a revocation is never read from a replica that has not seen it yet.
 * `allow-key-locking` is truthful: the script touches KEYS only.
 */
import { EXACT_POLICIES } from '../../lib/rate-limit-policies'
import type { Admission, AdmissionQuery, AdmissionStore, RateLimitPolicy } from '../types'
import { exactWindowKey, RATE_LIMIT_PREFIXES, revocationKeys, slidingWindowKeys } from './keys'
import { integers, type LuaScript, runScript, type ScriptRedis } from './script'

/**
 * ARGV: now (worker clock, epoch ms: the sliding buckets), revocation asked (0|1), the token's iat (s), a unique
 * member id, then four per limit: kind (`e` exact log, `s` sliding window), tokens, window ms, bound to the token's
 * user (0|1: skipped when the token is revoked).
 * KEYS: with revocation: the token's, session's and user's entries; then per limit: exact, its sorted set; sliding,
 * its current and previous bucket.
 *
 * 1. Revocation: 0 ok, 1 token, 2 session, 3 user (iat before the user's cutoff); -1 when not asked.
 * 2. Every limit is looked at without counting (the exact log drops entries that left its window).
 * 3. If every limit that is not skipped admits, each of them counts the request; otherwise none does.
 * Reply, all integers: { revocation, then per limit: admits 0|1, used (after), reset }. reset is 0 for a sliding
 * window (the caller knows its bucket end); for the exact log it is when a place frees: admitted → when the oldest
 * entry leaves (now if there is none), refused → when this request would fit.
 */
export const ADMISSION_SCRIPT: LuaScript = {
  source: `#!lua flags=allow-key-locking
local now = tonumber(ARGV[1])
local id = ARGV[4]
local k = 0

local revoked = -1
if ARGV[2] == '1' then
  revoked = 0
  if redis.call('EXISTS', KEYS[1]) == 1 then
    revoked = 1
  elseif redis.call('EXISTS', KEYS[2]) == 1 then
    revoked = 2
  else
    local cutoff = tonumber(redis.call('GET', KEYS[3]) or '')
    if cutoff ~= nil and tonumber(ARGV[3]) < cutoff then revoked = 3 end
  end
  k = 3
end

local clock = nil
local function time()
  if clock == nil then
    local t = redis.call('TIME')
    clock = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  end
  return clock
end

local limits = {}
local all = true
for i = 5, #ARGV, 4 do
  local l = { kind = ARGV[i], tokens = tonumber(ARGV[i + 1]), window = tonumber(ARGV[i + 2]) }
  l.skip = ARGV[i + 3] == '1' and revoked > 0
  if l.kind == 'e' then
    l.key = KEYS[k + 1]
    k = k + 1
    redis.call('ZREMRANGEBYSCORE', l.key, '-inf', time() - l.window)
    l.used = redis.call('ZCARD', l.key)
  else
    l.key = KEYS[k + 1]
    k = k + 2
    local current = tonumber(redis.call('GET', l.key) or '0')
    local previous = tonumber(redis.call('GET', KEYS[k]) or '0')
    l.used = current + math.floor((1 - (now % l.window) / l.window) * previous)
  end
  l.admits = l.used < l.tokens
  if not l.admits and not l.skip then all = false end
  limits[#limits + 1] = l
end

-- when the entry at 0-based position i (oldest first) leaves the window
local function leaves(l, i)
  local entry = redis.call('ZRANGE', l.key, i, i, 'WITHSCORES')
  return tonumber(entry[2]) + l.window
end

local reply = { revoked }
for _, l in ipairs(limits) do
  if all and not l.skip then
    if l.kind == 'e' then
      redis.call('ZADD', l.key, time(), id)
      redis.call('PEXPIRE', l.key, l.window)
    elseif redis.call('INCR', l.key) == 1 then
      redis.call('PEXPIRE', l.key, l.window * 2 + 1000)
    end
    l.used = l.used + 1
  end
  local reset = 0
  if l.kind == 'e' then
    if not l.admits then
      reset = leaves(l, l.used - l.tokens)
    elseif l.used > 0 then
      reset = leaves(l, 0)
    else
      reset = time()
    end
  end
  reply[#reply + 1] = (l.admits or l.skip) and 1 or 0
  reply[#reply + 1] = l.used
  reply[#reply + 1] = reset
end
return reply
`,
  sha1: 'a73d1fe84eff40b2aeb776fedd2c2dd665c9a1c2',
}

const REVOCATION_SCOPES = { 1: 'token', 2: 'session', 3: 'user' } as const

export interface RedisAdmissionOptions {
  /** Key prefixes per policy; tests pass fresh ones. @default RATE_LIMIT_PREFIXES */
  prefixes?: Record<RateLimitPolicy, string>
}

/**
 * @example
 * const admission = createRedisAdmissionStore(createRedis(config.redis))
 * await admission.admit({ limits: [{ policy: 'global', identifier, limit: 100, windowSeconds: 60 }] }, Date.now())
 */
export function createRedisAdmissionStore(redis: ScriptRedis, options: RedisAdmissionOptions = {}): AdmissionStore {
  const prefixes = options.prefixes ?? RATE_LIMIT_PREFIXES
  return {
    async admit(query: AdmissionQuery, nowMs: number): Promise<Admission> {
      const { limits, revocation } = query
      if (limits.length === 0 && revocation === undefined) return { limits: [] }
      const keys: string[] = revocation === undefined ? [] : await revocationKeys(revocation)
      const args: (string | number)[] = [
        nowMs,
        revocation === undefined ? 0 : 1,
        revocation?.iat ?? 0,
        crypto.randomUUID(),
      ]
      for (const { policy, identifier, limit, windowSeconds } of limits) {
        if (!Number.isSafeInteger(limit) || limit < 1)
          throw new RangeError(`limit must be a positive integer: ${limit}`)
        if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
          throw new RangeError(`windowSeconds must be a positive integer: ${windowSeconds}`)
        }
        const windowMs = windowSeconds * 1_000
        if (EXACT_POLICIES.has(policy)) {
          keys.push(exactWindowKey(prefixes[policy], identifier))
          args.push('e', limit, windowMs, 0)
        } else {
          keys.push(...slidingWindowKeys(prefixes[policy], identifier, windowMs, nowMs))
          args.push('s', limit, windowMs, policy === 'user' ? 1 : 0)
        }
      }
      const reply = integers(await runScript(redis, ADMISSION_SCRIPT, keys, args), 1 + 3 * limits.length)
      const admission: Admission = {
        limits: limits.map(({ limit, windowSeconds }, i) => {
          const [admits, used, reset] = reply.slice(1 + 3 * i, 4 + 3 * i) as [number, number, number]
          const windowMs = windowSeconds * 1_000
          return {
            success: admits === 1,
            remaining: Math.max(0, limit - used),
            // The end of the current bucket, as the library reports it, for the sliding window.
            resetMs: reset > 0 ? reset : (Math.floor(nowMs / windowMs) + 1) * windowMs,
          }
        }),
      }
      const revoked = reply[0] as number
      if (revocation !== undefined) {
        admission.revocation =
          revoked === 1 || revoked === 2 || revoked === 3
            ? { status: 'revoked', scope: REVOCATION_SCOPES[revoked] }
            : { status: 'ok' }
      }
      return admission
    },
  }
}

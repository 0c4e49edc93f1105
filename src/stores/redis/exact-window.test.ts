import { env } from 'cloudflare:workers'
import { Ratelimit } from '@upstash/ratelimit'
import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import type { Config } from '../../config/schema'
import { inspectRedis, testRedis } from '../contract/backends'
import {
  consumeExactWindow,
  EXACT_WINDOW_LIMIT_SCRIPT,
  EXACT_WINDOW_REMAINING_SCRIPT,
  type ExactWindow,
  exactSlidingWindow,
  exactWindowKey,
  parseExactWindow,
} from './exact-window'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const inspect = inspectRedis()

/** Workers clocks advance only across I/O; Redis TIME and the worker read the same host clock here. */
const CLOCK_SLACK_MS = 25

/** A fresh client of the worker's kind, on its own lane when faults or request counts matter. */
function client(options: Partial<Config['redis']> & { lane?: string } = {}) {
  const { lane, ...overrides } = options
  return testRedis(lane, overrides)
}

function limiter(
  tokens: number,
  window: ExactWindow,
  options: { redis?: ReturnType<typeof client>; cache?: Map<string, number>; prefix?: string } = {},
) {
  const prefix = options.prefix ?? `test:exact:${crypto.randomUUID()}`
  const ratelimit = new Ratelimit({
    redis: options.redis ?? client(),
    prefix,
    limiter: exactSlidingWindow(tokens, window),
    ephemeralCache: options.cache ?? false,
    timeout: 0,
    analytics: false,
  })
  return { ratelimit, prefix }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)))

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

afterEach(() => {
  vi.restoreAllMocks()
})

describe('exactSlidingWindow configuration', () => {
  it('pins the SHA-1 of each script it sends with EVALSHA', async () => {
    expect(await sha1Hex(EXACT_WINDOW_LIMIT_SCRIPT.source)).toBe(EXACT_WINDOW_LIMIT_SCRIPT.sha1)
    expect(await sha1Hex(EXACT_WINDOW_REMAINING_SCRIPT.source)).toBe(EXACT_WINDOW_REMAINING_SCRIPT.sha1)
  })

  it('parses windows in s, m, h or ms', () => {
    expect(parseExactWindow('15 m')).toBe(900_000)
    expect(parseExactWindow('1.5 s')).toBe(1_500)
    expect(parseExactWindow('1 h')).toBe(3_600_000)
    expect(parseExactWindow(250)).toBe(250)
  })

  it.each([
    [0, '1 m'],
    [1.5, '1 m'],
    [Number.NaN, '1 m'],
    [5, '1 d'],
    [5, '1m'],
    [5, 0],
    [5, 0.5],
    [5, '0 s'],
  ] as [number, ExactWindow][])('rejects tokens=%s window=%s at factory time', (tokens, window) => {
    expect(() => exactSlidingWindow(tokens, window)).toThrow(TypeError)
  })
})

describe('exactSlidingWindow against the local Upstash server', () => {
  it('admits N with falling remaining, then denies; reset is when the oldest entry leaves', async () => {
    const N = 3
    const W = 60_000
    const { ratelimit, prefix } = limiter(N, W)
    const before = Date.now()
    const first = await ratelimit.limit('alice')
    const after = Date.now()
    const rest = [await ratelimit.limit('alice'), await ratelimit.limit('alice')]
    const denied = await ratelimit.limit('alice')

    expect([first, ...rest].map((r) => [r.success, r.remaining, r.limit])).toEqual([
      [true, 2, N],
      [true, 1, N],
      [true, 0, N],
    ])
    expect(first.reset).toBeGreaterThanOrEqual(before + W - CLOCK_SLACK_MS)
    expect(first.reset).toBeLessThanOrEqual(after + W + CLOCK_SLACK_MS)
    for (const r of rest) expect(r.reset).toBe(first.reset)
    expect(denied).toMatchObject({ success: false, remaining: 0, limit: N, reset: first.reset })
    expect(denied.reason).toBeUndefined()

    // Key shape: one sorted set at <prefix>:<identifier>, N members, expiring with the window.
    const key = exactWindowKey(prefix, 'alice')
    expect(await inspect.zcard(key)).toBe(N)
    const ttl = await inspect.pttl(key)
    expect(ttl).toBeGreaterThan(0)
    expect(ttl).toBeLessThanOrEqual(W)
    expect(await inspect.keys(`${prefix}*`)).toEqual([key])
  })

  it('admits exactly N of 3N concurrent calls from three isolates (clients)', async () => {
    const N = 5
    const prefix = `test:exact:${crypto.randomUUID()}`
    const isolates = [0, 1, 2].map(() => limiter(N, '1 m', { prefix }).ratelimit)
    const results = await Promise.all(
      Array.from({ length: 3 * N }, (_, i) => isolates[i % 3]?.limit('bob') ?? Promise.reject(new Error('no isolate'))),
    )
    expect(results.filter((r) => r.success)).toHaveLength(N)
    expect(await inspect.zcard(exactWindowKey(prefix, 'bob'))).toBe(N)
  })

  it('slides: quota comes back one entry at a time as each admission leaves the window', async () => {
    const W = 1_000
    const { ratelimit } = limiter(2, W)
    const first = await ratelimit.limit('carol')
    await sleep(400)
    const second = await ratelimit.limit('carol')
    expect([first.success, second.success]).toEqual([true, true])
    expect(second.reset).toBe(first.reset) // the oldest still decides when quota returns
    expect((await ratelimit.limit('carol')).success).toBe(false)

    await sleep(first.reset - Date.now() + 30)
    const third = await ratelimit.limit('carol')
    // Only the first entry has left: one slot, and the next one frees when the second entry leaves.
    expect(third).toMatchObject({ success: true, remaining: 0 })
    expect(third.reset).toBeGreaterThanOrEqual(first.reset + 400 - CLOCK_SLACK_MS)
    expect((await ratelimit.limit('carol')).success).toBe(false)
  })

  it('denies from the ephemeral cache without a Redis request once blocked', async () => {
    const lane = `lane-${crypto.randomUUID()}`
    const cache = new Map<string, number>()
    const { ratelimit, prefix } = limiter(2, '1 m', { redis: client({ lane }), cache })
    await ratelimit.limit('dave')
    await ratelimit.limit('dave')
    const denied = await ratelimit.limit('dave')
    expect(denied.success).toBe(false)
    expect(cache.get(exactWindowKey(prefix, 'dave'))).toBe(denied.reset)

    await control.resetStats(lane)
    const blocked = await ratelimit.limit('dave')
    expect(blocked).toMatchObject({ success: false, remaining: 0, limit: 2, reset: denied.reset, reason: 'cacheBlock' })
    expect(await control.stats(lane)).toEqual({ requests: 0, commands: 0 })
  })

  it('rejects, never resolves success, when Upstash answers 500', async () => {
    const lane = `lane-${crypto.randomUUID()}`
    const { ratelimit } = limiter(5, '1 m', { redis: client({ lane }) })
    await control.setFault('error500', 10_000, lane)
    try {
      await expect(ratelimit.limit('erin')).rejects.toThrow(/injected fault/)
      // The library's own timeout (default 5 s) does not turn an error into a pass either.
      const withDefaultTimeout = new Ratelimit({
        redis: client({ lane }),
        limiter: exactSlidingWindow(5, '1 m'),
        ephemeralCache: false,
      })
      await expect(withDefaultTimeout.limit('erin')).rejects.toThrow()
    } finally {
      await control.setFault('none', undefined, lane)
    }
  })

  it('rejects when Upstash hangs (client timeout, library timeout off)', async () => {
    const lane = `lane-${crypto.randomUUID()}`
    const { ratelimit } = limiter(5, '1 m', { redis: client({ lane, timeoutMs: 200 }) })
    await control.setFault('hang', 5_000, lane)
    try {
      await expect(ratelimit.limit('frank')).rejects.toThrow()
    } finally {
      await control.setFault('none', undefined, lane)
    }
  })

  it('getRemaining reads without consuming; resetUsedTokens clears Redis and the cache', async () => {
    const cache = new Map<string, number>()
    const { ratelimit, prefix } = limiter(2, '1 m', { cache })
    const first = await ratelimit.limit('gina')
    expect(await ratelimit.getRemaining('gina')).toEqual({ remaining: 1, reset: first.reset, limit: 2 })
    expect(await ratelimit.getRemaining('gina')).toEqual({ remaining: 1, reset: first.reset, limit: 2 })
    await ratelimit.limit('gina')
    await ratelimit.limit('gina')
    expect((await ratelimit.limit('gina')).reason).toBe('cacheBlock')

    await ratelimit.resetUsedTokens('gina')
    expect(await inspect.exists(exactWindowKey(prefix, 'gina'))).toBe(0)
    expect(await ratelimit.getRemaining('gina')).toMatchObject({ remaining: 2, limit: 2 })
    expect(await ratelimit.limit('gina')).toMatchObject({ success: true, remaining: 1 })
  })

  it('charges `rate` entries, refunds with a negative rate, and never fits a rate above the limit', async () => {
    const cache = new Map<string, number>()
    const { ratelimit, prefix } = limiter(3, '1 m', { cache })
    const key = exactWindowKey(prefix, 'hank')
    expect(await ratelimit.limit('hank', { rate: 2 })).toMatchObject({ success: true, remaining: 1 })
    // 2 used + 2 > 3: denied, but one slot is still free, so the cache must not block 1-token requests.
    const tooBig = await ratelimit.limit('hank', { rate: 2 })
    expect(tooBig).toMatchObject({ success: false, remaining: 1 })
    expect(cache.size).toBe(0)
    expect(await ratelimit.limit('hank')).toMatchObject({ success: true, remaining: 0 })
    expect(await inspect.zcard(key)).toBe(3)

    expect(await ratelimit.limit('hank', { rate: -1 })).toMatchObject({ success: true, remaining: 1 })
    expect(await inspect.zcard(key)).toBe(2)
    const never = await ratelimit.limit('hank', { rate: 4 })
    expect(never.success).toBe(false)
    expect(await inspect.zcard(key)).toBe(2)
    await expect(ratelimit.limit('hank', { rate: 1.5 })).rejects.toThrow(TypeError)
  })
})

describe('exact vs @upstash/ratelimit slidingWindow at a bucket boundary', () => {
  const N = 10
  const W = 10_000
  // A burst at 99% of one fixed bucket, then another at 95% of the next: 0.96 W apart, inside one window.
  const bucket = Math.floor(Date.now() / W) + 1_000
  const burstAt = [bucket * W + 0.99 * W, (bucket + 1) * W + 0.95 * W]

  async function admittedAcrossBursts(ratelimit: Ratelimit, id: string) {
    let admitted = 0
    for (const at of burstAt) {
      vi.spyOn(Date, 'now').mockReturnValue(at)
      for (let i = 0; i < N; i++) if ((await ratelimit.limit(id)).success) admitted++
    }
    return admitted
  }

  it('the library admits 2N in less than one window (its weighting assumes an even spread)', async () => {
    const ratelimit = new Ratelimit({
      redis: client(),
      prefix: `test:sw:${crypto.randomUUID()}`,
      limiter: Ratelimit.slidingWindow(N, '10 s'),
      ephemeralCache: false,
      timeout: 0,
    })
    // Second burst: previous bucket weighted floor((1 − 0.95) × 10) = 0, so all ten pass again.
    expect(await admittedAcrossBursts(ratelimit, 'ivy')).toBe(2 * N)
  })

  it('the exact limiter admits N for the same calls: it reads Redis TIME, not the (skewed) worker clock', async () => {
    const { ratelimit } = limiter(N, W)
    expect(await admittedAcrossBursts(ratelimit, 'ivy')).toBe(N)
  })
})

describe('exactSlidingWindow property', () => {
  it('for random arrivals, admits at most N in every window, and denies only when N are in the window', async () => {
    const N = 3
    const W = 100
    const redis = client()
    await fc.assert(
      // Arrival offsets in ms, dense enough (≥ 6 over 2.5 windows) that most runs have bursts above N.
      fc.asyncProperty(fc.array(fc.integer({ min: 0, max: 249 }), { minLength: 6, maxLength: 16 }), async (offsets) => {
        const key = `test:exact:prop:${crypto.randomUUID()}`
        const decisions = await Promise.all(
          offsets.map(async (offset) => {
            await sleep(offset)
            return consumeExactWindow(redis, key, N, W, 1)
          }),
        )
        const admitted = decisions.filter((d) => d.admitted).map((d) => d.now)
        // Safety: any interval [t, t + W) holds at most N admissions (t ranging over admission times suffices).
        for (const t of admitted) expect(admitted.filter((a) => a >= t && a < t + W).length).toBeLessThanOrEqual(N)
        // Exactness: a denial saw N admissions in (now − W, now].
        for (const d of decisions.filter((x) => !x.admitted)) {
          expect(admitted.filter((a) => a > d.now - W && a <= d.now).length).toBeGreaterThanOrEqual(N)
        }
      }),
      // A burst is always among the runs; no shrinking (each run costs real time), the failing input is reported.
      { numRuns: 8, endOnFailure: true, examples: [[[0, 0, 0, 0, 0, 30, 60, 90, 120, 200]]] },
    )
  }, 15_000)
})

/**
 * Rate-limit enforcement and window reset, against the real pipeline and a real Redis behind the local Upstash
 * server, in real time: 1 s windows, arrival sequences of a few hundred milliseconds. A violation is reported only
 * when it is certain: N+1 admissions whose measured intervals all fit inside one window.
 */
import { env } from 'cloudflare:workers'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { testApp } from '../../test-support/app'
import { uniqueIpv4 } from '../../test-support/clients'
import { testExecutionContext as ctx } from '../../test-support/context'
import { LOGIN_ADMITTED, limitProbe } from '../../test-support/rate-limit'

const WINDOW_MS = 1_000

/** A gateway on its own Upstash lane (the real /auth/login and a /public route); ONE bindings object per gateway. */
function gateway(vars: Record<string, string>) {
  const lane = `lane-${crypto.randomUUID()}`
  const bindings = { ...env, UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`, ...vars }
  const app = testApp({
    extend: (app) => {
      app.get('/public', (c) => c.json({ ok: true }))
    },
  })
  return async (path: '/auth/login' | '/public', ip: string): Promise<Attempt> => {
    const sent = Date.now()
    const res = await app.fetch(limitProbe(path, ip), bindings, ctx)
    await res.arrayBuffer()
    const answered = Date.now()
    const admittedStatus = path === '/auth/login' ? LOGIN_ADMITTED : 200
    expect([admittedStatus, 429]).toContain(res.status)
    return { sent, answered, admitted: res.status === admittedStatus }
  }
}

/**
 * Admission times are measured client-side as an interval [sent, answered]: the decision (Redis TIME for the
 * exact auth log, the isolate's Date.now for the library's sliding window) happened inside it. Workers' Date.now
 * only advances across I/O, so `sent` is a lower bound and `answered` (read once the response has arrived) an
 * upper bound.
 */
interface Attempt {
  sent: number
  answered: number
  admitted: boolean
}

/**
 * The largest number of admissions certain to lie in one window of `windowMs`: for each admission `a` (as the
 * earliest), those sent no earlier than `a` and answered before `a.sent + windowMs`.
 */
function maxCertainInWindow(attempts: Attempt[], windowMs: number): number {
  const admitted = attempts.filter((a) => a.admitted)
  let max = 0
  for (const first of admitted) {
    const inside = admitted.filter((b) => b.sent >= first.sent && b.answered < first.sent + windowMs).length
    max = Math.max(max, inside)
  }
  return max
}

/** Admissions per fixed bucket floor(t / windowMs), counting only those whose whole interval lies in one bucket. */
function maxCertainPerBucket(attempts: Attempt[], windowMs: number): number {
  const perBucket = new Map<number, number>()
  for (const a of attempts) {
    const bucket = Math.floor(a.sent / windowMs)
    if (!a.admitted || Math.floor(a.answered / windowMs) !== bucket) continue
    perBucket.set(bucket, (perBucket.get(bucket) ?? 0) + 1)
  }
  return Math.max(0, ...perBucket.values())
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/** How many attempts the leading groups hold, up to and including the one that brings their count to `n`. */
function firstGroupsReaching(groups: { size: number }[], n: number): number {
  let count = 0
  for (const { size } of groups) {
    count += size
    if (count >= n) return count
  }
  return count
}

/**
 * An arrival sequence: where in the fixed 1 s grid it starts (so runs straddle bucket boundaries at every phase),
 * then groups of 1–3 concurrent requests separated by 0–50 ms.
 */
const arrivals = fc.record({
  // Mostly late in a bucket, so the sequence usually crosses a boundary: where approximate algorithms over-admit.
  phaseMs: fc.oneof(
    { arbitrary: fc.integer({ min: 700, max: WINDOW_MS - 1 }), weight: 3 },
    { arbitrary: fc.integer({ min: 0, max: WINDOW_MS - 1 }), weight: 1 },
  ),
  groups: fc.array(fc.record({ gapMs: fc.integer({ min: 0, max: 50 }), size: fc.integer({ min: 1, max: 3 }) }), {
    minLength: 5,
    maxLength: 14,
  }),
})

async function play(
  send: (path: '/auth/login' | '/public', ip: string) => Promise<Attempt>,
  path: '/auth/login' | '/public',
  { phaseMs, groups }: { phaseMs: number; groups: { gapMs: number; size: number }[] },
): Promise<Attempt[]> {
  const ip = uniqueIpv4()
  await sleep((phaseMs - (Date.now() % WINDOW_MS) + WINDOW_MS) % WINDOW_MS)
  const attempts: Attempt[] = []
  for (const { gapMs, size } of groups) {
    if (gapMs > 0) await sleep(gapMs)
    attempts.push(...(await Promise.all(Array.from({ length: size }, () => send(path, ip)))))
  }
  return attempts
}

describe('property 3: rate-limit enforcement', () => {
  it('auth policy (exact sliding log, 3/1s): never more than 3 admissions in ANY 1 s interval', async () => {
    const send = gateway({ RATE_LIMIT_AUTH: '3/1s' })
    let sawLimited = false
    await fc.assert(
      fc.asyncProperty(arrivals, async (sequence) => {
        const attempts = await play(send, '/auth/login', sequence)
        sawLimited ||= attempts.some((a) => !a.admitted)
        expect(maxCertainInWindow(attempts, WINDOW_MS)).toBeLessThanOrEqual(3)
        // Never under-admits either: a fresh client's first 3 decisions are admissions. The requests of one group
        // race each other to Redis, so "first" is read by group: the groups up to the one that brings the count to
        // 3 or more were all decided before any later one, and at least 3 of them were admitted.
        const first = firstGroupsReaching(sequence.groups, 3)
        expect(attempts.slice(0, first).filter((a) => a.admitted).length).toBeGreaterThanOrEqual(3)
      }),
      { numRuns: 7, endOnFailure: true },
    )
    expect(sawLimited).toBe(true)
  }, 20_000)

  it('global policy (library sliding window, approximate, 3/1s): at most 3 per fixed 1 s bucket, so at most 6 (2N) in any 1 s interval', async () => {
    // @upstash/ratelimit's slidingWindow admits iff floor(prev × (1 − elapsed fraction)) + current < N, where
    // current counts admissions in the fixed bucket floor(now / window) of the isolate's clock: so never more than
    // N per bucket, and a window-length interval spans at most two buckets, hence 2N. The weighting keeps real
    // runs well below 2N, but it is not a bound one can state more tightly; the exact bound is the auth policy's job
    // (with the auth policy on this algorithm the test above fails: 4–5 admissions inside one second).
    const send = gateway({ RATE_LIMIT_GLOBAL: '3/1s' })
    await fc.assert(
      fc.asyncProperty(arrivals, async (sequence) => {
        const attempts = await play(send, '/public', sequence)
        expect(maxCertainPerBucket(attempts, WINDOW_MS)).toBeLessThanOrEqual(3)
        expect(maxCertainInWindow(attempts, WINDOW_MS)).toBeLessThanOrEqual(6)
      }),
      { numRuns: 3, endOnFailure: true },
    )
  }, 20_000)
})

describe('property 5: rate-limit window reset', () => {
  it('once a window has passed since the last admission, a limited client is admitted again (auth: the full N)', async () => {
    const sends = new Map<string, ReturnType<typeof gateway>>()
    const sendFor = (policy: 'auth' | 'global', limit: number) => {
      const spec = `${policy}:${limit}`
      let send = sends.get(spec)
      if (send === undefined) {
        send = gateway(policy === 'auth' ? { RATE_LIMIT_AUTH: `${limit}/1s` } : { RATE_LIMIT_GLOBAL: `${limit}/1s` })
        sends.set(spec, send)
      }
      return send
    }
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('auth' as const, 'global' as const),
        fc.integer({ min: 1, max: 2 }),
        fc.integer({ min: 1, max: 3 }),
        async (policy, limit, excess) => {
          const send = sendFor(policy, limit)
          const path = policy === 'auth' ? '/auth/login' : '/public'
          const ip = uniqueIpv4()
          const first: Attempt[] = []
          for (let i = 0; i < limit + excess; i++) first.push(await send(path, ip))
          expect(first.some((a) => !a.admitted)).toBe(true) // limited at some point
          const lastAdmission = Math.max(...first.filter((a) => a.admitted).map((a) => a.answered))
          await sleep(Math.max(0, lastAdmission + WINDOW_MS + 50 - Date.now()))
          const again: Attempt[] = []
          for (let i = 0; i < limit + 1; i++) again.push(await send(path, ip))
          expect(again[0]?.admitted).toBe(true)
          // The exact log has forgotten every admission: N more, then limited again.
          if (policy === 'auth') expect(again.map((a) => a.admitted)).toEqual([...Array(limit).fill(true), false])
        },
      ),
      { numRuns: 4, endOnFailure: true },
    )
  }, 20_000)
})

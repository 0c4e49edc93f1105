/**
 * What every RateLimitStore must do, as `describe`/`it` blocks a test file declares for one implementation.
 *
 * Only what an exact log and the library's approximate sliding window both guarantee is asserted for every policy:
 * a fresh identifier gets `limit` admissions and no more in one burst, refusals say when to come back within a
 * window, and two quiet windows forget everything. Exactness (a sliding log, no bucket edges) is asserted for
 * `auth` only. Bursts that must be refused use an hour-long window, so the library's bucket edge (on the hour)
 * falls inside one with negligible odds; the waits use 1-second windows, about three seconds of sleep on Redis.
 */
import { describe, expect, it } from 'vitest'
import type { RateLimitPolicy, RateLimitStore } from '../types'
import type { TestClock } from './clock'

export interface RateLimitHarness {
  store: RateLimitStore
  /** The clock passed as `nowMs` and the one the store's windows run on. */
  clock: TestClock
}

const POLICIES: RateLimitPolicy[] = ['global', 'auth', 'user']
const HOUR = { limit: 3, windowSeconds: 3_600 }
const SECOND = { limit: 2, windowSeconds: 1 }
/** Redis `TIME` and the worker's clock are read at slightly different moments. */
const CLOCK_SLACK_MS = 1_000
const WAIT_SLACK_MS = 100

const identifier = () => crypto.randomUUID().replaceAll('-', '')

export function rateLimitStoreContract(name: string, make: () => RateLimitHarness | Promise<RateLimitHarness>): void {
  describe(`RateLimitStore contract: ${name}`, () => {
    it.each(POLICIES)(
      '%s: admits a fresh identifier `limit` times, then refuses until a reset inside the window',
      async (policy) => {
        const { store, clock } = await make()
        const id = identifier()
        const before = clock.now()
        const decisions = []
        for (let i = 0; i <= HOUR.limit; i++) decisions.push(await store.limit(policy, id, HOUR, clock.now()))
        const after = clock.now()
        expect(decisions.map((d) => [d.success, d.remaining])).toEqual([
          [true, 2],
          [true, 1],
          [true, 0],
          [false, 0],
        ])
        for (const { resetMs } of decisions) {
          expect(resetMs).toBeGreaterThanOrEqual(before - CLOCK_SLACK_MS)
          expect(resetMs).toBeLessThanOrEqual(after + HOUR.windowSeconds * 1_000 + CLOCK_SLACK_MS)
        }
      },
    )

    it.each(POLICIES)('%s: admits exactly `limit` of a burst that arrives at once', async (policy) => {
      const { store, clock } = await make()
      const id = identifier()
      const spec = { limit: 5, windowSeconds: 3_600 }
      const decisions = await Promise.all(Array.from({ length: 12 }, () => store.limit(policy, id, spec, clock.now())))
      expect(decisions.filter((d) => d.success)).toHaveLength(5)
    })

    it('counts each policy and each identifier apart', async () => {
      const { store, clock } = await make()
      const id = identifier()
      for (let i = 0; i < HOUR.limit; i++) await store.limit('auth', id, HOUR, clock.now())
      expect((await store.limit('auth', id, HOUR, clock.now())).success).toBe(false)
      expect(await store.limit('auth', identifier(), HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
      expect(await store.limit('global', id, HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
      expect(await store.limit('user', id, HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
    })

    it('forgets an identifier, under every policy, after two quiet windows', async () => {
      const { store, clock } = await make()
      const ids = POLICIES.map((policy) => [policy, identifier()] as const)
      for (const [policy, id] of ids) {
        for (let i = 0; i < SECOND.limit; i++) await store.limit(policy, id, SECOND, clock.now())
      }
      await clock.advance(2 * SECOND.windowSeconds * 1_000 + WAIT_SLACK_MS)
      for (const [policy, id] of ids) {
        expect(await store.limit(policy, id, SECOND, clock.now())).toMatchObject({ success: true, remaining: 1 })
      }
    })

    it('auth: slides, admission by admission: one leaving the window frees exactly one place', async () => {
      const { store, clock } = await make()
      const id = identifier()
      expect((await store.limit('auth', id, SECOND, clock.now())).success).toBe(true)
      await clock.advance(500)
      expect((await store.limit('auth', id, SECOND, clock.now())).success).toBe(true)
      const refused = await store.limit('auth', id, SECOND, clock.now())
      expect(refused.success).toBe(false)
      // The first admission leaves 1 s after it was made, about 0.5 s from now: that is when a place frees.
      expect(refused.resetMs).toBeLessThanOrEqual(clock.now() + 500 + WAIT_SLACK_MS)
      await clock.advance(500 + WAIT_SLACK_MS)
      expect(await store.limit('auth', id, SECOND, clock.now())).toMatchObject({ success: true, remaining: 0 })
      expect((await store.limit('auth', id, SECOND, clock.now())).success).toBe(false)
    })
  })
}

/**
 * What every LockoutStore must do, as `describe`/`it` blocks a test file declares for one implementation. Each
 * test builds its store with the policy it needs; only the expiry test uses a 1-second lock, so a real Redis
 * sleeps about a second in all.
 */
import { describe, expect, it } from 'vitest'
import type { LockoutPolicy } from '../redis/lockout'
import type { LockoutDecision, LockoutStore } from '../types'
import type { TestClock } from './clock'

export interface LockoutHarness {
  store: LockoutStore
  /** The clock the store's counters expire on. */
  clock: TestClock
}

const POLICY: LockoutPolicy = { threshold: 3, lockSeconds: 900, hourlyCeiling: 100 }
const SLACK_MS = 100

const identifier = () => `${crypto.randomUUID()}@example.com`
const allowed = (failures: number, lastAttempt = false) => ({ status: 'allowed', failures, lastAttempt })

/** Checks that `decision` is a lock by `by` and returns its retry-after. */
function retryAfter(decision: LockoutDecision, by: 'consecutive_failures' | 'hourly_ceiling'): number {
  expect(decision).toMatchObject({ status: 'locked', by })
  return decision.status === 'locked' ? decision.retryAfterSeconds : 0
}

export function lockoutStoreContract(
  name: string,
  make: (policy: LockoutPolicy) => LockoutHarness | Promise<LockoutHarness>,
): void {
  describe(`LockoutStore contract: ${name}`, () => {
    it('counts each attempt up front and locks after the threshold, for the lock duration', async () => {
      const { store } = await make(POLICY)
      const id = identifier()
      expect(await store.begin(id)).toEqual(allowed(1))
      expect(await store.begin(id)).toEqual(allowed(2))
      expect(await store.begin(id)).toEqual(allowed(3, true))
      const wait = retryAfter(await store.begin(id), 'consecutive_failures')
      expect(wait).toBeGreaterThanOrEqual(POLICY.lockSeconds - 1)
      expect(wait).toBeLessThanOrEqual(POLICY.lockSeconds)
    })

    it('counts nothing while locked: after any number of refusals, one release frees one attempt', async () => {
      const { store } = await make(POLICY)
      const id = identifier()
      for (let i = 0; i < POLICY.threshold; i++) await store.begin(id)
      for (let i = 0; i < 3; i++) expect((await store.begin(id)).status).toBe('locked')
      // One release gives back one reservation: the refused attempts reserved none, so one release unlocks.
      await store.release(id)
      expect(await store.begin(id)).toEqual(allowed(POLICY.threshold, true))
    })

    it('keeps identifiers apart', async () => {
      const { store } = await make(POLICY)
      const locked = identifier()
      for (let i = 0; i <= POLICY.threshold; i++) await store.begin(locked)
      expect(await store.begin(identifier())).toEqual(allowed(1))
    })

    it('forgets the consecutive failures on a success', async () => {
      const { store } = await make(POLICY)
      const id = identifier()
      await store.begin(id)
      await store.begin(id)
      await store.succeeded(id)
      expect(await store.begin(id)).toEqual(allowed(1))
      expect(await store.begin(id)).toEqual(allowed(2))
      expect(await store.begin(id)).toEqual(allowed(3, true))
    })

    it('gives a released attempt back, never going below zero', async () => {
      const { store } = await make(POLICY)
      const id = identifier()
      await store.release(id)
      expect(await store.begin(id)).toEqual(allowed(1))
      expect(await store.begin(id)).toEqual(allowed(2))
      for (let i = 0; i < 3; i++) await store.release(id)
      expect(await store.begin(id)).toEqual(allowed(1))
      for (let i = 0; i < 10; i++) {
        await store.release(id)
        expect(await store.begin(id)).toEqual(allowed(1))
      }
    })

    it('locks at the hourly ceiling of failures, successes in between or not, for the rest of the hour', async () => {
      const { store } = await make({ threshold: 3, lockSeconds: 900, hourlyCeiling: 4 })
      const id = identifier()
      // A success gives its own reservation back and resets the consecutive count, not the hour: four failures
      // in the hour, while the consecutive count never reaches the threshold.
      const succeeding = async () => {
        expect(await store.begin(id)).toEqual(allowed(2))
        await store.succeeded(id)
      }
      expect(await store.begin(id)).toEqual(allowed(1))
      await succeeding()
      expect(await store.begin(id)).toEqual(allowed(1))
      await succeeding()
      expect(await store.begin(id)).toEqual(allowed(1))
      expect(await store.begin(id)).toEqual(allowed(2))
      const wait = retryAfter(await store.begin(id), 'hourly_ceiling')
      expect(wait).toBeGreaterThan(3_590)
      expect(wait).toBeLessThanOrEqual(3_600)
    })

    it('admits exactly the threshold when many attempts arrive at once', async () => {
      const { store } = await make({ ...POLICY, threshold: 5 })
      const id = identifier()
      const decisions = await Promise.all(Array.from({ length: 12 }, () => store.begin(id)))
      const failures = decisions.flatMap((d) => (d.status === 'allowed' ? [d.failures] : [])).sort()
      expect(failures).toEqual([1, 2, 3, 4, 5])
      expect(decisions.filter((d) => d.status === 'locked')).toHaveLength(7)
    })

    it('reads the status without counting: failures so far, then the lock and its wait', async () => {
      const { store } = await make(POLICY)
      const id = identifier()
      expect(await store.status(id)).toEqual({ locked: false, failures: 0 })
      await store.begin(id)
      await store.begin(id)
      for (let i = 0; i < 5; i++) expect(await store.status(id)).toEqual({ locked: false, failures: 2 })
      expect(await store.begin(id)).toEqual(allowed(3, true))
      const status = await store.status(id)
      expect(status).toMatchObject({ locked: true, by: 'consecutive_failures' })
      const wait = status.locked ? status.retryAfterSeconds : 0
      expect(wait).toBeGreaterThanOrEqual(POLICY.lockSeconds - 1)
      expect(wait).toBeLessThanOrEqual(POLICY.lockSeconds)
      expect(await store.status(identifier())).toEqual({ locked: false, failures: 0 })
    })

    it('reports the hourly ceiling as a lock of its own', async () => {
      const { store } = await make({ threshold: 3, lockSeconds: 900, hourlyCeiling: 2 })
      const id = identifier()
      await store.begin(id)
      await store.succeeded(id)
      await store.begin(id)
      await store.begin(id)
      const status = await store.status(id)
      expect(status).toMatchObject({ locked: true, by: 'hourly_ceiling' })
      expect(status.locked && status.retryAfterSeconds).toBeGreaterThan(3_590)
    })

    it('unlocks: both counters forgotten, the next attempt is the first; unknown identifiers are a no-op', async () => {
      const { store } = await make({ threshold: 3, lockSeconds: 900, hourlyCeiling: 4 })
      const id = identifier()
      for (let i = 0; i < 3; i++) await store.begin(id)
      expect((await store.begin(id)).status).toBe('locked')
      await store.unlock(id)
      expect(await store.status(id)).toEqual({ locked: false, failures: 0 })
      // The hourly count went too: four more failures fit before the ceiling.
      expect(await store.begin(id)).toEqual(allowed(1))
      expect(await store.begin(id)).toEqual(allowed(2))
      await store.succeeded(id)
      expect(await store.begin(id)).toEqual(allowed(1))
      await store.unlock(identifier())
    })

    it('unlocks a lock duration after the last counted attempt, not the last refusal; the hour runs from the first failure', async () => {
      const { store, clock } = await make({ threshold: 3, lockSeconds: 1, hourlyCeiling: 4 })
      const id = identifier()
      for (let i = 0; i < 3; i++) await store.begin(id)
      await clock.advance(600)
      expect(await store.begin(id)).toMatchObject({ status: 'locked', retryAfterSeconds: 1 })
      await clock.advance(400 + SLACK_MS)
      expect(await store.begin(id)).toEqual(allowed(1))
      // The fourth failure of the hour: the hourly lock ends an hour after the first, about 1.1 s ago.
      const wait = retryAfter(await store.begin(id), 'hourly_ceiling')
      expect(wait).toBeGreaterThan(3_590)
      expect(wait).toBeLessThan(3_600)
    })
  })
}

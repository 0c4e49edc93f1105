/**
 * What every AdmissionStore must do, as `describe`/`it` blocks a test file declares for one implementation.
 *
 * Only what an exact log and the library's approximate sliding window both guarantee is asserted for every policy:
 * a fresh identifier gets `limit` admissions and no more in one burst, refusals say when to come back within a
 * window, and two quiet windows forget everything. Exactness (a sliding log, no bucket edges) is asserted for
 * the policies in EXACT_POLICIES only. Bursts that must be refused use an hour-long window, so the library's bucket
 * edge (on the hour) falls inside one with negligible odds; the waits use 1-second windows, about three seconds of sleep on Redis.
 */
import { describe, expect, it } from 'vitest'
import { EXACT_POLICIES } from '../../lib/rate-limit-policies'
import type { AdmissionStore, RateLimitOutcome, RateLimitPolicy, RevocationStore } from '../types'
import type { TestClock } from './clock'

export interface AdmissionHarness {
  store: AdmissionStore
  /** The revocation store whose entries `store` sees. */
  revocation: RevocationStore
  /** The clock passed as `nowMs` and the one the store's windows run on. */
  clock: TestClock
}

type Spec = { limit: number; windowSeconds: number }

/** One limit, admitted alone: the shape most cases need. */
function limiter(store: AdmissionStore) {
  return async (policy: RateLimitPolicy, identifier: string, spec: Spec, nowMs: number): Promise<RateLimitOutcome> => {
    const { limits } = await store.admit({ limits: [{ policy, identifier, ...spec }] }, nowMs)
    expect(limits).toHaveLength(1)
    return limits[0] as RateLimitOutcome
  }
}

const POLICIES: RateLimitPolicy[] = ['global', 'auth', 'user', 'refresh', 'password_reset', 'repeat_registration']
const HOUR = { limit: 3, windowSeconds: 3_600 }
const SECOND = { limit: 2, windowSeconds: 1 }
/** Redis `TIME` and the worker's clock are read at slightly different moments. */
const CLOCK_SLACK_MS = 1_000
const WAIT_SLACK_MS = 100

const identifier = () => crypto.randomUUID().replaceAll('-', '')

export function admissionStoreContract(name: string, make: () => AdmissionHarness | Promise<AdmissionHarness>): void {
  describe(`AdmissionStore contract: ${name}`, () => {
    const setup = async () => {
      const harness = await make()
      return { ...harness, store: { limit: limiter(harness.store) }, admission: harness.store }
    }

    it.each(POLICIES)(
      '%s: admits a fresh identifier `limit` times, then refuses until a reset inside the window',
      async (policy) => {
        const { store, clock } = await setup()
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
      const { store, clock } = await setup()
      const id = identifier()
      const spec = { limit: 5, windowSeconds: 3_600 }
      const decisions = await Promise.all(Array.from({ length: 12 }, () => store.limit(policy, id, spec, clock.now())))
      expect(decisions.filter((d) => d.success)).toHaveLength(5)
    })

    it('counts each policy and each identifier apart', async () => {
      const { store, clock } = await setup()
      const id = identifier()
      for (let i = 0; i < HOUR.limit; i++) await store.limit('auth', id, HOUR, clock.now())
      expect((await store.limit('auth', id, HOUR, clock.now())).success).toBe(false)
      expect(await store.limit('auth', identifier(), HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
      expect(await store.limit('global', id, HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
      expect(await store.limit('user', id, HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
    })

    it('forgets an identifier, under every policy, after two quiet windows', async () => {
      const { store, clock } = await setup()
      const ids = POLICIES.map((policy) => [policy, identifier()] as const)
      for (const [policy, id] of ids) {
        for (let i = 0; i < SECOND.limit; i++) await store.limit(policy, id, SECOND, clock.now())
      }
      await clock.advance(2 * SECOND.windowSeconds * 1_000 + WAIT_SLACK_MS)
      for (const [policy, id] of ids) {
        expect(await store.limit(policy, id, SECOND, clock.now())).toMatchObject({ success: true, remaining: 1 })
      }
    })

    it.each([...EXACT_POLICIES])(
      '%s: slides, admission by admission: one leaving the window frees exactly one place',
      async (policy) => {
        const { store, clock } = await setup()
        const id = identifier()
        expect((await store.limit(policy, id, SECOND, clock.now())).success).toBe(true)
        await clock.advance(500)
        expect((await store.limit(policy, id, SECOND, clock.now())).success).toBe(true)
        const refused = await store.limit(policy, id, SECOND, clock.now())
        expect(refused.success).toBe(false)
        // The first admission leaves 1 s after it was made, about 0.5 s from now: that is when a place frees.
        expect(refused.resetMs).toBeLessThanOrEqual(clock.now() + 500 + WAIT_SLACK_MS)
        await clock.advance(500 + WAIT_SLACK_MS)
        expect(await store.limit(policy, id, SECOND, clock.now())).toMatchObject({ success: true, remaining: 0 })
        expect((await store.limit(policy, id, SECOND, clock.now())).success).toBe(false)
      },
    )
    it('counts a request against no limit when one of them refuses it', async () => {
      const { admission, store, clock } = await setup()
      const [ip, strict] = [identifier(), identifier()]
      const auth = { policy: 'auth' as const, identifier: strict, limit: 1, windowSeconds: 3_600 }
      expect((await admission.admit({ limits: [auth] }, clock.now())).limits[0]?.success).toBe(true)
      const refused = await admission.admit(
        { limits: [{ policy: 'global', identifier: ip, ...HOUR }, auth] },
        clock.now(),
      )
      expect(refused.limits.map((l) => [l.success, l.remaining])).toEqual([
        [true, 3],
        [false, 0],
      ])
      // The global limit still has all three places: the refused request took none.
      const after = []
      for (let i = 0; i <= HOUR.limit; i++) after.push((await store.limit('global', ip, HOUR, clock.now())).success)
      expect(after).toEqual([true, true, true, false])
    })

    it('counts a request against every limit when all admit it', async () => {
      const { admission, clock } = await setup()
      const limits = POLICIES.map((policy) => ({ policy, identifier: identifier(), ...HOUR }))
      const first = await admission.admit({ limits }, clock.now())
      expect(first.limits.map((l) => [l.success, l.remaining])).toEqual(POLICIES.map(() => [true, 2]))
      expect(first.revocation).toBeUndefined()
    })

    it('checks the token, its session and its user for revocation with the limits, or alone', async () => {
      const { admission, revocation, clock } = await setup()
      const nowSeconds = Math.floor(clock.now() / 1_000)
      const subject = () => ({ jti: identifier(), sid: identifier(), sub: identifier(), iat: nowSeconds - 10 })
      const ask = async (s: ReturnType<typeof subject>) =>
        await admission.admit({ limits: [], revocation: s }, clock.now())
      const fresh = subject()
      expect(await ask(fresh)).toEqual({ limits: [], revocation: { status: 'ok' } })
      const token = subject()
      await revocation.revoke({ jti: token.jti, exp: nowSeconds + 60 }, nowSeconds)
      expect((await ask(token)).revocation).toEqual({ status: 'revoked', scope: 'token' })
      const session = subject()
      await revocation.revokeSession(session.sid)
      expect((await ask(session)).revocation).toEqual({ status: 'revoked', scope: 'session' })
      const user = subject()
      await revocation.revokeUserBefore(user.sub, nowSeconds)
      expect((await ask(user)).revocation).toEqual({ status: 'revoked', scope: 'user' })
      // A token issued at or after the user's cutoff is still good.
      expect((await ask({ ...user, jti: identifier(), sid: identifier(), iat: nowSeconds })).revocation).toEqual({
        status: 'ok',
      })
    })

    it("does not count a revoked token's request against its user, only against its address", async () => {
      const { admission, revocation, store, clock } = await setup()
      const nowSeconds = Math.floor(clock.now() / 1_000)
      const subject = { jti: identifier(), sid: identifier(), sub: identifier(), iat: nowSeconds - 10 }
      await revocation.revokeSession(subject.sid)
      const [ip, user] = [identifier(), identifier()]
      const limits = [
        { policy: 'global' as const, identifier: ip, ...HOUR },
        { policy: 'user' as const, identifier: user, ...HOUR },
      ]
      const decided = await admission.admit({ limits, revocation: subject }, clock.now())
      expect(decided.revocation).toEqual({ status: 'revoked', scope: 'session' })
      expect(decided.limits.map((l) => [l.success, l.remaining])).toEqual([
        [true, 2],
        [true, 3],
      ])
      expect(await store.limit('user', user, HOUR, clock.now())).toMatchObject({ success: true, remaining: 2 })
    })
  })
}

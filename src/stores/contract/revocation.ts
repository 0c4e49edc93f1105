/**
 * What every RevocationStore must do, as `describe`/`it` blocks a test file declares for one implementation.
 * The contract picks short lifetimes (1 s skew, 1 s access tokens) so a real Redis needs only about two seconds
 * of sleeping to show that entries expire.
 */
import { describe, expect, it } from 'vitest'
import type { RevocationTimings } from '../redis/revocation'
import type { RevocationStore, RevocationSubject } from '../types'
import type { TestClock } from './clock'

export interface RevocationHarness {
  store: RevocationStore
  /** The clock the store's lifetimes run on. */
  clock: TestClock
}

/** Session and user entries live 2 s; a token entry its remaining lifetime + 1 s, at least 1 s. */
const TIMINGS: RevocationTimings = { clockSkewSeconds: 1, accessTtlSeconds: 1 }
/** Added to every wait: Redis counts a TTL from when it received the write, a little after we sent it. */
const SLACK_MS = 100

const subject = (iat = 1_000): RevocationSubject => ({
  jti: crypto.randomUUID(),
  sid: crypto.randomUUID(),
  sub: crypto.randomUUID(),
  iat,
})

const OK = { status: 'ok' }
const revoked = (scope: 'token' | 'session' | 'user') => ({ status: 'revoked', scope })

export function revocationStoreContract(
  name: string,
  make: (timings: RevocationTimings) => RevocationHarness | Promise<RevocationHarness>,
): void {
  describe(`RevocationStore contract: ${name}`, () => {
    const setup = async () => {
      const harness = await make(TIMINGS)
      const nowSeconds = () => Math.floor(harness.clock.now() / 1000)
      return { ...harness, nowSeconds }
    }

    it('reports ok for a subject nothing was revoked for', async () => {
      const { store } = await setup()
      expect(await store.check(subject())).toEqual(OK)
    })

    it('revokes one token without touching its session or user', async () => {
      const { store, nowSeconds } = await setup()
      const s = subject()
      await store.revoke({ jti: s.jti, exp: nowSeconds() + 1 }, nowSeconds())
      expect(await store.check(s)).toEqual(revoked('token'))
      expect(await store.check({ ...s, jti: crypto.randomUUID() })).toEqual(OK)
    })

    it('revokes a whole session with the token, or alone, whatever the jti', async () => {
      const { store, nowSeconds } = await setup()
      const withToken = subject()
      await store.revoke({ jti: withToken.jti, exp: nowSeconds() + 1, sid: withToken.sid }, nowSeconds())
      expect(await store.check({ ...withToken, jti: crypto.randomUUID() })).toEqual(revoked('session'))
      const alone = subject()
      await store.revokeSession(alone.sid)
      expect(await store.check(alone)).toEqual(revoked('session'))
      expect(await store.check({ ...alone, sid: crypto.randomUUID() })).toEqual(OK)
    })

    it('revokes the tokens of a user issued before the cutoff only, and for that user only', async () => {
      const { store } = await setup()
      const s = subject()
      await store.revokeUserBefore(s.sub, 2_000)
      expect(await store.check({ ...s, iat: 1_999 })).toEqual(revoked('user'))
      expect(await store.check({ ...s, iat: 2_000 })).toEqual(OK)
      expect(await store.check({ ...s, iat: 1_999, sub: crypto.randomUUID() })).toEqual(OK)
    })

    it('only ever moves the user cutoff forward', async () => {
      const { store } = await setup()
      const s = subject()
      await store.revokeUserBefore(s.sub, 2_000)
      await store.revokeUserBefore(s.sub, 1_500) // a late, older logout-all
      expect(await store.check({ ...s, iat: 1_999 })).toEqual(revoked('user'))
      await store.revokeUserBefore(s.sub, 3_000)
      expect(await store.check({ ...s, iat: 2_999 })).toEqual(revoked('user'))
      expect(await store.check({ ...s, iat: 3_000 })).toEqual(OK)
    })

    it('names the narrowest scope: token before session before user', async () => {
      const { store, nowSeconds } = await setup()
      const s = subject()
      await store.revokeUserBefore(s.sub, s.iat + 1)
      expect(await store.check(s)).toEqual(revoked('user'))
      await store.revokeSession(s.sid)
      expect(await store.check(s)).toEqual(revoked('session'))
      await store.revoke({ jti: s.jti, exp: nowSeconds() + 1 }, nowSeconds())
      expect(await store.check(s)).toEqual(revoked('token'))
    })

    it('lets every entry expire: a token after its remaining lifetime + skew, the rest after access TTL + skew', async () => {
      const { store, clock, nowSeconds } = await setup()
      const expired = subject() // already past exp: still kept for the 1-second minimum
      const live = subject() // exp in 1 s: kept 1 s + 1 s skew
      const session = subject()
      const user = subject()
      const renewed = subject()
      await store.revoke({ jti: expired.jti, exp: nowSeconds() - 100 }, nowSeconds())
      await store.revoke({ jti: live.jti, exp: nowSeconds() + 1 }, nowSeconds())
      await store.revokeSession(session.sid)
      await store.revokeUserBefore(user.sub, user.iat + 1)
      await store.revokeUserBefore(renewed.sub, renewed.iat + 1)
      expect(await store.check(expired)).toEqual(revoked('token'))

      await clock.advance(1_000 + SLACK_MS)
      expect(await store.check(expired)).toEqual(OK)
      expect(await store.check(live)).toEqual(revoked('token'))
      expect(await store.check(session)).toEqual(revoked('session'))
      expect(await store.check(user)).toEqual(revoked('user'))
      // Writing a cutoff again, even an older one, restarts the entry's lifetime.
      await store.revokeUserBefore(renewed.sub, renewed.iat)

      await clock.advance(1_000 + SLACK_MS)
      expect(await store.check(live)).toEqual(OK)
      expect(await store.check(session)).toEqual(OK)
      expect(await store.check(user)).toEqual(OK)
      expect(await store.check(renewed)).toEqual(revoked('user'))
    })
  })
}

/**
 * What every AccountTokenStore must do, as `describe`/`it` blocks a test file declares for one implementation. The
 * harness gives each test a store with no tokens yet (`purgeExpired` counts store-wide), users to issue for, and a
 * clock it moves by hand.
 */
import { describe, expect, it } from 'vitest'
import type { AccountTokenPurpose, AccountTokenStore } from '../types'
import type { TestClock } from './clock'
import { foreignToken } from './refresh-tokens'

export interface AccountTokenHarness {
  store: AccountTokenStore
  clock: TestClock
  /** Creates an account the store can issue for; returns its id. */
  createUser(): Promise<string>
}

const RESET = { purpose: 'password_reset', ttlSeconds: 1_800 } as const
const VERIFY = { purpose: 'verify_email', ttlSeconds: 86_400, pendingPasswordHash: 'pending-hash' } as const

export function accountTokenStoreContract(
  name: string,
  make: () => AccountTokenHarness | Promise<AccountTokenHarness>,
): void {
  describe(`AccountTokenStore contract: ${name}`, () => {
    const setup = async () => {
      const harness = await make()
      const userId = await harness.createUser()
      const now = () => Math.floor(harness.clock.now() / 1000)
      return { ...harness, userId, now, advance: (seconds: number) => harness.clock.advance(seconds * 1000) }
    }

    it('issues a 256-bit base64url token, found with its grant until it is consumed, once', async () => {
      const { store, userId, now } = await setup()
      const issued = await store.issue({ userId, ...VERIFY })
      expect(issued).toEqual({ token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/), expiresAt: now() + 86_400 })
      const grant = {
        userId,
        purpose: 'verify_email',
        pendingPasswordHash: 'pending-hash',
        expiresAt: issued.expiresAt,
      }
      expect(await store.find(issued.token, 'verify_email')).toEqual(grant)
      expect(await store.find(issued.token, 'verify_email')).toEqual(grant)
      expect(await store.consume(issued.token, 'verify_email')).toEqual(grant)
      expect(await store.consume(issued.token, 'verify_email')).toBeNull()
      expect(await store.find(issued.token, 'verify_email')).toBeNull()
    })

    it('gives a reset token no pending password', async () => {
      const { store, userId, now } = await setup()
      const issued = await store.issue({ userId, ...RESET })
      expect(await store.consume(issued.token, 'password_reset')).toEqual({
        userId,
        purpose: 'password_reset',
        pendingPasswordHash: null,
        expiresAt: now() + 1_800,
      })
    })

    it('hands one token to exactly one of many concurrent consumers', async () => {
      const { store, userId } = await setup()
      const { token } = await store.issue({ userId, ...RESET })
      const results = await Promise.all(Array.from({ length: 10 }, () => store.consume(token, 'password_reset')))
      expect(results.filter((r) => r !== null)).toHaveLength(1)
    })

    it('stops accepting a token when its lifetime is over, to the second', async () => {
      const { store, userId, advance } = await setup()
      const { token } = await store.issue({ userId, ...RESET })
      await advance(RESET.ttlSeconds - 1)
      expect(await store.find(token, 'password_reset')).not.toBeNull()
      await advance(1)
      expect(await store.find(token, 'password_reset')).toBeNull()
      expect(await store.consume(token, 'password_reset')).toBeNull()
    })

    it('accepts a token for its own purpose only, and a refusal does not consume it', async () => {
      const { store, userId } = await setup()
      const reset = await store.issue({ userId, ...RESET })
      const verify = await store.issue({ userId, ...VERIFY })
      expect(await store.consume(reset.token, 'verify_email')).toBeNull()
      expect(await store.find(verify.token, 'password_reset')).toBeNull()
      expect(await store.consume(reset.token, 'password_reset')).not.toBeNull()
      expect(await store.consume(verify.token, 'verify_email')).not.toBeNull()
    })

    it('replaces the unconsumed token of the same purpose and user, and no other', async () => {
      const { store, userId, createUser } = await setup()
      const other = await createUser()
      const first = await store.issue({ userId, ...VERIFY, pendingPasswordHash: 'first' })
      const reset = await store.issue({ userId, ...RESET })
      const bystander = await store.issue({ userId: other, ...VERIFY })
      const second = await store.issue({ userId, ...VERIFY, pendingPasswordHash: 'second' })
      expect(second.token).not.toBe(first.token)
      expect(await store.find(first.token, 'verify_email')).toBeNull()
      expect(await store.consume(second.token, 'verify_email')).toMatchObject({ pendingPasswordHash: 'second' })
      expect(await store.find(reset.token, 'password_reset')).not.toBeNull()
      expect(await store.find(bystander.token, 'verify_email')).toMatchObject({ userId: other })
    })

    it("ends every unused token of a user, of both purposes, and no one else's", async () => {
      const { store, userId, createUser } = await setup()
      const other = await createUser()
      const verify = await store.issue({ userId, ...VERIFY })
      const reset = await store.issue({ userId, ...RESET })
      const bystander = await store.issue({ userId: other, ...RESET })
      expect(await store.revokeForUser(userId)).toBe(2)
      expect(await store.find(verify.token, 'verify_email')).toBeNull()
      expect(await store.consume(reset.token, 'password_reset')).toBeNull()
      expect(await store.find(bystander.token, 'password_reset')).toMatchObject({ userId: other })
      expect(await store.revokeForUser(userId)).toBe(0)
    })

    it('reads unknown and malformed tokens as null', async () => {
      const { store } = await setup()
      for (const token of [foreignToken(), '', 'x'.repeat(10_000), 'not a token', `${foreignToken()}=`]) {
        for (const purpose of ['verify_email', 'password_reset'] as AccountTokenPurpose[]) {
          expect(await store.find(token, purpose)).toBeNull()
          expect(await store.consume(token, purpose)).toBeNull()
        }
      }
    })

    it('refuses a bad lifetime, a missing or unexpected pending password, and an unknown user', async () => {
      const { store, userId } = await setup()
      await expect(store.issue({ userId, ...RESET, ttlSeconds: 0 })).rejects.toThrow(RangeError)
      await expect(store.issue({ userId, ...RESET, ttlSeconds: 1.5 })).rejects.toThrow(RangeError)
      await expect(store.issue({ userId, purpose: 'verify_email', ttlSeconds: 60 })).rejects.toThrow(RangeError)
      await expect(store.issue({ userId, ...RESET, pendingPasswordHash: 'h' })).rejects.toThrow(RangeError)
      await expect(store.issue({ userId: crypto.randomUUID(), ...RESET })).rejects.toThrow()
    })

    it('purges expired and consumed tokens, a bounded number at a time, and keeps live ones', async () => {
      const { store, userId, createUser, now, advance } = await setup()
      const short = await store.issue({ userId, ...RESET, ttlSeconds: 60 })
      const consumed = await store.issue({ userId: await createUser(), ...RESET })
      await store.consume(consumed.token, 'password_reset')
      const expiring = await store.issue({ userId: await createUser(), ...RESET, ttlSeconds: 60 })
      const live = await store.issue({ userId, ...VERIFY })
      await advance(60)
      expect(await store.purgeExpired(now(), 2)).toBe(2)
      expect(await store.purgeExpired(now())).toBe(1)
      expect(await store.purgeExpired(now())).toBe(0)
      expect(await store.find(short.token, 'password_reset')).toBeNull()
      expect(await store.find(expiring.token, 'password_reset')).toBeNull()
      expect(await store.find(live.token, 'verify_email')).not.toBeNull()
    })
  })
}

/**
 * What every RefreshTokenStore must do, as `describe`/`it` blocks a test file declares for one implementation.
 * The harness gives each test a store with no families yet (`purgeExpired` counts rows store-wide), users to
 * issue for, and a clock it moves by hand.
 */
import { describe, expect, it } from 'vitest'
import type { UserStore } from '../types'
import { DAY, GRACE, harnessSetup, INVALID, type RefreshTokenHarness, TTL, tokenOf } from './refresh-harness'
import { refreshSessionCases } from './refresh-sessions'

export type { RefreshTokenHarness }

/** Creates accounts with fresh addresses in `users`: a harness's `createUser`. */
export function userFactory(users: UserStore): () => Promise<string> {
  return async () => {
    const result = await users.create({ email: `${crypto.randomUUID()}@example.com`, passwordHash: 'h' })
    if (!result.created) throw new Error('user not created')
    return result.user.id
  }
}

/** A well-formed token no store issued (43 base64url characters). */
export function foreignToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

export function refreshTokenStoreContract(
  name: string,
  make: () => RefreshTokenHarness | Promise<RefreshTokenHarness>,
): void {
  describe(`RefreshTokenStore contract: ${name}`, () => {
    refreshSessionCases(() => harnessSetup(make))
    const setup = () => harnessSetup(make)

    it('issues a 256-bit base64url token that expires after the idle TTL, capped by the absolute one', async () => {
      const { store, userId, now } = await setup()
      const issued = await store.issue(userId, TTL)
      expect(issued).toEqual({
        token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        familyId: expect.any(String),
        userId,
        expiresAt: now() + 7 * DAY,
      })
      expect(await store.findFamily(issued.token)).toEqual({ familyId: issued.familyId, userId })
      expect(await store.isFamilyLive(issued.familyId)).toBe(true)
      const short = await store.issue(userId, { client: 'web', absoluteTtlSeconds: 60, idleTtlSeconds: 120 })
      expect(short.expiresAt).toBe(now() + 60)
      expect(short.familyId).not.toBe(issued.familyId)
    })

    it('refuses to issue with a non-positive or fractional TTL, or for an unknown user', async () => {
      const { store, userId } = await setup()
      await expect(store.issue(userId, { ...TTL, idleTtlSeconds: 0 })).rejects.toThrow(RangeError)
      await expect(store.issue(userId, { ...TTL, absoluteTtlSeconds: 1.5 })).rejects.toThrow(RangeError)
      await expect(store.issue(crypto.randomUUID(), TTL)).rejects.toThrow()
    })

    it('rotates A to B in the same family, restarting the idle clock; B rotates in turn', async () => {
      const { store, userId, now, advance } = await setup()
      const a = await store.issue(userId, TTL)
      await advance(60)
      const b = await store.rotate(a.token, GRACE)
      expect(b).toEqual({
        kind: 'rotated',
        token: expect.any(String),
        familyId: a.familyId,
        userId,
        expiresAt: now() + 7 * DAY,
      })
      expect(tokenOf(b)).not.toBe(a.token)
      expect(await store.findFamily(tokenOf(b))).toEqual({ familyId: a.familyId, userId })
      expect((await store.rotate(tokenOf(b), GRACE)).kind).toBe('rotated')
    })

    it('gives the immediate parent the same child back inside the grace window, without revoking', async () => {
      const { store, userId, advance } = await setup()
      const a = await store.issue(userId, TTL)
      const b = await store.rotate(a.token, GRACE)
      await advance(GRACE.graceSeconds)
      const retry = await store.rotate(a.token, GRACE)
      expect(retry).toEqual({ ...b, kind: 'grace' })
      expect((await store.rotate(tokenOf(b), GRACE)).kind).toBe('rotated')
    })

    it('converges parallel rotations of one token on one child', async () => {
      const { store, userId } = await setup()
      const a = await store.issue(userId, TTL)
      const results = await Promise.all(Array.from({ length: 10 }, () => store.rotate(a.token, GRACE)))
      expect(results.filter((r) => r.kind === 'rotated')).toHaveLength(1)
      expect(results.filter((r) => r.kind === 'grace')).toHaveLength(9)
      const tokens = new Set(results.map(tokenOf))
      expect(tokens.size).toBe(1)
      expect((await store.rotate([...tokens][0] as string, GRACE)).kind).toBe('rotated')
    })

    it('treats a rotated token past the grace window as reuse: the family is revoked, the live child with it', async () => {
      const { store, userId, advance } = await setup()
      const a = await store.issue(userId, TTL)
      const b = tokenOf(await store.rotate(a.token, GRACE))
      await advance(GRACE.graceSeconds + 1)
      expect(await store.rotate(a.token, GRACE)).toEqual({ kind: 'reuse', familyId: a.familyId, userId })
      expect(await store.rotate(b, GRACE)).toEqual(INVALID)
      expect(await store.rotate(a.token, GRACE)).toEqual(INVALID)
      expect(await store.revokeFamily(a.familyId, 'again')).toBe(false)
      expect(await store.isFamilyLive(a.familyId)).toBe(false)
      // Logout by refresh token still finds the family of a dead token.
      expect(await store.findFamily(b)).toEqual({ familyId: a.familyId, userId })
    })

    it('treats a grandparent inside the grace window as reuse: only the immediate parent qualifies', async () => {
      const { store, userId, advance } = await setup()
      const a = await store.issue(userId, TTL)
      const b = tokenOf(await store.rotate(a.token, GRACE))
      await advance(1)
      const c = tokenOf(await store.rotate(b, GRACE))
      await advance(1)
      expect(tokenOf(await store.rotate(b, GRACE))).toBe(c)
      expect((await store.rotate(a.token, GRACE)).kind).toBe('reuse')
      expect(await store.rotate(c, GRACE)).toEqual(INVALID)
    })

    it('has no grace window at 0 s and caps it at 60 s', async () => {
      const { store, userId, advance } = await setup()
      const none = await store.issue(userId, TTL)
      await store.rotate(none.token, { graceSeconds: 0 })
      expect((await store.rotate(none.token, { graceSeconds: 0 })).kind).toBe('reuse')
      const capped = await store.issue(userId, TTL)
      await store.rotate(capped.token, { graceSeconds: 3_600 })
      await advance(60)
      expect((await store.rotate(capped.token, { graceSeconds: 3_600 })).kind).toBe('grace')
      await advance(1)
      expect((await store.rotate(capped.token, { graceSeconds: 3_600 })).kind).toBe('reuse')
    })

    it('refuses after the idle timeout; each rotation restarts it', async () => {
      const { store, userId, advance } = await setup()
      const a = await store.issue(userId, TTL)
      await advance(7 * DAY - 1)
      const b = tokenOf(await store.rotate(a.token, GRACE))
      await advance(7 * DAY - 1)
      const c = tokenOf(await store.rotate(b, GRACE))
      await advance(7 * DAY)
      expect(await store.rotate(c, GRACE)).toEqual(INVALID)
    })

    it('refuses after the absolute lifetime even with steady use', async () => {
      const { store, userId, now, advance } = await setup()
      const start = now()
      let token = (await store.issue(userId, { client: 'web', absoluteTtlSeconds: 100, idleTtlSeconds: 40 })).token
      for (let i = 0; i < 3; i++) {
        await advance(30)
        token = tokenOf(await store.rotate(token, GRACE))
      }
      await advance(9) // 99 s in: still inside, and the child is capped at the absolute expiry
      const last = await store.rotate(token, GRACE)
      expect(last).toMatchObject({ kind: 'rotated', expiresAt: start + 100 })
      await advance(1)
      expect(await store.rotate(tokenOf(last), GRACE)).toEqual(INVALID)
    })

    it('answers invalid alike for unknown, malformed, revoked, other-client and disabled-user tokens', async () => {
      const { store, userId, disableUser } = await setup()
      for (const token of [foreignToken(), '', 'x'.repeat(10_000), 'not a token']) {
        expect(await store.rotate(token, GRACE)).toEqual(INVALID)
        expect(await store.findFamily(token)).toBeNull()
      }
      const revoked = await store.issue(userId, TTL)
      expect(await store.revokeFamily(revoked.familyId, 'logout')).toBe(true)
      expect(await store.revokeFamily(revoked.familyId, 'logout')).toBe(false)
      expect(await store.rotate(revoked.token, GRACE)).toEqual(INVALID)
      expect(await store.findFamily(revoked.token)).toEqual({ familyId: revoked.familyId, userId })
      expect(await store.revokeFamily(crypto.randomUUID(), 'logout')).toBe(false)
      expect(await store.isFamilyLive(revoked.familyId)).toBe(false)
      expect(await store.isFamilyLive(crypto.randomUUID())).toBe(false)

      const other = await store.issue(userId, TTL)
      expect(await store.rotate(other.token, { ...GRACE, client: 'mobile' })).toEqual(INVALID)
      expect((await store.rotate(other.token, { ...GRACE, client: 'web' })).kind).toBe('rotated')

      const disabled = await store.issue(userId, TTL)
      const rotated = await store.issue(userId, TTL)
      await store.rotate(rotated.token, GRACE)
      await disableUser(userId)
      expect(await store.rotate(disabled.token, GRACE)).toEqual(INVALID)
      // Not even reuse: a disabled account's old token is simply invalid.
      expect(await store.rotate(rotated.token, { graceSeconds: 0 })).toEqual(INVALID)
    })

    it('revokes every live family of a user, closing the grace path too, and counts them', async () => {
      const { store, userId, createUser } = await setup()
      const bystander = await store.issue(await createUser(), TTL)
      const one = await store.issue(userId, TTL)
      const two = await store.issue(userId, TTL)
      const twoB = tokenOf(await store.rotate(two.token, GRACE))
      const gone = await store.issue(userId, TTL)
      await store.revokeFamily(gone.familyId, 'logout')
      expect(await store.revokeAllForUser(userId, 'logout_all')).toBe(2)
      expect(await store.revokeAllForUser(userId, 'logout_all')).toBe(0)
      expect(await store.rotate(one.token, GRACE)).toEqual(INVALID)
      expect(await store.rotate(twoB, GRACE)).toEqual(INVALID)
      expect(await store.rotate(two.token, GRACE)).toEqual(INVALID)
      expect((await store.rotate(bystander.token, GRACE)).kind).toBe('rotated')
    })

    it('revokes every live family of a user but one, and names the ones it revoked', async () => {
      const { store, userId, createUser } = await setup()
      const bystander = await store.issue(await createUser(), TTL)
      const kept = await store.issue(userId, TTL)
      const one = await store.issue(userId, TTL)
      const two = await store.issue(userId, TTL)
      const twoB = tokenOf(await store.rotate(two.token, GRACE))
      const gone = await store.issue(userId, TTL)
      await store.revokeFamily(gone.familyId, 'logout')
      const revoked = await store.revokeOtherFamilies(userId, kept.familyId, 'password_change')
      expect([...revoked].sort()).toEqual([one.familyId, two.familyId].sort())
      expect(await store.revokeOtherFamilies(userId, kept.familyId, 'password_change')).toEqual([])
      expect(await store.rotate(one.token, GRACE)).toEqual(INVALID)
      expect(await store.rotate(twoB, GRACE)).toEqual(INVALID)
      // The grace path of a revoked family is closed too.
      expect(await store.rotate(two.token, GRACE)).toEqual(INVALID)
      expect((await store.rotate(kept.token, GRACE)).kind).toBe('rotated')
      expect((await store.rotate(bystander.token, GRACE)).kind).toBe('rotated')
      // A family that is not the user's keeps nothing of theirs alive.
      const three = await store.issue(userId, TTL)
      const all = await store.revokeOtherFamilies(userId, bystander.familyId, 'password_change')
      expect([...all].sort()).toEqual([kept.familyId, three.familyId].sort())
    })

    it('purges dead families with their tokens, a bounded number at a time, and keeps live ones, revoked or not', async () => {
      const { store, userId, now, advance } = await setup()
      const short = { client: 'web', absoluteTtlSeconds: 100, idleTtlSeconds: 50 }
      const dead1 = await store.issue(userId, short)
      const dead1B = tokenOf(await store.rotate(dead1.token, GRACE)) // two tokens, dead at +50
      await advance(1)
      const dead2 = await store.issue(userId, short) // one token, dead at +51, revoked first
      await store.revokeFamily(dead2.familyId, 'logout')
      const live = await store.issue(userId, TTL)
      tokenOf(await store.rotate(live.token, GRACE))
      // Revoked but not yet dead: kept, so logout by refresh token still finds it.
      const revoked = await store.issue(userId, TTL)
      await store.revokeFamily(revoked.familyId, 'logout')
      await advance(99)
      expect(await store.purgeExpired(now(), 1)).toBe(3) // the oldest family and its two tokens
      expect(await store.findFamily(dead1B)).toBeNull()
      expect(await store.findFamily(dead2.token)).toEqual({ familyId: dead2.familyId, userId })
      expect(await store.purgeExpired(now())).toBe(2)
      expect(await store.purgeExpired(now())).toBe(0)
      expect(await store.findFamily(dead2.token)).toBeNull()
      expect(await store.findFamily(live.token)).toEqual({ familyId: live.familyId, userId })
      expect(await store.findFamily(revoked.token)).toEqual({ familyId: revoked.familyId, userId })
    })
  })
}

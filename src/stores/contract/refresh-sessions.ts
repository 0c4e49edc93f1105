/**
 * The RefreshTokenStore contract's cases for sessions as a user sees them (listing them, ending one of them),
 * declared inside `refreshTokenStoreContract`, which every implementation runs.
 */
import { expect, it } from 'vitest'
import { DAY, GRACE, type harnessSetup, INVALID, TTL, tokenOf } from './refresh-harness'

export function refreshSessionCases(setup: () => ReturnType<typeof harnessSetup>): void {
  it('lists the live families of a user, newest first (logins of one second in order), with their times', async () => {
    const { store, userId, createUser, now, advance } = await setup()
    const start = now()
    const first = await store.issue(userId, TTL)
    await advance(10)
    const second = await store.issue(userId, { ...TTL, client: 'mobile' })
    const revoked = await store.issue(userId, TTL)
    await store.revokeFamily(revoked.familyId, 'logout')
    const short = await store.issue(userId, { client: 'web', absoluteTtlSeconds: 30, idleTtlSeconds: 20 })
    await store.issue(await createUser(), TTL)
    await advance(19)
    await store.rotate(first.token, GRACE)
    const web = { client: 'web' }
    expect(await store.listFamilies(userId, now())).toEqual([
      { id: short.familyId, ...web, createdAt: start + 10, lastUsedAt: start + 10, expiresAt: start + 30 },
      {
        id: second.familyId,
        client: 'mobile',
        createdAt: start + 10,
        lastUsedAt: start + 10,
        expiresAt: start + 10 + 7 * DAY,
      },
      { id: first.familyId, ...web, createdAt: start, lastUsedAt: start + 29, expiresAt: start + 29 + 7 * DAY },
    ])
    // Live means an idle expiry after the `now` given.
    expect((await store.listFamilies(userId, start + 30)).map((f) => f.id)).toEqual([second.familyId, first.familyId])
    expect(await store.listFamilies(await createUser(), now())).toEqual([])
  })

  it('lists at most 100 families, the most recent', async () => {
    const { store, userId, now, advance } = await setup()
    const issued: string[] = []
    for (let i = 0; i < 101; i++) {
      issued.push((await store.issue(userId, TTL)).familyId)
      await advance(1)
    }
    const listed = await store.listFamilies(userId, now())
    expect(listed.map((f) => f.id)).toEqual(issued.slice(1).reverse())
  })

  it("revokes a family only for its owner and only while it is live; another user's stays untouched", async () => {
    const { store, userId, createUser, now, advance } = await setup()
    const victimId = await createUser()
    const victim = await store.issue(victimId, TTL)
    expect(await store.revokeFamilyOf(userId, victim.familyId, 'session_revoked')).toBe('not_found')
    expect((await store.listFamilies(victimId, now())).map((f) => f.id)).toEqual([victim.familyId])
    expect((await store.rotate(victim.token, GRACE)).kind).toBe('rotated')

    const own = await store.issue(userId, TTL)
    const child = tokenOf(await store.rotate(own.token, GRACE))
    expect(await store.revokeFamilyOf(userId, own.familyId, 'session_revoked')).toBe('revoked')
    // Its owner may ask again (a retry after a failed follow-up write): the family is not revoked twice.
    expect(await store.revokeFamilyOf(userId, own.familyId, 'session_revoked')).toBe('already_revoked')
    expect(await store.revokeFamily(own.familyId, 'logout')).toBe(false)
    expect(await store.rotate(child, GRACE)).toEqual(INVALID)
    // The grace path is closed too: the parent inside the window gets nothing.
    expect(await store.rotate(own.token, GRACE)).toEqual(INVALID)
    expect(await store.listFamilies(userId, now())).toEqual([])
    // Someone else's revoked family, an unknown id and a malformed one alike.
    expect(await store.revokeFamilyOf(victimId, own.familyId, 'session_revoked')).toBe('not_found')
    expect(await store.revokeFamilyOf(userId, crypto.randomUUID(), 'session_revoked')).toBe('not_found')
    expect(await store.revokeFamilyOf(userId, "x' OR 1=1 --", 'session_revoked')).toBe('not_found')

    const expired = await store.issue(userId, { client: 'web', absoluteTtlSeconds: 30, idleTtlSeconds: 20 })
    await advance(20)
    expect(await store.revokeFamilyOf(userId, expired.familyId, 'session_revoked')).toBe('not_found')
    // Nothing was written: the dead family was still unrevoked.
    expect(await store.revokeFamily(expired.familyId, 'logout')).toBe(true)
    // The victim's family is still live: its rotated token replayed is reuse, where a revoked family's is invalid.
    expect((await store.rotate(victim.token, { graceSeconds: 0 })).kind).toBe('reuse')
  })
}

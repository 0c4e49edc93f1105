/**
 * What every UserStore must do, as `describe`/`it` blocks a test file declares for one implementation. Stores may
 * share state between tests (one D1 database per test file), so every test uses addresses of its own.
 */
import { describe, expect, it } from 'vitest'
import type { UserStore } from '../types'
import type { TestClock } from './clock'

export interface UserHarness {
  store: UserStore
  /** The clock the store stamps `createdAt` and `updatedAt` with. */
  clock: TestClock
}

const local = () => crypto.randomUUID().slice(0, 8)

async function created(store: UserStore, email: string, passwordHash = 'h', scopes?: string[]) {
  const result = await store.create({ email, passwordHash, ...(scopes ? { scopes } : {}) })
  if (!result.created) throw new Error(`${email} was not created`)
  return result.user
}

export function userStoreContract(name: string, make: () => UserHarness | Promise<UserHarness>): void {
  describe(`UserStore contract: ${name}`, () => {
    it('creates a user with a normalized email, finds it by email in any case and by id', async () => {
      const { store, clock } = await make()
      const id = local()
      const user = await created(store, `  ${id.toUpperCase()}@Example.COM `, 'h1', ['read', 'write'])
      expect(user).toEqual({
        id: expect.stringMatching(/^[0-9a-f-]{36}$/),
        email: `${id}@example.com`,
        passwordHash: 'h1',
        scopes: ['read', 'write'],
        createdAt: Math.floor(clock.now() / 1000),
        updatedAt: Math.floor(clock.now() / 1000),
        disabledAt: null,
        emailVerifiedAt: Math.floor(clock.now() / 1000),
      })
      expect(await store.findByEmail(`${id}@EXAMPLE.com\t`)).toEqual(user)
      expect(await store.findById(user.id)).toEqual(user)
    })

    it('normalizes to NFC: a decomposed address is the same account', async () => {
      const { store } = await make()
      const id = local()
      const user = await created(store, `E\u0301lise.${id}@x.io`)
      expect(user.email).toBe(`\u00e9lise.${id}@x.io`)
      expect(await store.findByEmail(`\u00c9lise.${id}@x.io`)).toEqual(user)
    })

    it('answers created: false for a duplicate email in any case, and keeps the first account', async () => {
      const { store } = await make()
      const email = `${local()}@example.com`
      const first = await created(store, email, 'first')
      expect(await store.create({ email: email.toUpperCase(), passwordHash: 'other' })).toEqual({ created: false })
      expect(await store.create({ email: ` ${email} `, passwordHash: 'other' })).toEqual({ created: false })
      expect(await store.findByEmail(email)).toEqual(first)
    })

    it('gives every user its own id', async () => {
      const { store } = await make()
      const a = await created(store, `${local()}@example.com`)
      const b = await created(store, `${local()}@example.com`)
      expect(a.id).not.toBe(b.id)
    })

    it('reads no scopes back as []', async () => {
      const { store } = await make()
      const user = await created(store, `${local()}@example.com`)
      expect(user.scopes).toEqual([])
      expect((await store.findById(user.id))?.scopes).toEqual([])
    })

    it.each([
      ['a control character in the email', 'a\nb@x.io', []],
      ['an empty email', '   ', []],
      ['an email over 254 bytes', `${'a'.repeat(250)}@x.io`, []],
      ['a scope with whitespace', 'ok@x.io', ['a b']],
      ['an empty scope', 'ok@x.io', ['']],
    ])('refuses %s with a RangeError and stores nothing', async (_case, email, scopes) => {
      const { store } = await make()
      const unique = email.replace('ok@', `${local()}@`)
      await expect(store.create({ email: unique, passwordHash: 'h', scopes })).rejects.toThrow(RangeError)
      expect(await store.findByEmail(unique)).toBeNull()
    })

    it('finds nothing for an unknown or unacceptable address or id', async () => {
      const { store } = await make()
      expect(await store.findByEmail(`${local()}@example.com`)).toBeNull()
      expect(await store.findByEmail('a\u0000@x.io')).toBeNull()
      expect(await store.findById(crypto.randomUUID())).toBeNull()
    })

    it('replaces the password hash and bumps updatedAt only; false for an unknown id', async () => {
      const { store, clock } = await make()
      const user = await created(store, `${local()}@example.com`, 'old')
      await clock.advance(500_000)
      expect(await store.setPasswordHash(user.id, 'new')).toBe(true)
      expect(await store.findById(user.id)).toEqual({
        ...user,
        passwordHash: 'new',
        updatedAt: user.createdAt + 500,
      })
      expect(await store.setPasswordHash(crypto.randomUUID(), 'new')).toBe(false)
    })

    it('replaces the password hash only over the expected one, when one is given', async () => {
      const { store, clock } = await make()
      const user = await created(store, `${local()}@example.com`, 'verified')
      // A reset landed after the re-hash verified the old password: the re-hash must not undo it.
      expect(await store.setPasswordHash(user.id, 'reset')).toBe(true)
      await clock.advance(2_000)
      expect(await store.setPasswordHash(user.id, 'rehashed', 'verified')).toBe(false)
      expect(await store.findById(user.id)).toMatchObject({ passwordHash: 'reset', updatedAt: user.createdAt })
      expect(await store.setPasswordHash(user.id, 'rehashed', 'reset')).toBe(true)
      expect(await store.findById(user.id)).toMatchObject({ passwordHash: 'rehashed', updatedAt: user.createdAt + 2 })
      expect(await store.setPasswordHash(crypto.randomUUID(), 'x', 'reset')).toBe(false)
    })

    it('disables and enables an account without touching updatedAt; false for an unknown id', async () => {
      const { store, clock } = await make()
      const user = await created(store, `${local()}@example.com`)
      await clock.advance(1_000)
      const at = Math.floor(clock.now() / 1000)
      expect(await store.setDisabled(user.id, at)).toBe(true)
      expect(await store.findById(user.id)).toEqual({ ...user, disabledAt: at })
      expect(await store.findByEmail(user.email)).toEqual({ ...user, disabledAt: at })
      expect(await store.setDisabled(user.id, null)).toBe(true)
      expect(await store.findById(user.id)).toEqual(user)
      expect(await store.setDisabled(crypto.randomUUID(), at)).toBe(false)
    })

    it('replaces the scopes and bumps updatedAt; none at all is allowed; false for an unknown id', async () => {
      const { store, clock } = await make()
      const user = await created(store, `${local()}@example.com`, 'h', ['read'])
      await clock.advance(2_000)
      expect(await store.setScopes(user.id, ['edgeward:admin', 'write'])).toBe(true)
      const changed = { ...user, scopes: ['edgeward:admin', 'write'], updatedAt: user.createdAt + 2 }
      expect(await store.findById(user.id)).toEqual(changed)
      expect(await store.setScopes(user.id, [])).toBe(true)
      expect((await store.findById(user.id))?.scopes).toEqual([])
      expect(await store.setScopes(crypto.randomUUID(), ['read'])).toBe(false)
    })

    it.each([
      ['a scope with whitespace', ['a b']],
      ['an empty scope', ['read', '']],
    ])('refuses to set %s with a RangeError and changes nothing', async (_case, scopes) => {
      const { store } = await make()
      const user = await created(store, `${local()}@example.com`, 'h', ['read'])
      await expect(store.setScopes(user.id, scopes)).rejects.toThrow(RangeError)
      expect(await store.findById(user.id)).toEqual(user)
    })

    it('deletes an account: found by neither id nor email, its address free again; false once gone', async () => {
      const { store } = await make()
      const user = await created(store, `${local()}@example.com`)
      const kept = await created(store, `${local()}@example.com`)
      expect(await store.delete(user.id)).toBe(true)
      expect(await store.findById(user.id)).toBeNull()
      expect(await store.findByEmail(user.email)).toBeNull()
      expect(await store.delete(user.id)).toBe(false)
      expect(await store.findById(kept.id)).toEqual(kept)
      const again = await created(store, user.email)
      expect(again.id).not.toBe(user.id)
    })

    it('creates a pending account with verified: false, and verifies it once, with the password given then', async () => {
      const { store, clock } = await make()
      const result = await store.create({ email: `${local()}@example.com`, passwordHash: 'first', verified: false })
      if (!result.created) throw new Error('not created')
      const pending = result.user
      expect(pending.emailVerifiedAt).toBeNull()
      expect(await store.findById(pending.id)).toEqual(pending)
      await clock.advance(60_000)
      expect(await store.verifyEmail(pending.id, 'chosen')).toBe(true)
      const verified = {
        ...pending,
        passwordHash: 'chosen',
        emailVerifiedAt: pending.createdAt + 60,
        updatedAt: pending.createdAt + 60,
      }
      expect(await store.findById(pending.id)).toEqual(verified)
      // Once verified, a second verification changes nothing: it cannot replace the password.
      await clock.advance(60_000)
      expect(await store.verifyEmail(pending.id, 'other')).toBe(false)
      expect(await store.findById(pending.id)).toEqual(verified)
    })

    it('verifies no account that is verified already, disabled or unknown', async () => {
      const { store } = await make()
      const verified = await created(store, `${local()}@example.com`, 'h')
      expect(await store.verifyEmail(verified.id, 'new')).toBe(false)
      expect((await store.findById(verified.id))?.passwordHash).toBe('h')
      const result = await store.create({ email: `${local()}@example.com`, passwordHash: 'h', verified: false })
      if (!result.created) throw new Error('not created')
      await store.setDisabled(result.user.id, result.user.createdAt)
      expect(await store.verifyEmail(result.user.id, 'new')).toBe(false)
      expect(await store.findById(result.user.id)).toMatchObject({ passwordHash: 'h', emailVerifiedAt: null })
      expect(await store.verifyEmail(crypto.randomUUID(), 'new')).toBe(false)
    })

    it('hands out copies: changing a returned user changes nothing stored', async () => {
      const { store } = await make()
      const user = await created(store, `${local()}@example.com`, 'h', ['read'])
      user.scopes.push('admin')
      user.passwordHash = 'changed'
      const found = await store.findById(user.id)
      expect(found).toMatchObject({ passwordHash: 'h', scopes: ['read'] })
      if (found) found.scopes.length = 0
      expect((await store.findByEmail(user.email))?.scopes).toEqual(['read'])
    })
  })
}

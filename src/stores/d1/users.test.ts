import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { createD1UserStore, normalizeEmail } from './users'

const users = createD1UserStore(env.DB, { clock: () => 1_800_000_000_000 })

describe('normalizeEmail', () => {
  it.each([
    ['  Alice@Example.COM ', 'alice@example.com'],
    ['BOB@x.io', 'bob@x.io'],
    ['E\u0301lise@x.io', '\u00e9lise@x.io'],
  ])('normalizes %j', (raw, expected) => {
    expect(normalizeEmail(raw)).toBe(expected)
  })

  it.each([
    ['empty', '   '],
    ['a NUL byte', 'a\u0000b@x.io'],
    ['a newline', 'a\nb@x.io'],
    ['a DEL', 'a\u007fb@x.io'],
    ['a line separator', 'a\u2028b@x.io'],
    ['255 bytes', `${'a'.repeat(250)}@x.io`],
    ['255 UTF-8 bytes in fewer characters', `${'é'.repeat(125)}@x.io`],
  ])('rejects %s', (_name, raw) => {
    expect(normalizeEmail(raw)).toBeNull()
  })

  it('accepts exactly 254 bytes', () => {
    expect(normalizeEmail(`${'a'.repeat(249)}@x.io`)).toHaveLength(254)
  })
})

describe('D1 UserStore', () => {
  it('creates a user with a normalized email and finds it by email (any case) and by id', async () => {
    const result = await users.create({ email: ' Carol@Example.com', passwordHash: 'h1', scopes: ['read', 'write'] })
    expect(result.created).toBe(true)
    if (!result.created) return
    expect(result.user).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: 'carol@example.com',
      passwordHash: 'h1',
      scopes: ['read', 'write'],
      createdAt: 1_800_000_000,
      updatedAt: 1_800_000_000,
      disabledAt: null,
      emailVerifiedAt: 1_800_000_000,
    })
    expect(await users.findByEmail('CAROL@EXAMPLE.COM  ')).toEqual(result.user)
    expect(await users.findById(result.user.id)).toEqual(result.user)
  })

  it('reports a duplicate email, whatever its case, as created: false without throwing', async () => {
    expect((await users.create({ email: 'dave@example.com', passwordHash: 'h' })).created).toBe(true)
    expect(await users.create({ email: 'DAVE@Example.COM', passwordHash: 'other' })).toEqual({ created: false })
    expect(await users.create({ email: ' dave@example.com ', passwordHash: 'other' })).toEqual({ created: false })
    const { results } = await env.DB.prepare("SELECT * FROM users WHERE email = 'dave@example.com'").all()
    expect(results).toHaveLength(1)
    expect(results[0]?.password_hash).toBe('h')
  })

  it('keeps the NOCASE unique index as a second line against a row written around the store', async () => {
    await env.DB.prepare("INSERT INTO users (id, email, password_hash) VALUES ('x1', 'erin@example.com', 'h')").run()
    await expect(
      env.DB.prepare("INSERT INTO users (id, email, password_hash) VALUES ('x2', 'ERIN@example.com', 'h')").run(),
    ).rejects.toThrow()
  })

  it('stores no scopes as an empty string and reads them back as []', async () => {
    const result = await users.create({ email: 'frank@example.com', passwordHash: 'h' })
    expect(result.created && result.user.scopes).toEqual([])
  })

  it('rejects an unacceptable email or scope with a RangeError, before any SQL', async () => {
    await expect(users.create({ email: 'a\nb@x.io', passwordHash: 'h' })).rejects.toThrow(RangeError)
    await expect(users.create({ email: 'g@x.io', passwordHash: 'h', scopes: ['a b'] })).rejects.toThrow(RangeError)
    await expect(users.create({ email: 'g@x.io', passwordHash: 'h', scopes: [''] })).rejects.toThrow(RangeError)
    expect(await users.findByEmail('g@x.io')).toBeNull()
  })

  it('returns null for unknown or unacceptable lookups', async () => {
    expect(await users.findByEmail('nobody@example.com')).toBeNull()
    expect(await users.findByEmail('a\u0000@x.io')).toBeNull()
    expect(await users.findById('00000000-0000-0000-0000-000000000000')).toBeNull()
  })

  it('replaces the password hash and bumps updated_at', async () => {
    const result = await users.create({ email: 'grace@example.com', passwordHash: 'old' })
    if (!result.created) throw new Error('not created')
    const later = createD1UserStore(env.DB, { clock: () => 1_800_000_500_000 })
    expect(await later.setPasswordHash(result.user.id, 'new')).toBe(true)
    expect(await users.findById(result.user.id)).toMatchObject({ passwordHash: 'new', updatedAt: 1_800_000_500 })
    expect(await later.setPasswordHash('missing', 'new')).toBe(false)
  })

  it('stores a pending account with email_verified_at NULL, as a row written by SQL without it is', async () => {
    const result = await users.create({ email: 'heidi@example.com', passwordHash: 'h', verified: false })
    expect(result.created && result.user.emailVerifiedAt).toBeNull()
    await env.DB.prepare("INSERT INTO users (id, email, password_hash) VALUES ('x3', 'ivan@example.com', 'h')").run()
    expect((await users.findById('x3'))?.emailVerifiedAt).toBeNull()
  })

  it('migration 0004 counts every account that existed before it as verified since its creation', async () => {
    const migration = env.TEST_MIGRATIONS.find((m) => m.name.startsWith('0004'))
    const backfill = migration?.queries.find((q) => q.includes('UPDATE users SET email_verified_at'))
    expect(backfill).toBeDefined()
    await env.DB.prepare(
      "INSERT INTO users (id, email, password_hash, created_at) VALUES ('x4', 'judy@example.com', 'h', 1234)",
    ).run()
    const verified = await users.create({ email: 'ken@example.com', passwordHash: 'h' })
    await env.DB.prepare(backfill as string).run()
    expect((await users.findById('x4'))?.emailVerifiedAt).toBe(1234)
    expect(verified.created && (await users.findById(verified.user.id))?.emailVerifiedAt).toBe(1_800_000_000)
  })
})

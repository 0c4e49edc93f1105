import { env } from 'cloudflare:workers'
import { beforeEach, describe, expect, it } from 'vitest'
import type { RotateResult } from '../types'
import { createD1RefreshTokenStore } from './refresh-tokens'
import { createD1UserStore } from './users'

const DAY = 86_400
const T0 = 1_800_000_000
const TTL = { client: 'web', absoluteTtlSeconds: 30 * DAY, idleTtlSeconds: 7 * DAY }
const GRACE = { graceSeconds: 10 }

/** A clock the test moves by hand, in seconds. */
let now = T0
const store = createD1RefreshTokenStore(env.DB, { clock: () => now * 1000 })
const users = createD1UserStore(env.DB, { clock: () => now * 1000 })

let userId: string
beforeEach(async () => {
  now = T0
  const result = await users.create({ email: `${crypto.randomUUID()}@example.com`, passwordHash: 'h' })
  if (!result.created) throw new Error('user not created')
  userId = result.user.id
})

function tokenOf(result: RotateResult): string {
  if (result.kind !== 'rotated' && result.kind !== 'grace') throw new Error(`expected a token, got ${result.kind}`)
  return result.token
}

async function familyTokens(familyId: string) {
  const { results } = await env.DB.prepare(
    'SELECT id, parent_id, child_id, status, rotated_at, revoked_at FROM refresh_tokens WHERE family_id = ?1 ORDER BY created_at, rowid',
  )
    .bind(familyId)
    .all<{ id: string; parent_id: string | null; child_id: string | null; status: string; rotated_at: number | null }>()
  return results
}

async function family(familyId: string) {
  return env.DB.prepare('SELECT * FROM refresh_token_families WHERE id = ?1').bind(familyId).first<{
    revoked_at: number | null
    revoked_reason: string | null
    last_used_at: number
    idle_expires_at: number
  }>()
}

describe('D1 RefreshTokenStore', () => {
  it('issues a 256-bit base64url token and stores only its SHA-256', async () => {
    const issued = await store.issue(userId, TTL)
    expect(issued.token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(issued.expiresAt).toBe(T0 + 7 * DAY)
    const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(issued.token))
    const hex = [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
    const row = await env.DB.prepare('SELECT status FROM refresh_tokens WHERE token_hash = ?1').bind(hex).first()
    expect(row).toEqual({ status: 'active' })
  })

  it('rotates A→B: B differs, A is rotated with rotated_at and child, B has parent A in the same family', async () => {
    const a = await store.issue(userId, TTL)
    now += 60
    const result = await store.rotate(a.token, GRACE)
    expect(result).toEqual({
      kind: 'rotated',
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      familyId: a.familyId,
      userId,
      expiresAt: now + 7 * DAY,
    })
    expect(tokenOf(result)).not.toBe(a.token)
    const [rowA, rowB] = await familyTokens(a.familyId)
    expect(rowA).toMatchObject({ status: 'rotated', rotated_at: now, child_id: rowB?.id })
    expect(rowB).toMatchObject({ status: 'active', parent_id: rowA?.id })
    expect(await family(a.familyId)).toMatchObject({ last_used_at: now, idle_expires_at: now + 7 * DAY })
    // B rotates in turn.
    expect((await store.rotate(tokenOf(result), GRACE)).kind).toBe('rotated')
  })

  it('gives the immediate parent the same child back inside the grace window (lost response retry)', async () => {
    const a = await store.issue(userId, TTL)
    const b = tokenOf(await store.rotate(a.token, GRACE))
    now += 3
    const retry = await store.rotate(a.token, GRACE)
    expect(retry).toMatchObject({ kind: 'grace', token: b, familyId: a.familyId, userId })
    expect((await family(a.familyId))?.revoked_at).toBeNull()
    expect((await store.rotate(b, GRACE)).kind).toBe('rotated')
  })

  it('converges 10 parallel rotations of one token on the same new token, with exactly one active token', async () => {
    const a = await store.issue(userId, TTL)
    const results = await Promise.all(Array.from({ length: 10 }, () => store.rotate(a.token, GRACE)))
    const kinds = results.map((r) => r.kind).sort()
    expect(kinds).toEqual(['grace', 'grace', 'grace', 'grace', 'grace', 'grace', 'grace', 'grace', 'grace', 'rotated'])
    const tokens = new Set(results.map(tokenOf))
    expect(tokens.size).toBe(1)
    expect(tokens.has(a.token)).toBe(false)
    const rows = await familyTokens(a.familyId)
    expect(rows.map((r) => r.status)).toEqual(['rotated', 'active'])
    expect((await family(a.familyId))?.revoked_at).toBeNull()
    // The converged token is the live one.
    expect((await store.rotate([...tokens][0] as string, GRACE)).kind).toBe('rotated')
  })

  it('treats a rotated token outside the grace window as reuse: family revoked, the live child then invalid', async () => {
    const a = await store.issue(userId, TTL)
    const b = tokenOf(await store.rotate(a.token, GRACE))
    now += GRACE.graceSeconds + 1
    expect(await store.rotate(a.token, GRACE)).toEqual({ kind: 'reuse', familyId: a.familyId, userId })
    expect(await family(a.familyId)).toMatchObject({ revoked_at: now, revoked_reason: 'reuse' })
    expect((await familyTokens(a.familyId)).map((r) => r.status)).toEqual(['rotated', 'revoked'])
    expect(await store.rotate(b, GRACE)).toEqual({ kind: 'invalid' })
    expect(await store.rotate(a.token, GRACE)).toEqual({ kind: 'invalid' })
  })

  it('treats a grandparent inside the grace window as reuse (only the immediate parent qualifies)', async () => {
    const a = await store.issue(userId, TTL)
    const b = tokenOf(await store.rotate(a.token, GRACE))
    now += 1
    const c = tokenOf(await store.rotate(b, GRACE))
    now += 1
    expect(tokenOf(await store.rotate(b, GRACE))).toBe(c)
    expect((await store.rotate(a.token, GRACE)).kind).toBe('reuse')
    expect(await store.rotate(c, GRACE)).toEqual({ kind: 'invalid' })
    expect(await store.rotate(b, GRACE)).toEqual({ kind: 'invalid' })
  })

  it('refuses after the absolute lifetime even with steady use', async () => {
    let token = (await store.issue(userId, TTL)).token
    for (let day = 1; day < 30; day++) {
      now = T0 + day * DAY
      token = tokenOf(await store.rotate(token, GRACE))
    }
    now = T0 + 30 * DAY - 1
    token = tokenOf(await store.rotate(token, GRACE))
    now = T0 + 30 * DAY + 1
    expect(await store.rotate(token, GRACE)).toEqual({ kind: 'invalid' })
  })

  it('refuses after the idle timeout, and rotation restarts the idle clock', async () => {
    const a = await store.issue(userId, TTL)
    now = T0 + 7 * DAY - 1
    const b = tokenOf(await store.rotate(a.token, GRACE))
    now += 7 * DAY - 1
    const c = tokenOf(await store.rotate(b, GRACE))
    now += 7 * DAY
    expect(await store.rotate(c, GRACE)).toEqual({ kind: 'invalid' })
  })

  it('answers invalid for unknown, malformed, revoked, other-client and disabled-user tokens alike', async () => {
    const random = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))
      .replaceAll('+', '-')
      .replaceAll('/', '_')
      .replace(/=+$/, '')
    expect(await store.rotate(random, GRACE)).toEqual({ kind: 'invalid' })
    expect(await store.rotate('', GRACE)).toEqual({ kind: 'invalid' })
    expect(await store.rotate('x'.repeat(10_000), GRACE)).toEqual({ kind: 'invalid' })

    const revoked = await store.issue(userId, TTL)
    expect(await store.revokeFamily(revoked.familyId, 'logout')).toBe(true)
    expect(await store.revokeFamily(revoked.familyId, 'logout')).toBe(false)
    expect(await store.rotate(revoked.token, GRACE)).toEqual({ kind: 'invalid' })

    const other = await store.issue(userId, TTL)
    expect(await store.rotate(other.token, { ...GRACE, client: 'mobile' })).toEqual({ kind: 'invalid' })
    expect((await store.rotate(other.token, { ...GRACE, client: 'web' })).kind).toBe('rotated')

    const disabled = await store.issue(userId, TTL)
    await env.DB.prepare('UPDATE users SET disabled_at = ?2 WHERE id = ?1').bind(userId, now).run()
    expect(await store.rotate(disabled.token, GRACE)).toEqual({ kind: 'invalid' })
  })

  it('records who revoked a family and why: logout-all marks only the live ones (behaviour: the store contract)', async () => {
    const one = await store.issue(userId, TTL)
    const gone = await store.issue(userId, TTL)
    await store.revokeFamily(gone.familyId, 'logout')
    expect(await store.revokeAllForUser(userId, 'logout_all')).toBe(1)
    expect(await family(one.familyId)).toMatchObject({ revoked_at: now, revoked_reason: 'logout_all' })
    expect((await family(gone.familyId))?.revoked_reason).toBe('logout')
  })

  it('purges dead families with their tokens, keeps live ones, and clears stale grace ciphertexts', async () => {
    // Start from a table holding only this test's rows.
    await env.DB.prepare('DELETE FROM refresh_token_families').run()
    const short = { client: 'web', absoluteTtlSeconds: 100, idleTtlSeconds: 50 }
    const dead1 = await store.issue(userId, short)
    tokenOf(await store.rotate(dead1.token, GRACE)) // two tokens
    await store.issue(userId, short) // one token
    const live = await store.issue(userId, TTL)
    tokenOf(await store.rotate(live.token, GRACE))
    now = T0 + 100
    expect(await store.purgeExpired(now, 1)).toBe(3) // the bound: one family, its two tokens
    expect(await store.purgeExpired(now)).toBe(2)
    expect(await store.purgeExpired(now)).toBe(0)
    const { results } = await env.DB.prepare('SELECT family_id, grace_ciphertext FROM refresh_tokens').all()
    expect(results.map((r) => r.family_id)).toEqual([live.familyId, live.familyId])
    expect(results.every((r) => r.grace_ciphertext === null)).toBe(true)
  })

  it('cascades a deleted user to its families and tokens (foreign keys on)', async () => {
    const issued = await store.issue(userId, TTL)
    await env.DB.prepare('DELETE FROM users WHERE id = ?1').bind(userId).run()
    expect(await family(issued.familyId)).toBeNull()
    expect(await familyTokens(issued.familyId)).toEqual([])
    await expect(store.issue('no-such-user', TTL)).rejects.toThrow()
  })

  it('keeps no plaintext token anywhere in D1', async () => {
    const issued: string[] = []
    const a = await store.issue(userId, TTL)
    issued.push(a.token)
    const b = tokenOf(await store.rotate(a.token, GRACE))
    const c = tokenOf(await store.rotate(b, GRACE))
    issued.push(b, c, tokenOf(await store.rotate(b, GRACE)))
    const d = await store.issue(userId, TTL)
    const [first, second] = await Promise.all([store.rotate(d.token, GRACE), store.rotate(d.token, GRACE)])
    issued.push(d.token, tokenOf(first), tokenOf(second))
    const tables = await env.DB.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'",
    ).all<{ name: string }>()
    let cells = 0
    for (const { name } of tables.results) {
      const { results } = await env.DB.prepare(`SELECT * FROM "${name}"`).all()
      for (const row of results) {
        for (const value of Object.values(row)) {
          cells++
          const text = String(value)
          for (const token of issued) expect(text.includes(token), `${name} holds a raw token`).toBe(false)
        }
      }
    }
    expect(cells).toBeGreaterThan(20)
  })
})

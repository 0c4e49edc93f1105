import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { sha256Hex } from '../../lib/crypto'
import { createD1AccountTokenStore } from './account-tokens'
import { createD1UserStore } from './users'

const clock = () => 1_800_000_000_000
const tokens = createD1AccountTokenStore(env.DB, { clock })
const users = createD1UserStore(env.DB, { clock })

async function userId(): Promise<string> {
  const result = await users.create({ email: `${crypto.randomUUID()}@example.com`, passwordHash: 'h' })
  if (!result.created) throw new Error('not created')
  return result.user.id
}

describe('D1 AccountTokenStore', () => {
  it('stores only the SHA-256 of a token, with its purpose, times and pending password', async () => {
    const id = await userId()
    const { token } = await tokens.issue({
      userId: id,
      purpose: 'verify_email',
      ttlSeconds: 600,
      pendingPasswordHash: 'p',
    })
    const { results } = await env.DB.prepare('SELECT * FROM account_tokens WHERE user_id = ?1').bind(id).all()
    expect(JSON.stringify(results)).not.toContain(token)
    expect(results).toEqual([
      {
        token_hash: await sha256Hex(token),
        user_id: id,
        purpose: 'verify_email',
        created_at: 1_800_000_000,
        expires_at: 1_800_000_600,
        consumed_at: null,
        pending_password_hash: 'p',
      },
    ])
    await tokens.consume(token, 'verify_email')
    const row = await env.DB.prepare('SELECT consumed_at FROM account_tokens WHERE user_id = ?1').bind(id).first()
    expect(row).toEqual({ consumed_at: 1_800_000_000 })
  })

  it('refuses, in the schema too, a verification token without a pending password and an unknown purpose', async () => {
    const id = await userId()
    const insert = (purpose: string, pending: string | null) =>
      env.DB.prepare(
        `INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at, pending_password_hash)
         VALUES (?1, ?2, ?3, 1, 2, ?4)`,
      )
        .bind('a'.repeat(64), id, purpose, pending)
        .run()
    await expect(insert('verify_email', null)).rejects.toThrow()
    await expect(insert('password_reset', 'p')).rejects.toThrow()
    await expect(insert('login', null)).rejects.toThrow()
  })

  it('deletes the tokens of a deleted user (ON DELETE CASCADE)', async () => {
    const id = await userId()
    await tokens.issue({ userId: id, purpose: 'password_reset', ttlSeconds: 600 })
    await env.DB.prepare('DELETE FROM users WHERE id = ?1').bind(id).run()
    const row = await env.DB.prepare('SELECT count(*) AS n FROM account_tokens WHERE user_id = ?1').bind(id).first()
    expect(row).toEqual({ n: 0 })
  })
})

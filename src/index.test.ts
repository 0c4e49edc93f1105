import { createScheduledController } from 'cloudflare:test'
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import worker from './index'

/** A user row written by SQL, for the stores the cron purges. */
async function insertUser(): Promise<string> {
  const userId = crypto.randomUUID()
  await env.DB.prepare(
    "INSERT INTO users (id, email, password_hash, created_at, updated_at) VALUES (?1, ?2, 'x', 1, 1)",
  )
    .bind(userId, `${userId}@example.com`)
    .run()
  return userId
}

describe('worker entry', () => {
  it('serves the app', async () => {
    expect((await exports.default.fetch('https://gw.test/health')).status).toBe(200)
  })

  it('purges dead refresh-token families on its cron', async () => {
    const userId = await insertUser()
    const { createD1RefreshTokenStore } = await import('./stores/d1/refresh-tokens')
    const store = createD1RefreshTokenStore(env.DB, { clock: () => 1_000_000 })
    await store.issue(userId, { client: 'test', absoluteTtlSeconds: 60, idleTtlSeconds: 60 })
    const count = async () =>
      (
        await env.DB.prepare('SELECT count(*) AS n FROM refresh_token_families WHERE user_id = ?1')
          .bind(userId)
          .first<{ n: number }>()
      )?.n
    expect(await count()).toBe(1)
    await worker.scheduled(createScheduledController({ scheduledTime: 1_000_000 + 3_600_000, cron: '17 3 * * *' }), env)
    expect(await count()).toBe(0)
  })

  it('purges expired and used account tokens on its cron, and keeps live ones', async () => {
    const userId = await insertUser()
    const { createD1AccountTokenStore } = await import('./stores/d1/account-tokens')
    const store = createD1AccountTokenStore(env.DB, { clock: () => 1_000_000 })
    await store.issue({ userId, purpose: 'password_reset', ttlSeconds: 60 })
    const used = await store.issue({ userId, purpose: 'verify_email', ttlSeconds: 60, pendingPasswordHash: 'p' })
    await store.consume(used.token, 'verify_email')
    const count = async () =>
      (
        await env.DB.prepare('SELECT count(*) AS n FROM account_tokens WHERE user_id = ?1')
          .bind(userId)
          .first<{ n: number }>()
      )?.n
    expect(await count()).toBe(2)
    await worker.scheduled(createScheduledController({ scheduledTime: 1_000_000 + 30_000, cron: '17 3 * * *' }), env)
    expect(await count()).toBe(1)
    await worker.scheduled(createScheduledController({ scheduledTime: 1_000_000 + 60_000, cron: '17 3 * * *' }), env)
    expect(await count()).toBe(0)
  })
})

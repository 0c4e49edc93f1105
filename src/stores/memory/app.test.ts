/**
 * The in-memory stores are real stand-ins: the whole account flow runs through the real app with every account
 * store in memory (given to createGateway), and no D1 or Redis write happens for it.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { testApp } from '../../test-support/app'
import { testConfig } from '../../test-support/tokens'
import { createMemoryAdmissionStore } from './admission'
import { createMemoryLockoutStore } from './lockout'
import { createMemoryRefreshTokenStore } from './refresh-tokens'
import { createMemoryRevocationStore } from './revocation'
import { createMemoryUserStore } from './users'

function memoryApp() {
  const config = testConfig()
  const users = createMemoryUserStore()
  const revocation = createMemoryRevocationStore({
    clockSkewSeconds: config.jwt.clockSkewSeconds,
    accessTtlSeconds: config.jwt.accessTtlSeconds,
  })
  const app = testApp({
    users,
    refreshTokens: createMemoryRefreshTokenStore({ users }),
    revocation,
    admission: createMemoryAdmissionStore({ revocation }),
    lockout: createMemoryLockoutStore(config.accounts.lockout),
  })
  const json = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    app.fetch(
      new Request(`https://gw.test${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...headers },
        body: JSON.stringify(body),
      }),
    )
  const get = (path: string, token: string) =>
    app.fetch(new Request(`https://gw.test${path}`, { headers: { authorization: `Bearer ${token}` } }))
  return { app, users, json, get }
}

describe('the app on in-memory stores', () => {
  it('registers, logs in, refreshes, authenticates and logs out without D1 or Redis holding any of it', async () => {
    const { users, json, get } = memoryApp()
    const email = `memory-${crypto.randomUUID()}@example.com`
    const credentials = { email, password: 'violet-harbour-lantern-42' }
    expect((await json('/auth/register', credentials)).status).toBe(202)
    expect(await users.findByEmail(email)).toMatchObject({ email })
    // Nothing of it in D1: the memory store was used, not the binding.
    expect(await env.DB.prepare('SELECT id FROM users WHERE email = ?1').bind(email).first()).toBeNull()

    const login = (await (await json('/auth/login', credentials)).json()) as {
      access_token: string
      refresh_token: string
    }
    expect((await get('/auth/me', login.access_token)).status).toBe(200)
    const refreshed = await json('/auth/refresh', { refresh_token: login.refresh_token })
    expect(refreshed.status).toBe(200)

    expect((await json('/auth/logout', {}, { authorization: `Bearer ${login.access_token}` })).status).toBe(204)
    expect((await get('/auth/me', login.access_token)).status).toBe(401)
    expect((await json('/auth/refresh', { refresh_token: login.refresh_token })).status).toBe(401)
  })

  it('locks an address after the threshold with the memory lockout store', async () => {
    const { json } = memoryApp()
    const email = `locked-${crypto.randomUUID()}@example.com`
    const statuses: number[] = []
    for (let i = 0; i < testConfig().accounts.lockout.threshold + 1; i++) {
      statuses.push((await json('/auth/login', { email, password: 'wrong-password-entirely-1' })).status)
    }
    expect(statuses.at(-1)).toBe(429)
  })
})

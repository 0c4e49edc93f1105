/** Accounts for the admin route tests: an administrator and ordinary users, signed in through the real login. */
import { env, exports } from 'cloudflare:workers'
import { expect } from 'vitest'
import { hashPassword } from '../passwords/password'
import { ADMIN_SCOPE } from '../routes/admin'
import { createD1UserStore } from '../stores/d1/users'
import { createRedis } from '../stores/redis/client'
import { lockoutKeys } from '../stores/redis/lockout'
import { loginUser, registerUser, STRONG_PASSWORD, uniqueEmail } from './accounts'
import type { TestApp } from './app'
import { authHeader, testConfig } from './tokens'

/** A signed-in account: its token pair, its user id and session id. */
export interface SignedIn {
  email: string
  userId: string
  sid: string
  access_token: string
  refresh_token: string
}

export const fetchGateway = (path: string, init: RequestInit = {}) =>
  exports.default.fetch(`https://gw.test${path}`, init)

/** `method path` with the bearer token, if any, and a JSON body, if any: through `app`, or the worker itself. */
export function adminCall(
  method: string,
  path: string,
  token?: string,
  body?: unknown,
  app?: TestApp,
): Promise<Response> {
  const request = new Request(`https://gw.test${path}`, {
    method,
    headers: {
      ...(token === undefined ? {} : authHeader(token)),
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
  return app === undefined ? exports.default.fetch(request) : app.fetch(request)
}

/** Logs `email` in and reads the user and session ids its access token carries. */
export async function signIn(email: string): Promise<SignedIn> {
  const pair = await loginUser(email)
  const me = await fetchGateway('/auth/me', { headers: authHeader(pair.access_token) })
  const { sub, sid } = (await me.json()) as { sub: string; sid: string }
  return { email, userId: sub, sid, access_token: pair.access_token, refresh_token: pair.refresh_token }
}

/** A new account with `scopes`, written to D1 as `npm run admin -- create-user` does, then signed in. */
export async function createAccount(scopes: string[], email = uniqueEmail('admin')): Promise<SignedIn> {
  const passwordHash = await hashPassword(STRONG_PASSWORD, testConfig().passwords.pepper)
  const created = await createD1UserStore(env.DB).create({ email, passwordHash, scopes })
  expect(created.created).toBe(true)
  return signIn(email)
}

export const signInAdmin = () => createAccount([ADMIN_SCOPE])

/** A registered (ordinary) user, signed in. */
export async function signInUser(): Promise<SignedIn> {
  return signIn((await registerUser()).email)
}

/** `GET /auth/me` with the token: 200 while it is live. */
export const meStatus = async (token: string) => (await fetchGateway('/auth/me', { headers: authHeader(token) })).status

/** The user's row, or null. */
export function userRow(id: string) {
  return env.DB.prepare('SELECT id, email, password_hash, scopes, disabled_at FROM users WHERE id = ?1')
    .bind(id)
    .first<{ id: string; email: string; password_hash: string; scopes: string; disabled_at: number | null }>()
}

/** How many refresh families and tokens (any state) the user has in D1. */
export async function refreshRows(userId: string): Promise<{ families: number; tokens: number }> {
  const count = async (table: string) =>
    (await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE user_id = ?1`).bind(userId).first<{ n: number }>())
      ?.n ?? -1
  return { families: await count('refresh_token_families'), tokens: await count('refresh_tokens') }
}

/** The consecutive and hourly login-failure counters of `email` in Redis (null when absent). */
export async function lockoutCounters(email: string): Promise<[unknown, unknown]> {
  const config = testConfig()
  const keys = await lockoutKeys(config.passwords.pepper, email)
  const redis = createRedis(config.redis)
  return [await redis.get(keys[0]), await redis.get(keys[1])]
}

/** The problem body without its per-request members, to compare two answers. */
export function withoutRequestId(problem: Record<string, unknown>): Record<string, unknown> {
  const { instance: _instance, request_id: _requestId, ...rest } = problem
  return rest
}

export { STRONG_PASSWORD }

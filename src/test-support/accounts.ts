/** Accounts through the real routes: register, login, refresh, as a client would. */
import { exports } from 'cloudflare:workers'
import { expect } from 'vitest'
import type { TokenPairBody } from '../routes/auth/token-pair'

/** A fresh address per call: test files share one Redis, where lockout counters live. */
export function uniqueEmail(tag = 'user'): string {
  return `${tag}.${crypto.randomUUID().slice(0, 12)}@example.test`
}

export const STRONG_PASSWORD = 'violet-harbour-lantern-42'

export function postJson(path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return exports.default.fetch(`https://gw.test${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  })
}

export async function registerUser(email = uniqueEmail(), password = STRONG_PASSWORD) {
  const res = await postJson('/auth/register', { email, password })
  expect(res.status).toBe(202)
  return { email, password }
}

/** Logs in and returns the token pair (asserting 200). */
export async function loginUser(email: string, password = STRONG_PASSWORD, headers: Record<string, string> = {}) {
  const res = await postJson('/auth/login', { email, password }, headers)
  expect(res.status, await res.clone().text()).toBe(200)
  return (await res.json()) as TokenPairBody
}

export async function refreshWith(refreshToken: string, headers: Record<string, string> = {}) {
  return postJson('/auth/refresh', { refresh_token: refreshToken }, headers)
}

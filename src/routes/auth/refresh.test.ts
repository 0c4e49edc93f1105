import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { loginUser, refreshWith, registerUser } from '../../test-support/accounts'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader } from '../../test-support/tokens'
import type { TokenPairBody } from './token-pair'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

async function tokenRow(token: string) {
  return env.DB.prepare('SELECT id, family_id, parent_id, status FROM refresh_tokens WHERE token_hash = ?1')
    .bind(await sha256Hex(token))
    .first<{ id: string; family_id: string; parent_id: string | null; status: string }>()
}

async function family(familyId: string) {
  return env.DB.prepare('SELECT revoked_at, revoked_reason FROM refresh_token_families WHERE id = ?1')
    .bind(familyId)
    .first<{ revoked_at: number | null; revoked_reason: string | null }>()
}

async function activeTokens(familyId: string): Promise<number> {
  const row = await env.DB.prepare(
    "SELECT count(*) AS n FROM refresh_tokens WHERE family_id = ?1 AND status = 'active'",
  )
    .bind(familyId)
    .first<{ n: number }>()
  return row?.n ?? -1
}

const me = (accessToken: string) =>
  exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(accessToken) })

/** An app whose bindings differ from the test defaults (grace window, audience, Upstash lane). */
function appWith(overrides: Record<string, string>) {
  const app = testApp()
  const bindings = { ...env, ...overrides }
  return {
    refresh: (token: string, headers: Record<string, string> = {}) =>
      app.fetch(
        new Request('https://gw.test/auth/refresh', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body: JSON.stringify({ refresh_token: token }),
        }),
        bindings,
        ctx,
      ),
  }
}

async function session() {
  const { email } = await registerUser()
  const pair = await loginUser(email)
  const row = await tokenRow(pair.refresh_token)
  if (row === null) throw new Error('login stored no refresh token')
  return { email, pair, familyId: row.family_id }
}

describe('POST /auth/refresh: rotation (R-RT-2)', () => {
  it('answers a new pair in the same family and marks the presented token rotated', async () => {
    logs = captureLogs()
    const { pair: a, familyId } = await session()
    const res = await refreshWith(a.refresh_token)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const b = (await res.json()) as TokenPairBody
    expect(b.token_type).toBe('Bearer')
    expect(b.refresh_token).not.toBe(a.refresh_token)
    expect(b.access_token).not.toBe(a.access_token)

    const [rowA, rowB] = [await tokenRow(a.refresh_token), await tokenRow(b.refresh_token)]
    expect(rowA).toMatchObject({ status: 'rotated', family_id: familyId })
    expect(rowB).toMatchObject({ status: 'active', family_id: familyId, parent_id: rowA?.id })
    const principal = (await (await me(b.access_token)).json()) as { sid: string }
    expect(principal.sid).toBe(familyId)

    expect(logs.events('session_renewed')[0]).toMatchObject({ sid: familyId, grace: false })
    const text = logs.lines.join('\n')
    for (const secret of [a.refresh_token, b.refresh_token, a.access_token, b.access_token]) {
      expect(text).not.toContain(secret)
    }
  })

  it('keeps rotating: A → B → C, each token once', async () => {
    const { pair: a, familyId } = await session()
    const b = (await (await refreshWith(a.refresh_token)).json()) as TokenPairBody
    const c = (await (await refreshWith(b.refresh_token)).json()) as TokenPairBody
    expect(new Set([a.refresh_token, b.refresh_token, c.refresh_token]).size).toBe(3)
    expect(await activeTokens(familyId)).toBe(1)
    expect((await me(c.access_token)).status).toBe(200)
  })
})

describe('POST /auth/refresh: reuse detection (R-RT-3, R-RT-9, R-RT-14)', () => {
  it('revokes the family and its live access tokens when a rotated token comes back outside the window', async () => {
    logs = captureLogs()
    const gateway = appWith({ REFRESH_GRACE_SECONDS: '0' })
    const { pair: a, familyId } = await session()
    const b = (await (await gateway.refresh(a.refresh_token)).json()) as TokenPairBody
    expect((await me(b.access_token)).status).toBe(200)

    const requestId = crypto.randomUUID()
    const replay = await gateway.refresh(a.refresh_token, { 'x-request-id': requestId })
    const random = await gateway.refresh('Q'.repeat(43), { 'x-request-id': requestId })
    await expectProblem(replay.clone(), 401, 'invalid_refresh_token')
    expect(await replay.text()).toBe(await random.text())
    expect([...replay.headers]).toEqual([...random.headers])

    expect(await family(familyId)).toMatchObject({ revoked_reason: 'reuse' })
    expect(await activeTokens(familyId)).toBe(0)
    await expectProblem(await gateway.refresh(b.refresh_token), 401, 'invalid_refresh_token')
    // Access tokens minted before the reuse, from login and from the refresh, are dead too (sid revoked).
    await expectProblem(await me(a.access_token), 401, 'invalid_token')
    await expectProblem(await me(b.access_token), 401, 'invalid_token')

    const reuse = logs.events('authn_token_reuse')
    expect(reuse).toHaveLength(1)
    expect(reuse[0]).toMatchObject({ level: 'critical', family_id: familyId, session_revoked: true })
    const text = logs.lines.join('\n')
    for (const secret of [a.refresh_token, b.refresh_token]) expect(text).not.toContain(secret)
  })

  it('treats the immediate parent as reuse once the real grace window has passed', async () => {
    const gateway = appWith({ REFRESH_GRACE_SECONDS: '1' })
    const { pair: a, familyId } = await session()
    expect((await gateway.refresh(a.refresh_token)).status).toBe(200)
    await new Promise((resolve) => setTimeout(resolve, 2_100))
    await expectProblem(await gateway.refresh(a.refresh_token), 401, 'invalid_refresh_token')
    expect(await family(familyId)).toMatchObject({ revoked_reason: 'reuse' })
  })

  it('still answers 401 and logs CRITICAL with session_revoked=false when Upstash cannot take the session', async () => {
    logs = captureLogs()
    const lane = `lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const gateway = appWith({
      REFRESH_GRACE_SECONDS: '0',
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      UPSTASH_RETRIES: '0',
    })
    const { pair: a, familyId } = await session()
    expect((await gateway.refresh(a.refresh_token)).status).toBe(200)
    await control.setFault('error500', 10_000, lane)
    try {
      await expectProblem(await gateway.refresh(a.refresh_token), 401, 'invalid_refresh_token')
    } finally {
      await control.setFault('none', undefined, lane)
    }
    expect(await family(familyId)).toMatchObject({ revoked_reason: 'reuse' })
    expect(logs.events('authn_token_reuse')[0]).toMatchObject({ level: 'critical', session_revoked: false })
  })
})

describe('POST /auth/refresh: grace window (R-RT-4, R-RT-5, R-RT-6, R-RT-7)', () => {
  it('10 parallel refreshes with one token: all 200, the same new refresh token, one active token, no revocation', async () => {
    const { pair: a, familyId } = await session()
    const responses = await Promise.all(Array.from({ length: 10 }, () => refreshWith(a.refresh_token)))
    expect(responses.map((r) => r.status)).toEqual(Array(10).fill(200))
    const bodies = (await Promise.all(responses.map((r) => r.json()))) as TokenPairBody[]
    expect(new Set(bodies.map((b) => b.refresh_token)).size).toBe(1)
    expect(await activeTokens(familyId)).toBe(1)
    expect(await family(familyId)).toMatchObject({ revoked_at: null })
    // Every access token handed out works; the converged refresh token keeps rotating normally.
    for (const body of bodies) expect((await me(body.access_token)).status).toBe(200)
    expect((await refreshWith((bodies[0] as TokenPairBody).refresh_token)).status).toBe(200)
  })

  it('gives a client that lost the response the same current child on retry (R-RT-7)', async () => {
    logs = captureLogs()
    const { pair: a } = await session()
    const lost = (await (await refreshWith(a.refresh_token)).json()) as TokenPairBody
    const retry = await refreshWith(a.refresh_token)
    expect(retry.status).toBe(200)
    expect(((await retry.json()) as TokenPairBody).refresh_token).toBe(lost.refresh_token)
    expect(logs.events('session_renewed').map((r) => r.grace)).toEqual([false, true])
  })

  it('revokes the family when a grandparent comes back, even inside the window', async () => {
    const { pair: a, familyId } = await session()
    const b = (await (await refreshWith(a.refresh_token)).json()) as TokenPairBody
    const c = (await (await refreshWith(b.refresh_token)).json()) as TokenPairBody
    // B is C's immediate parent: inside the window it converges on C.
    const again = await refreshWith(b.refresh_token)
    expect(((await again.json()) as TokenPairBody).refresh_token).toBe(c.refresh_token)
    await expectProblem(await refreshWith(a.refresh_token), 401, 'invalid_refresh_token')
    expect(await family(familyId)).toMatchObject({ revoked_reason: 'reuse' })
    await expectProblem(await refreshWith(c.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await me(c.access_token), 401, 'invalid_token')
  })
})

describe('POST /auth/refresh: failures look alike (R-RT-8)', () => {
  it('answers unknown, expired, revoked, other-audience and disabled-user tokens with identical bytes', async () => {
    const requestId = crypto.randomUUID()
    const headers = { 'x-request-id': requestId }
    const expired = await session()
    await env.DB.prepare(
      'UPDATE refresh_token_families SET idle_expires_at = unixepoch() - 1, absolute_expires_at = unixepoch() - 1 WHERE id = ?1',
    )
      .bind(expired.familyId)
      .run()
    const revoked = await session()
    await exports.default.fetch('https://gw.test/auth/logout', {
      method: 'POST',
      headers: authHeader(revoked.pair.access_token),
    })
    const disabled = await session()
    await env.DB.prepare('UPDATE users SET disabled_at = unixepoch() WHERE email = ?1').bind(disabled.email).run()
    const foreign = await session()

    const responses = [
      await refreshWith('Q'.repeat(43), headers),
      await refreshWith('not even the right shape', headers),
      await refreshWith(expired.pair.refresh_token, headers),
      await refreshWith(revoked.pair.refresh_token, headers),
      await refreshWith(disabled.pair.refresh_token, headers),
      await appWith({ JWT_AUDIENCE: 'another-api' }).refresh(foreign.pair.refresh_token, headers),
    ]
    await expectProblem((responses[0] as Response).clone(), 401, 'invalid_refresh_token')
    const texts = await Promise.all(responses.map((r) => r.text()))
    expect(new Set(texts).size).toBe(1)
    const headerSets = responses.map((r) => JSON.stringify([...r.headers]))
    expect(new Set(headerSets).size).toBe(1)
    // The audience-bound token is still good where it belongs (R-RT-12 in docs/requirements.md).
    expect((await refreshWith(foreign.pair.refresh_token)).status).toBe(200)
  })

  it.each([
    ['an unknown field', { refresh_token: 'Q'.repeat(43), scope: 'admin' }],
    // Without `refresh_token` the request is a cookie refresh (refresh-cookie.test.ts).
    ['an empty token', { refresh_token: '' }],
    ['a number', { refresh_token: 42 }],
  ])('refuses %s with 400 validation_failed', async (_, body) => {
    const res = await exports.default.fetch('https://gw.test/auth/refresh', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    })
    await expectProblem(res, 400, 'validation_failed')
  })
})

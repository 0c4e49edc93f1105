import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { sha256Hex } from '../../lib/crypto'
import { loginUser, postJson, refreshWith, registerUser, STRONG_PASSWORD } from '../../test-support/accounts'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader } from '../../test-support/tokens'
import { GATEWAY_COOKIES } from '../../upstream/headers'
import { REFRESH_COOKIE } from './refresh-cookie'
import type { CookieTokenPairBody, TokenPairBody } from './token-pair'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

/** In the test bindings' CORS_ORIGINS (the development defaults). */
const ORIGIN = 'http://localhost:5173'
const JSON_TYPE = { 'content-type': 'application/json' }
const COOKIE_NAME = `__Host-${REFRESH_COOKIE}`
/** What every removal of the cookie sends. */
const CLEARED = `${COOKIE_NAME}=; Max-Age=0; Path=/; HttpOnly; Secure; SameSite=Strict`
const ATTRIBUTES = /^__Host-rt=([A-Za-z0-9_-]{43}); Max-Age=(\d+); Path=\/; HttpOnly; Secure; SameSite=Strict$/

async function tokenRow(token: string) {
  return env.DB.prepare('SELECT family_id, status FROM refresh_tokens WHERE token_hash = ?1')
    .bind(await sha256Hex(token))
    .first<{ family_id: string; status: string }>()
}

async function familyState(familyId: string) {
  return env.DB.prepare(
    `SELECT f.revoked_reason AS reason, (SELECT count(*) FROM refresh_tokens t WHERE t.family_id = f.id) AS tokens
       FROM refresh_token_families f WHERE f.id = ?1`,
  )
    .bind(familyId)
    .first<{ reason: string | null; tokens: number }>()
}

const me = (accessToken: string) =>
  exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(accessToken) })

/** The one Set-Cookie of a response that sets the refresh cookie: its token and lifetime. */
function cookieOf(res: Response): { token: string; maxAge: number } {
  const cookies = res.headers.getSetCookie()
  expect(cookies).toHaveLength(1)
  const match = ATTRIBUTES.exec(cookies[0] ?? '')
  if (match === null) throw new Error(`not the refresh cookie: ${cookies[0]}`)
  return { token: match[1] as string, maxAge: Number(match[2]) }
}

async function cookieLogin(email: string) {
  const res = await postJson('/auth/login', { email, password: STRONG_PASSWORD, refresh_transport: 'cookie' })
  expect(res.status).toBe(200)
  const { token, maxAge } = cookieOf(res)
  return { token, maxAge, body: (await res.json()) as CookieTokenPairBody }
}

async function cookieSession() {
  const { email } = await registerUser()
  const login = await cookieLogin(email)
  const row = await tokenRow(login.token)
  if (row === null) throw new Error('login stored no refresh token')
  return { email, ...login, familyId: row.family_id }
}

interface Send {
  cookie?: string
  headers?: Record<string, string>
  body?: string
}

/** A request as a page of `ORIGIN` sends it with `credentials: 'include'`, unless `headers` say otherwise. */
function send(path: string, { cookie, headers = { origin: ORIGIN, ...JSON_TYPE }, body }: Send = {}) {
  return new Request(`https://gw.test${path}`, {
    method: 'POST',
    headers: { ...headers, ...(cookie === undefined ? {} : { cookie: `${COOKIE_NAME}=${cookie}` }) },
    ...(body === undefined ? {} : { body }),
  })
}

const cookieRefresh = (init: Send = {}) => exports.default.fetch(send('/auth/refresh', init))
const cookieLogout = (init: Send = {}) => exports.default.fetch(send('/auth/logout', init))

describe('refresh_transport: "cookie"', () => {
  it('login puts the refresh token in the __Host- cookie only, for as long as it lives', async () => {
    logs = captureLogs()
    const { email } = await registerUser()
    const { token, maxAge, body } = await cookieLogin(email)
    expect(Object.keys(body).sort()).toEqual([
      'access_token',
      'expires_in',
      'refresh_expires_in',
      'refresh_transport',
      'token_type',
    ])
    expect(body.refresh_transport).toBe('cookie')
    expect(maxAge).toBe(body.refresh_expires_in)
    expect(maxAge).toBeGreaterThan(0)
    expect(await tokenRow(token)).toMatchObject({ status: 'active' })
    expect((await me(body.access_token)).status).toBe(200)
    expect(logs.lines.join('\n')).not.toContain(token)
    // The proxy keeps this very cookie from the origin, both ways.
    expect(GATEWAY_COOKIES).toContain(COOKIE_NAME)
  })

  it('a body login is unchanged: the token in the body, no cookie', async () => {
    const { email } = await registerUser()
    const res = await postJson('/auth/login', { email, password: STRONG_PASSWORD })
    expect(res.headers.getSetCookie()).toEqual([])
    expect(((await res.json()) as TokenPairBody).refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/)
  })

  it('refuses another transport with 400 validation_failed', async () => {
    const { email } = await registerUser()
    const res = await postJson('/auth/login', { email, password: STRONG_PASSWORD, refresh_transport: 'header' })
    const body = await expectProblem(res, 400, 'validation_failed')
    expect(body.errors).toEqual([{ pointer: '/refresh_transport', code: 'invalid_value' }])
  })
})

describe('POST /auth/refresh with the cookie', () => {
  it.each([
    ['no body', undefined],
    ['an empty object', '{}'],
    ['a body that asks for the body transport', '{"refresh_transport":"body"}'],
  ])('with %s: rotates the cookie token and answers the new one in the cookie', async (_, body) => {
    logs = captureLogs()
    const a = await cookieSession()
    const res = await cookieRefresh({ cookie: a.token, ...(body === undefined ? {} : { body }) })
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const b = cookieOf(res)
    const json = (await res.json()) as CookieTokenPairBody
    expect(json).not.toHaveProperty('refresh_token')
    expect(json.refresh_transport).toBe('cookie')
    expect(b.token).not.toBe(a.token)
    expect(await tokenRow(a.token)).toMatchObject({ status: 'rotated', family_id: a.familyId })
    expect(await tokenRow(b.token)).toMatchObject({ status: 'active', family_id: a.familyId })
    expect((await me(json.access_token)).status).toBe(200)
    const text = logs.lines.join('\n')
    for (const secret of [a.token, b.token]) expect(text).not.toContain(secret)
  })

  it('parallel refreshes with one cookie: all 200, the same new cookie (the grace window)', async () => {
    const a = await cookieSession()
    const answers = await Promise.all(Array.from({ length: 5 }, () => cookieRefresh({ cookie: a.token })))
    expect(answers.map((r) => r.status)).toEqual(Array(5).fill(200))
    expect(new Set(answers.map((r) => cookieOf(r).token)).size).toBe(1)
    expect(await familyState(a.familyId)).toMatchObject({ reason: null, tokens: 2 })
  })

  it("refuses the gateway's own origin unless CORS_ORIGINS lists it: any page on the API host is not an app", async () => {
    const a = await cookieSession()
    const res = await cookieRefresh({ cookie: a.token, headers: { origin: 'https://gw.test', ...JSON_TYPE } })
    await expectProblem(res, 403, 'csrf_check_failed')
    expect(res.headers.getSetCookie()).toEqual([])
    expect(await tokenRow(a.token)).toMatchObject({ status: 'active' })
  })

  it('with a token in the body as well, the body wins: the cookie is neither read nor changed', async () => {
    const { email } = await registerUser()
    const cookie = await cookieLogin(email)
    const pair = await loginUser(email)
    const res = await cookieRefresh({
      cookie: cookie.token,
      body: JSON.stringify({ refresh_token: pair.refresh_token }),
    })
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie()).toEqual([])
    expect(((await res.json()) as TokenPairBody).refresh_token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(await tokenRow(pair.refresh_token)).toMatchObject({ status: 'rotated' })
    expect(await tokenRow(cookie.token)).toMatchObject({ status: 'active' })
  })

  it('a body token with refresh_transport "cookie" moves the session into the cookie', async () => {
    const { email } = await registerUser()
    const pair = await loginUser(email)
    const res = await refreshWith(pair.refresh_token, {}).then(() =>
      postJson('/auth/refresh', { refresh_token: pair.refresh_token, refresh_transport: 'cookie' }),
    )
    // Inside the grace window the parent answers its current child again, now in the cookie.
    expect(res.status).toBe(200)
    const { token } = cookieOf(res)
    expect(await tokenRow(token)).toMatchObject({ status: 'active' })
    expect(await res.json()).not.toHaveProperty('refresh_token')
  })

  it('a new login in the same browser ends the session the replaced cookie held, after the answer', async () => {
    const a = await cookieSession()
    const res = await exports.default.fetch(
      send('/auth/login', {
        cookie: a.token,
        body: JSON.stringify({ email: a.email, password: STRONG_PASSWORD, refresh_transport: 'cookie' }),
      }),
    )
    expect(res.status).toBe(200)
    const fresh = cookieOf(res)
    await vi.waitFor(async () => expect(await familyState(a.familyId)).toMatchObject({ reason: 'replaced' }))
    await vi.waitFor(async () => expect((await me(a.body.access_token)).status).toBe(401))
    // The new session is untouched, and a refresh from its cookie rotates within it (nothing is replaced).
    const fresher = await cookieRefresh({ cookie: fresh.token })
    expect(fresher.status).toBe(200)
    const family = (await tokenRow(fresh.token))?.family_id as string
    expect(await familyState(family)).toMatchObject({ reason: null })
  })

  it('keeps the per-session refresh limit: the third refresh of a family is 429 and the cookie stays', async () => {
    const lane = `lane-${crypto.randomUUID()}`
    const bindings = {
      ...env,
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      RATE_LIMIT_GLOBAL: '100/15m',
      RATE_LIMIT_REFRESH: '2/15m',
    }
    const app = testApp()
    let { token } = await cookieSession()
    for (let i = 0; i < 2; i++) {
      const res = await app.fetch(send('/auth/refresh', { cookie: token }), bindings, ctx)
      expect(res.status).toBe(200)
      token = cookieOf(res).token
    }
    const refused = await app.fetch(send('/auth/refresh', { cookie: token }), bindings, ctx)
    expect((await expectProblem(refused.clone(), 429, 'rate_limited'))['violated-policies']).toEqual(['refresh'])
    expect(refused.headers.getSetCookie()).toEqual([])
    expect(await tokenRow(token)).toMatchObject({ status: 'active' })
  })
})

describe('POST /auth/refresh with the cookie: denials', () => {
  it.each([
    ['no Origin', { ...JSON_TYPE }, 'origin_missing'],
    ['another Origin', { origin: 'https://evil.example', ...JSON_TYPE }, 'origin_not_allowed'],
    ['an Origin that differs only in case', { origin: 'http://LOCALHOST:5173', ...JSON_TYPE }, 'origin_not_allowed'],
    ['no Content-Type', { origin: ORIGIN }, 'content_type_not_json'],
    ['a form Content-Type', { origin: ORIGIN, 'content-type': 'text/plain' }, 'content_type_not_json'],
  ])('%s: 403 csrf_check_failed, the cookie untouched, nothing written', async (_, headers, reason) => {
    logs = captureLogs()
    const a = await cookieSession()
    const before = await familyState(a.familyId)
    const res = await cookieRefresh({ cookie: a.token, headers })
    const body = await expectProblem(res.clone(), 403, 'csrf_check_failed')
    expect(res.headers.getSetCookie()).toEqual([])
    expect(JSON.stringify(body)).not.toContain(a.token)
    expect(await tokenRow(a.token)).toMatchObject({ status: 'active' })
    expect(await familyState(a.familyId)).toEqual(before)
    expect(logs.events('request_rejected')).toEqual([expect.objectContaining({ code: 'csrf_check_failed', reason })])
    expect(logs.events('session_renewed')).toEqual([])
    expect(logs.lines.join('\n')).not.toContain(a.token)
  })

  it('the same 403 whether or not the cookie is valid, or there at all', async () => {
    const a = await cookieSession()
    const requestId = crypto.randomUUID()
    const headers = { origin: 'https://evil.example', ...JSON_TYPE, 'x-request-id': requestId }
    const answers = [
      await cookieRefresh({ cookie: a.token, headers }),
      await cookieRefresh({ cookie: 'Q'.repeat(43), headers }),
      await cookieRefresh({ headers }),
    ]
    const texts = await Promise.all(answers.map((r) => r.text()))
    expect(new Set(texts).size).toBe(1)
    expect(new Set(answers.map((r) => JSON.stringify([...r.headers]))).size).toBe(1)
  })

  it('a non-JSON body is refused as before (415), before the cookie is read', async () => {
    const a = await cookieSession()
    const res = await cookieRefresh({
      cookie: a.token,
      headers: { origin: ORIGIN, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'refresh_transport=body',
    })
    await expectProblem(res, 415, 'unsupported_media_type')
    expect(await tokenRow(a.token)).toMatchObject({ status: 'active' })
  })

  it('no cookie, a tampered one, one after logout, a reused one: the same 401, and the cookie removed', async () => {
    logs = captureLogs()
    const app = testApp()
    const noGrace = { ...env, REFRESH_GRACE_SECONDS: '0' }
    const requestId = crypto.randomUUID()
    const headers = { origin: ORIGIN, ...JSON_TYPE, 'x-request-id': requestId }
    const refresh = (cookie?: string) =>
      app.fetch(send('/auth/refresh', { headers, ...(cookie === undefined ? {} : { cookie }) }), noGrace, ctx)

    const loggedOut = await cookieSession()
    expect((await cookieLogout({ cookie: loggedOut.token, body: '{}' })).status).toBe(204)
    const reused = await cookieSession()
    const rotated = await refresh(reused.token)
    expect(rotated.status).toBe(200)
    const { token: current } = cookieOf(rotated)
    const rotatedBody = (await rotated.json()) as CookieTokenPairBody
    const tampered = `${reused.token.slice(0, -1)}${reused.token.endsWith('A') ? 'B' : 'A'}`

    const answers = [
      await refresh(),
      await refresh(tampered),
      await refresh('x'.repeat(600)),
      await refresh(loggedOut.token),
      await refresh(reused.token),
    ]
    await expectProblem((answers[0] as Response).clone(), 401, 'invalid_refresh_token')
    for (const res of answers) expect(res.headers.getSetCookie()).toEqual([CLEARED])
    expect(new Set(await Promise.all(answers.map((r) => r.text()))).size).toBe(1)
    expect(new Set(answers.map((r) => JSON.stringify([...r.headers]))).size).toBe(1)

    // The replay revoked the family: its current cookie and its access tokens are dead too.
    expect(await familyState(reused.familyId)).toMatchObject({ reason: 'reuse' })
    expect((await refresh(current)).status).toBe(401)
    await expectProblem(await me(rotatedBody.access_token), 401, 'invalid_token')
    expect(logs.events('authn_token_reuse')).toEqual([
      expect.objectContaining({ level: 'critical', family_id: reused.familyId, session_revoked: true }),
    ])
    expect(logs.events('authn_token_invalid').map((r) => r.reason)).toContain('cookie_missing')
    const text = logs.lines.join('\n')
    for (const secret of [reused.token, current, loggedOut.token, tampered]) expect(text).not.toContain(secret)
  })
})

describe('POST /auth/refresh with the cookie: what the refresh limit remembers', () => {
  /** The identities the app's rate-limit engine is asked about, per request. */
  function recordIdentities() {
    const lane = `lane-${crypto.randomUUID()}`
    const bindings = {
      ...env,
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      RATE_LIMIT_GLOBAL: '100/15m',
    }
    const app = testApp()
    const admit = vi.spyOn(app.gateway(bindings).rateLimits, 'admit')
    const identities = () => admit.mock.calls.flatMap(([checks]) => checks.map((c) => `${c.policy}|${c.identity}`))
    return { refresh: (cookie: string) => app.fetch(send('/auth/refresh', { cookie }), bindings, ctx), identities }
  }

  it('a cookie longer than any refresh token is refused: not looked up, not limited, removed', async () => {
    logs = captureLogs()
    const { refresh, identities } = recordIdentities()
    // Cloudflare accepts request headers up to 128 KB: a cookie this size must not become anything the isolate keeps.
    const huge = 'A'.repeat(60_000)
    const res = await refresh(huge)
    const body = await expectProblem(res.clone(), 401, 'invalid_refresh_token')
    expect(res.headers.getSetCookie()).toEqual([CLEARED])
    expect(JSON.stringify(body)).not.toContain('AAAA')
    // The global policy was asked (the recording works); the refresh policy never was.
    expect(identities().filter((i) => i.startsWith('global|'))).toHaveLength(1)
    expect(identities().filter((i) => i.startsWith('refresh|'))).toEqual([])
    expect(identities().every((i) => i.length < 100)).toBe(true)
    expect(logs.events('authn_token_invalid').map((r) => r.reason)).toEqual(['cookie_oversized'])
    expect(logs.lines.join('\n')).not.toContain('AAAA')
  })

  it('an unknown token is limited under a fixed-size digest of it, never the token itself', async () => {
    const { refresh, identities } = recordIdentities()
    const unknown = 'B'.repeat(512)
    await expectProblem(await refresh(unknown), 401, 'invalid_refresh_token')
    const refreshIdentities = identities().filter((i) => i.startsWith('refresh|'))
    expect(refreshIdentities).toEqual([`refresh|token:${await sha256Hex(unknown)}`])
    // The same token is the same identity, so its limit still holds across requests.
    await expectProblem(await refresh(unknown), 401, 'invalid_refresh_token')
    expect(new Set(identities().filter((i) => i.startsWith('refresh|'))).size).toBe(1)
  })
})

describe('logout with the cookie', () => {
  it('cookie only (an allowed page): ends its family and access tokens, and removes the cookie', async () => {
    const a = await cookieSession()
    const res = await cookieLogout({ cookie: a.token, body: '{}' })
    expect(res.status).toBe(204)
    expect(res.headers.getSetCookie()).toEqual([CLEARED])
    expect(await familyState(a.familyId)).toMatchObject({ reason: 'logout' })
    await expectProblem(await me(a.body.access_token), 401, 'invalid_token')
  })

  it('a cookie longer than any refresh token names no session: 204 and removed for an allowed page, 403 for another', async () => {
    const huge = 'A'.repeat(60_000)
    const res = await cookieLogout({ cookie: huge, body: '{}' })
    expect(res.status).toBe(204)
    expect(res.headers.getSetCookie()).toEqual([CLEARED])
    await expectProblem(await cookieLogout({ cookie: huge, headers: JSON_TYPE, body: '{}' }), 403, 'csrf_check_failed')
  })

  it('cookie only, from a page that is not allowed: 403, the session lives on', async () => {
    logs = captureLogs()
    const a = await cookieSession()
    const attempts: Send[] = [
      { headers: {} },
      { headers: { origin: 'https://evil.example', ...JSON_TYPE }, body: '{}' },
      { headers: { origin: ORIGIN } },
    ]
    for (const attempt of attempts) {
      const res = await cookieLogout({ cookie: a.token, ...attempt })
      await expectProblem(res.clone(), 403, 'csrf_check_failed')
      expect(res.headers.getSetCookie()).toEqual([])
    }
    expect(await familyState(a.familyId)).toMatchObject({ reason: null })
    expect((await me(a.body.access_token)).status).toBe(200)
    expect(logs.events('session_logout')).toEqual([])
  })

  it('no bearer, no body token, no cookie: 401 as before', async () => {
    await expectProblem(await cookieLogout({ body: '{}' }), 401, 'unauthenticated')
  })

  it("with a bearer token: also ends the cookie's family (same user) and removes the cookie", async () => {
    const { email } = await registerUser()
    const bearer = await loginUser(email)
    const cookie = await cookieLogin(email)
    const family = (await tokenRow(cookie.token))?.family_id as string
    const res = await cookieLogout({ cookie: cookie.token, headers: authHeader(bearer.access_token) })
    expect(res.status).toBe(204)
    expect(res.headers.getSetCookie()).toEqual([CLEARED])
    expect(await familyState(family)).toMatchObject({ reason: 'logout' })
  })

  it("leaves another session's cookie alone: a body token's logout, and another user's bearer", async () => {
    const a = await cookieSession()
    const b = await cookieSession()
    const other = await loginUser(a.email)
    const byBody = await cookieLogout({ cookie: a.token, body: JSON.stringify({ refresh_token: other.refresh_token }) })
    expect(byBody.status).toBe(204)
    expect(byBody.headers.getSetCookie()).toEqual([])
    const byOtherUser = await cookieLogout({ cookie: a.token, headers: authHeader(b.body.access_token) })
    expect(byOtherUser.status).toBe(204)
    expect(byOtherUser.headers.getSetCookie()).toEqual([])
    // The cookie's session is alive and still reachable through the cookie.
    expect(await familyState(a.familyId)).toMatchObject({ reason: null })
    expect((await cookieRefresh({ cookie: a.token })).status).toBe(200)
  })

  it('logout-all removes the cookie', async () => {
    const a = await cookieSession()
    const res = await exports.default.fetch(send('/auth/logout-all', { headers: authHeader(a.body.access_token) }))
    expect(res.status).toBe(204)
    expect(res.headers.getSetCookie()).toEqual([CLEARED])
    expect((await cookieRefresh({ cookie: a.token })).status).toBe(401)
  })
})

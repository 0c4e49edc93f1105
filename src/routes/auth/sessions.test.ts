import { env, exports } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createD1RefreshTokenStore } from '../../stores/d1/refresh-tokens'
import { createRedisAdmissionStore } from '../../stores/redis/admission'
import { createRedis } from '../../stores/redis/client'
import { createRedisRevocationStore } from '../../stores/redis/revocation'
import type { RevocationStore } from '../../stores/types'
import { loginUser, refreshWith, registerUser } from '../../test-support/accounts'
import { testApp } from '../../test-support/app'
import { uniqueIpv4 } from '../../test-support/clients'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { laneBindings } from '../../test-support/rate-limit'
import { authHeader, testConfig } from '../../test-support/tokens'
import type { SessionBody } from './sessions'

let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

const fetchGateway = (path: string, init: RequestInit = {}) => exports.default.fetch(`https://gw.test${path}`, init)
const me = (accessToken: string) => fetchGateway('/auth/me', { headers: authHeader(accessToken) })
const listSessions = (accessToken?: string) =>
  fetchGateway('/auth/sessions', { headers: accessToken === undefined ? {} : authHeader(accessToken) })
const deleteSession = (id: string, accessToken?: string) =>
  fetchGateway(`/auth/sessions/${id}`, {
    method: 'DELETE',
    headers: accessToken === undefined ? {} : authHeader(accessToken),
  })

/** A login of `email`, with the session id its access token carries. */
async function signIn(email: string) {
  const pair = await loginUser(email)
  const { sid, sub } = (await (await me(pair.access_token)).json()) as { sid: string; sub: string }
  return { ...pair, sid, userId: sub }
}

async function sessionsOf(accessToken: string): Promise<SessionBody[]> {
  const res = await listSessions(accessToken)
  expect(res.status).toBe(200)
  return ((await res.json()) as { sessions: SessionBody[] }).sessions
}

async function familyRow(id: string) {
  return env.DB.prepare('SELECT revoked_at, revoked_reason FROM refresh_token_families WHERE id = ?1')
    .bind(id)
    .first<{ revoked_at: number | null; revoked_reason: string | null }>()
}

/** The 404 every id that is not a live session of the caller gets, without its request id. */
async function expectNoSuchSession(res: Response) {
  const { instance: _instance, request_id: _requestId, ...rest } = await expectProblem(res, 404, 'not_found')
  return rest
}

describe('GET /auth/sessions', () => {
  it("lists the caller's live sessions, newest first, exactly one of them current, uncached", async () => {
    const { email } = await registerUser()
    const first = await signIn(email)
    const second = await signIn(email)
    const stranger = await signIn((await registerUser()).email)
    const config = testConfig()

    const res = await listSessions(first.access_token)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^application\/json/)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const text = await res.text()
    const { sessions } = JSON.parse(text) as { sessions: SessionBody[] }
    expect(sessions.map((s) => s.id)).toEqual([second.sid, first.sid])
    expect(sessions.map((s) => s.current)).toEqual([false, true])
    const now = Date.now()
    for (const session of sessions) {
      expect(Object.keys(session).sort()).toEqual([
        'client',
        'created_at',
        'current',
        'expires_at',
        'id',
        'last_used_at',
      ])
      expect(session.client).toBe(config.jwt.audience)
      for (const time of [session.created_at, session.last_used_at, session.expires_at]) {
        expect(time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/)
      }
      expect(Math.abs(Date.parse(session.created_at) - now)).toBeLessThan(60_000)
      expect(session.last_used_at).toBe(session.created_at)
      expect(Date.parse(session.expires_at) - Date.parse(session.created_at)).toBe(
        config.accounts.refresh.idleSeconds * 1000,
      )
    }
    // The other login's view: the same sessions, the other one current.
    expect((await sessionsOf(second.access_token)).map((s) => [s.id, s.current])).toEqual([
      [second.sid, true],
      [first.sid, false],
    ])
    expect((await sessionsOf(stranger.access_token)).map((s) => s.id)).toEqual([stranger.sid])
    for (const secret of [first, second, stranger].flatMap((p) => [p.access_token, p.refresh_token])) {
      expect(text).not.toContain(secret)
      expect(logs.lines.join('\n')).not.toContain(secret)
    }
  })

  it('shows a refresh as the last use, and no longer lists an ended session', async () => {
    const { email } = await registerUser()
    const kept = await signIn(email)
    const ended = await signIn(email)
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const refreshed = await refreshWith(kept.refresh_token)
    expect(refreshed.status).toBe(200)
    const { access_token } = (await refreshed.json()) as { access_token: string }
    expect(
      (await fetchGateway('/auth/logout', { method: 'POST', headers: authHeader(ended.access_token) })).status,
    ).toBe(204)
    const [session, ...others] = await sessionsOf(access_token)
    expect(others).toEqual([])
    expect(session).toMatchObject({ id: kept.sid, current: true })
    expect(Date.parse(session?.last_used_at ?? '')).toBeGreaterThan(Date.parse(session?.created_at ?? ''))
  })

  it('requires a valid bearer token', async () => {
    await expectProblem(await listSessions(), 401, 'unauthenticated')
    await expectProblem(await listSessions('not.a.token'), 401, 'invalid_token')
  })
})

describe('DELETE /auth/sessions/{id}', () => {
  it('ends another session of the caller: its refresh token and access token are refused at once', async () => {
    const { email } = await registerUser()
    const caller = await signIn(email)
    const other = await signIn(email)

    const res = await deleteSession(other.sid, caller.access_token)
    expect(res.status).toBe(204)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.text()).toBe('')

    await expectProblem(await refreshWith(other.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await me(other.access_token), 401, 'invalid_token')
    expect(await familyRow(other.sid)).toMatchObject({
      revoked_at: expect.any(Number),
      revoked_reason: 'session_revoked',
    })
    // The caller's own session goes on.
    expect((await me(caller.access_token)).status).toBe(200)
    expect((await sessionsOf(caller.access_token)).map((s) => s.id)).toEqual([caller.sid])
    expect((await refreshWith(caller.refresh_token)).status).toBe(200)

    expect(logs.events('session_revoked')).toEqual([
      expect.objectContaining({
        level: 'info',
        outcome: 'success',
        userid: caller.userId,
        session_id: other.sid,
        current: false,
        request_method: 'DELETE',
      }),
    ])
    const all = logs.lines.join('\n')
    for (const secret of [caller, other].flatMap((p) => [p.access_token, p.refresh_token])) {
      expect(all).not.toContain(secret)
    }
  })

  it('ends the current session too, like a logout of it', async () => {
    const { email } = await registerUser()
    const caller = await signIn(email)
    const other = await signIn(email)
    expect((await deleteSession(caller.sid, caller.access_token)).status).toBe(204)
    await expectProblem(await me(caller.access_token), 401, 'invalid_token')
    await expectProblem(await refreshWith(caller.refresh_token), 401, 'invalid_refresh_token')
    expect((await sessionsOf(other.access_token)).map((s) => s.id)).toEqual([other.sid])
  })

  it("answers another user's session id with 404 and changes nothing", async () => {
    const attacker = await signIn((await registerUser()).email)
    const victim = await signIn((await registerUser()).email)

    const res = await deleteSession(victim.sid, attacker.access_token)
    const text = await res.clone().text()
    await expectNoSuchSession(res)
    expect(text).not.toContain(victim.sid)

    expect(await familyRow(victim.sid)).toEqual({ revoked_at: null, revoked_reason: null })
    expect((await me(victim.access_token)).status).toBe(200)
    expect(await sessionsOf(victim.access_token)).toEqual([expect.objectContaining({ id: victim.sid, current: true })])
    expect((await refreshWith(victim.refresh_token)).status).toBe(200)
    // Nor was the attacker's own session touched.
    expect((await sessionsOf(attacker.access_token)).map((s) => s.id)).toEqual([attacker.sid])

    expect(logs.events('session_revoked')).toEqual([])
    expect(logs.events('request_rejected')).toEqual([
      expect.objectContaining({ code: 'not_found', reason: 'session_not_found', userid: attacker.userId }),
    ])
  })

  it('gives one 404 for an unknown, malformed or foreign id, and never proxies the path', async () => {
    const { email } = await registerUser()
    const caller = await signIn(email)
    const ended = await signIn(email)
    const foreign = await signIn((await registerUser()).email)
    expect((await deleteSession(ended.sid, caller.access_token)).status).toBe(204)
    // Ending one's own ended session again is answered as done (a retry must be able to finish the job).
    expect((await deleteSession(ended.sid, caller.access_token)).status).toBe(204)

    const answers = []
    for (const id of [
      crypto.randomUUID(),
      foreign.sid,
      caller.sid.toUpperCase(),
      'not-a-session',
      encodeURIComponent("x' OR 1=1 --"),
      '..%2F..%2Fauth%2Flogout-all',
    ]) {
      answers.push(await expectNoSuchSession(await deleteSession(id, caller.access_token)))
    }
    expect(new Set(answers.map((a) => JSON.stringify(a))).size).toBe(1)
    expect((await me(caller.access_token)).status).toBe(200)
    expect((await me(foreign.access_token)).status).toBe(200)

    // Other spellings belong to the gateway as well: a 404 or 405 problem, never the origin's answer.
    await expectProblem(
      await fetchGateway(`/auth/sessions/${caller.sid}/`, {
        method: 'DELETE',
        headers: authHeader(caller.access_token),
      }),
      404,
      'not_found',
    )
    const wrongMethod = await fetchGateway(`/auth/sessions/${caller.sid}`, { headers: authHeader(caller.access_token) })
    await expectProblem(wrongMethod, 405, 'method_not_allowed')
    expect(wrongMethod.headers.get('allow')).toBe('DELETE')
  })

  it('requires a valid bearer token and ends nothing without one', async () => {
    const pair = await signIn((await registerUser()).email)
    await expectProblem(await deleteSession(pair.sid), 401, 'unauthenticated')
    await expectProblem(await deleteSession(pair.sid, 'not.a.token'), 401, 'invalid_token')
    expect((await me(pair.access_token)).status).toBe(200)
    expect((await refreshWith(pair.refresh_token)).status).toBe(200)
  })
})

describe('/auth/sessions rate limits', () => {
  it('listing counts under the global and user policies like /auth/me; ending one never meets the user policy; neither meets the per-IP auth policy', async () => {
    const pair = await signIn((await registerUser()).email)
    const { bindings } = laneBindings({
      RATE_LIMIT_GLOBAL: '100/15m',
      RATE_LIMIT_AUTH: '1/15m',
      RATE_LIMIT_USER: '2/15m',
    })
    const app = testApp()
    const ip = uniqueIpv4()
    const send = (path: string, method = 'GET') =>
      app.fetch(
        new Request(`https://gw.test${path}`, {
          method,
          headers: { ...authHeader(pair.access_token), 'cf-connecting-ip': ip },
        }),
        bindings,
      )
    expect((await send('/auth/sessions')).status).toBe(200)
    expect((await send(`/auth/sessions/${crypto.randomUUID()}`, 'DELETE')).status).toBe(404)
    expect((await send('/auth/sessions')).status).toBe(200)
    const limited = await send('/auth/sessions')
    const body = await expectProblem(limited, 429, 'rate_limited')
    expect(body['violated-policies']).toEqual(['user'])
    // With the user's quota spent, a session can still be ended (the user may be locking out whoever spent it).
    expect((await send(`/auth/sessions/${crypto.randomUUID()}`, 'DELETE')).status).toBe(404)
  })
})

describe('/auth/sessions when a store fails', () => {
  const refused = () => Promise.reject(new Error('store failure: internal detail that must stay in the log'))

  it('answers 503 dependency_unavailable when D1 fails, and ends nothing', async () => {
    const pair = await signIn((await registerUser()).email)
    const real = createD1RefreshTokenStore(env.DB)
    const app = testApp({ refreshTokens: { ...real, listFamilies: refused, revokeFamilyOf: refused } })
    const send = (path: string, method = 'GET') =>
      app.fetch(new Request(`https://gw.test${path}`, { method, headers: authHeader(pair.access_token) }))
    for (const res of [await send('/auth/sessions'), await send(`/auth/sessions/${pair.sid}`, 'DELETE')]) {
      await expectProblem(res, 503, 'dependency_unavailable')
      expect(res.headers.get('retry-after')).toBe('2')
    }
    expect(logs.events('request_failed').map((r) => r.reason)).toEqual(['session_list_failed', 'session_revoke_failed'])
    expect((await me(pair.access_token)).status).toBe(200)
    expect((await refreshWith(pair.refresh_token)).status).toBe(200)
  })

  it('answers 503 revocation_unavailable when the Upstash write fails; a retry ends the access tokens too', async () => {
    const { email } = await registerUser()
    const caller = await signIn(email)
    const other = await signIn(email)
    const config = testConfig()
    const redis = createRedis(config.redis)
    const real = createRedisRevocationStore(redis, {
      clockSkewSeconds: config.jwt.clockSkewSeconds,
      accessTtlSeconds: config.jwt.accessTtlSeconds,
    })
    let failures = 1
    const once = (write: (sid: string) => Promise<void>) => (sid: string) => (failures-- > 0 ? refused() : write(sid))
    const failing: RevocationStore = { ...real, revoke: refused, revokeSession: once(real.revokeSession) }
    const app = testApp({ revocation: failing, admission: createRedisAdmissionStore(redis) })
    const remove = () =>
      app.fetch(
        new Request(`https://gw.test/auth/sessions/${other.sid}`, {
          method: 'DELETE',
          headers: authHeader(caller.access_token),
        }),
      )
    const res = await remove()
    await expectProblem(res, 503, 'revocation_unavailable')
    expect(res.headers.get('retry-after')).toBe('2')
    // D1 was written first: the session can no longer be refreshed, and it is no longer listed.
    await expectProblem(await refreshWith(other.refresh_token), 401, 'invalid_refresh_token')
    expect((await sessionsOf(caller.access_token)).map((s) => s.id)).toEqual([caller.sid])
    // Its access token still works: the Upstash half did not happen.
    expect((await me(other.access_token)).status).toBe(200)
    // The retry finds the caller's own revoked family, writes Upstash and ends the access tokens.
    const retry = await remove()
    expect(retry.status).toBe(204)
    await expectProblem(await me(other.access_token), 401, 'invalid_token')
    // Once done, asking again is still answered, and nobody else can tell.
    expect((await remove()).status).toBe(204)
  })
})

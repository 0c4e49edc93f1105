/**
 * Who may use the admin routes, end to end through the worker against the test D1 and Redis: no token is a 401,
 * a token without `edgeward:admin` a 403, an unknown account a 404 and an administrator acting on themself a 409,
 * each a whole problem document that changed nothing. Also the session routes, method and path ownership, and
 * the rate limits the routes count under.
 */
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createRecordingAccountEvents } from '../../accounts/events'
import { postJson, refreshWith } from '../../test-support/accounts'
import {
  adminCall,
  fetchGateway,
  lockoutCounters,
  meStatus,
  refreshRows,
  type SignedIn,
  signIn,
  signInAdmin,
  signInUser,
  userRow,
  withoutRequestId,
} from '../../test-support/admin'
import { testApp } from '../../test-support/app'
import { uniqueIpv4 } from '../../test-support/clients'
import { received } from '../../test-support/echo'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { laneBindings } from '../../test-support/rate-limit'
import { authHeader } from '../../test-support/tokens'
import type { SessionBody } from '../auth/sessions'

let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

type Route = [method: string, path: string, body?: unknown]

/** Every admin route, aimed at the account `id` (the search at `email`). */
function routes(id: string, email: string): Route[] {
  return [['GET', `/auth/admin/users?email=${encodeURIComponent(email)}`], ...idRoutes(id)]
}

/** The admin routes that name an account by id in their path. */
function idRoutes(id: string): Route[] {
  const user = `/auth/admin/users/${id}`
  return [
    ['GET', `${user}/sessions`],
    ['DELETE', `${user}/sessions`],
    ['POST', `${user}/unlock`],
    ['POST', `${user}/disable`],
    ['POST', `${user}/enable`],
    ['PUT', `${user}/scopes`, { scopes: ['edgeward:admin'] }],
    ['DELETE', user],
  ]
}

const call = ([method, path, body]: Route, token?: string) => adminCall(method, path, token, body)

/** Everything an admin route could change about `target`, to compare before and after a refusal. */
async function snapshot(target: SignedIn) {
  const sessions = await fetchGateway('/auth/sessions', { headers: authHeader(target.access_token) })
  return {
    row: await userRow(target.userId),
    refresh: await refreshRows(target.userId),
    lockout: await lockoutCounters(target.email),
    sessions: ((await sessions.json()) as { sessions: SessionBody[] }).sessions,
    me: await meStatus(target.access_token),
  }
}

describe('admin routes: who may call them', () => {
  it('answers 401 without a token and 403 without the admin scope, changing nothing', async () => {
    const target = await signInUser()
    const other = await signInUser()
    // A failed login, so the target has lockout counters a refused unlock or erasure would have cleared.
    await postJson('/auth/login', { email: target.email, password: 'not-the-password-at-all' })
    const before = await snapshot(target)
    expect(before.lockout[0]).not.toBeNull()

    for (const route of routes(target.userId, target.email)) {
      const anonymous = await call(route)
      await expectProblem(anonymous, 401, 'unauthenticated')
      expect(anonymous.headers.get('www-authenticate')).toBe('Bearer realm="edgeward"')
      for (const token of [other.access_token, target.access_token]) {
        const res = await call(route, token)
        await expectProblem(res, 403, 'insufficient_scope')
        expect(res.headers.get('www-authenticate')).toBe(
          'Bearer realm="edgeward", error="insufficient_scope", scope="edgeward:admin"',
        )
      }
    }

    expect(await snapshot(target)).toEqual(before)
    expect((await refreshWith(target.refresh_token)).status).toBe(200)
    expect(logs.events('authz_admin')).toEqual([])
    expect(logs.events('authz_fail')).toHaveLength(16)
    expect(logs.events('authz_fail')[0]).toMatchObject({ userid: other.userId, missing: ['edgeward:admin'] })
  })

  it('answers 404 for an unknown, malformed or differently spelled id, one body for all, changing nothing', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const before = await snapshot(target)
    const answers = new Set<string>()
    for (const id of [crypto.randomUUID(), target.userId.toUpperCase(), 'not-a-user', "x'%20OR%201=1"]) {
      for (const route of idRoutes(id)) {
        const problem = await expectProblem(await call(route, admin.access_token), 404, 'not_found')
        answers.add(JSON.stringify(withoutRequestId(problem)))
      }
    }
    expect(answers.size).toBe(1)
    expect(await snapshot(target)).toEqual(before)
    expect(logs.events('authz_admin')).toEqual([])
    const rejected = logs.events('request_rejected')
    expect(rejected).toHaveLength(28)
    expect(rejected[0]).toMatchObject({ code: 'not_found', reason: 'admin_user_not_found', userid: admin.userId })
  })

  it('refuses an administrator disabling, erasing or demoting themself with 409, changing nothing', async () => {
    const admin = await signInAdmin()
    const before = await snapshot(admin)
    const self = `/auth/admin/users/${admin.userId}`
    for (const route of [
      ['POST', `${self}/disable`],
      ['DELETE', self],
      ['PUT', `${self}/scopes`, { scopes: ['read:items'] }],
      ['PUT', `${self}/scopes`, { scopes: [] }],
    ] satisfies Route[]) {
      const res = await call(route, admin.access_token)
      await expectProblem(res, 409, 'admin_self_action')
      expect(res.headers.get('www-authenticate')).toBeNull()
    }
    expect(await snapshot(admin)).toEqual(before)
    expect(logs.events('authz_admin')).toEqual([])
    expect(logs.events('request_rejected').map((r) => [r.reason, r.action, r.target_userid])).toEqual([
      ['admin_self_action', 'user_disable', admin.userId],
      ['admin_self_action', 'user_delete', admin.userId],
      ['admin_self_action', 'user_scopes_set', admin.userId],
      ['admin_self_action', 'user_scopes_set', admin.userId],
    ])
  })

  it('keeps every spelling under /auth/admin/ at the gateway: 405 with Allow, or a 404 problem, never the origin', async () => {
    const admin = await signInAdmin()
    const user = `/auth/admin/users/${admin.userId}`
    for (const [path, allow] of [
      [`${user}/disable`, 'POST'],
      [`${user}/scopes`, 'PUT'],
      [user, 'DELETE'],
    ]) {
      const res = await fetchGateway(path, { headers: authHeader(admin.access_token) })
      await expectProblem(res, 405, 'method_not_allowed')
      expect(res.headers.get('allow')).toBe(allow)
    }
    for (const path of ['/auth/admin/', '/auth/admin/users/', `${user}/password`, '/auth/admin/anything']) {
      await expectProblem(await fetchGateway(path, { headers: authHeader(admin.access_token) }), 404, 'not_found')
    }
    expect(await received('/auth/admin')).toEqual([])
  })
})

describe('GET /auth/admin/users/{id}/sessions', () => {
  it("lists the account's live sessions, newest first, as its owner sees them but without `current`", async () => {
    const admin = await signInAdmin()
    const first = await signInUser()
    const second = await signIn(first.email)
    const res = await call(['GET', `/auth/admin/users/${first.userId}/sessions`], admin.access_token)
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const { sessions } = (await res.json()) as { sessions: Record<string, unknown>[] }
    const own = await fetchGateway('/auth/sessions', { headers: authHeader(first.access_token) })
    const owner = ((await own.json()) as { sessions: SessionBody[] }).sessions
    expect(sessions).toEqual(owner.map(({ current: _current, ...session }) => session))
    expect(sessions.map((s) => s.id)).toEqual([second.sid, first.sid])
    expect(logs.events('authz_admin')).toEqual([
      expect.objectContaining({
        action: 'sessions_list',
        admin_userid: admin.userId,
        target_userid: first.userId,
        sessions: 2,
        outcome: 'success',
      }),
    ])
  })
})

describe('DELETE /auth/admin/users/{id}/sessions', () => {
  it('ends every session and access token of the account at once and tells its owner', async () => {
    const accountEvents = createRecordingAccountEvents()
    const app = testApp({ accountEvents })
    const admin = await signInAdmin()
    const first = await signInUser()
    const second = await signIn(first.email)
    const bystander = await signInUser()

    const path = `/auth/admin/users/${first.userId}/sessions`
    const res = await adminCall('DELETE', path, admin.access_token, undefined, app)
    expect(res.status).toBe(204)
    expect(await res.text()).toBe('')

    for (const session of [first, second]) {
      expect(await meStatus(session.access_token)).toBe(401)
      await expectProblem(await refreshWith(session.refresh_token), 401, 'invalid_refresh_token')
    }
    const families = await env.DB.prepare(
      'SELECT revoked_reason FROM refresh_token_families WHERE user_id = ?1 ORDER BY id',
    )
      .bind(first.userId)
      .all<{ revoked_reason: string }>()
    expect(families.results.map((f) => f.revoked_reason)).toEqual(['admin_revoked', 'admin_revoked'])
    expect(await meStatus(bystander.access_token)).toBe(200)
    expect(await meStatus(admin.access_token)).toBe(200)
    expect(accountEvents.sent).toEqual([
      {
        type: 'account.sessions_revoked',
        email: first.email,
        user_id: first.userId,
        occurred_at: expect.any(String),
      },
    ])
    expect(logs.events('authz_admin')).toEqual([
      expect.objectContaining({
        action: 'sessions_revoke',
        admin_userid: admin.userId,
        target_userid: first.userId,
        sessions: 2,
      }),
    ])
    const all = logs.lines.join('\n')
    for (const secret of [admin, first, second].flatMap((s) => [s.access_token, s.refresh_token])) {
      expect(all).not.toContain(secret)
    }
  })
})

describe('admin rate limits', () => {
  it('count under the global and user policies, not the per-IP auth policy', async () => {
    const admin = await signInAdmin()
    const { bindings } = laneBindings({
      RATE_LIMIT_GLOBAL: '100/15m',
      RATE_LIMIT_AUTH: '1/15m',
      RATE_LIMIT_USER: '2/15m',
    })
    const app = testApp()
    const ip = uniqueIpv4()
    const send = (method: string, path: string) =>
      app.fetch(
        new Request(`https://gw.test${path}`, {
          method,
          headers: { ...authHeader(admin.access_token), 'cf-connecting-ip': ip },
        }),
        bindings,
      )
    expect((await send('GET', `/auth/admin/users/${admin.userId}/sessions`)).status).toBe(200)
    expect((await send('POST', `/auth/admin/users/${crypto.randomUUID()}/unlock`)).status).toBe(404)
    const limited = await send('GET', `/auth/admin/users/${admin.userId}/sessions`)
    const body = await expectProblem(limited, 429, 'rate_limited')
    expect(body['violated-policies']).toEqual(['user'])
  })
})

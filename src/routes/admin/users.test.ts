/**
 * The admin routes on one account, end to end through the worker against the test D1 and Redis: search, unlock,
 * disable and enable, scopes, erasure, and a retry after a failed dependency.
 */
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createD1AccountTokenStore } from '../../stores/d1/account-tokens'
import { createD1UserStore } from '../../stores/d1/users'
import { createRedis } from '../../stores/redis/client'
import { createRedisLockoutStore } from '../../stores/redis/lockout'
import type { LockoutStore } from '../../stores/types'
import { postJson, refreshWith, uniqueEmail } from '../../test-support/accounts'
import {
  adminCall,
  fetchGateway,
  lockoutCounters,
  meStatus,
  refreshRows,
  type SignedIn,
  STRONG_PASSWORD,
  signIn,
  signInAdmin,
  signInUser,
  userRow,
  withoutRequestId,
} from '../../test-support/admin'
import { testApp } from '../../test-support/app'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader, testConfig } from '../../test-support/tokens'
import type { AdminUserBody } from './users'

let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

const WRONG_PASSWORD = 'not-the-password-at-all'
const send = (token: string, method: string, path: string, body?: unknown) => adminCall(method, path, token, body)
const login = (email: string, password = STRONG_PASSWORD) => postJson('/auth/login', { email, password })
/** Revocation cutoffs have one-second resolution: a token minted in the cutoff's second is refused too. */
const nextSecond = () => new Promise((resolve) => setTimeout(resolve, 1_100))

async function search(admin: SignedIn, query: string): Promise<AdminUserBody[]> {
  const res = await send(admin.access_token, 'GET', `/auth/admin/users?${query}`)
  expect(res.status, await res.clone().text()).toBe(200)
  expect(res.headers.get('cache-control')).toBe('no-store')
  return ((await res.json()) as { users: AdminUserBody[] }).users
}

async function lockOut(email: string) {
  for (let i = 0; i < testConfig().accounts.lockout.threshold; i++) {
    await expectProblem(await login(email, WRONG_PASSWORD), 401, 'invalid_credentials')
  }
  await expectProblem(await login(email), 429, 'account_locked')
}

describe('GET /auth/admin/users?email=', () => {
  it('finds the account by its normalized address, with its state, and never its password hash', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const query = `email=${encodeURIComponent(`  ${target.email.toUpperCase()} `)}`
    const res = await send(admin.access_token, 'GET', `/auth/admin/users?${query}`)
    const text = await res.clone().text()
    const [user, ...others] = await search(admin, query)
    expect(others).toEqual([])
    expect(user).toEqual({
      id: target.userId,
      email: target.email,
      verified: true,
      disabled: false,
      locked: false,
      scopes: [],
      created_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/),
    })
    expect(Math.abs(Date.parse(user?.created_at ?? '') - Date.now())).toBeLessThan(60_000)
    expect(text).not.toContain('pbkdf2')
    expect((await search(admin, `email=${encodeURIComponent(uniqueEmail())}`)).length).toBe(0)
    expect(logs.events('authz_admin').map((r) => [r.action, r.admin_userid, r.target_userid, r.found])).toEqual([
      ['user_search', admin.userId, target.userId, 1],
      ['user_search', admin.userId, target.userId, 1],
      ['user_search', admin.userId, undefined, 0],
    ])
    expect(logs.lines.join('\n')).not.toContain(target.email)
  })

  it('shows a locked and a disabled account as such', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    await lockOut(target.email)
    const query = `email=${encodeURIComponent(target.email)}`
    expect(await search(admin, query)).toMatchObject([{ locked: true, disabled: false }])
    expect((await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/disable`)).status).toBe(204)
    expect(await search(admin, query)).toMatchObject([{ locked: true, disabled: true }])
  })

  it.each([
    ['no query', '', [{ parameter: 'email', code: 'invalid_type' }]],
    ['an empty address', 'email=', [{ parameter: 'email', code: 'too_small' }]],
    ['an invalid address', 'email=not-an-address', [{ parameter: 'email', code: 'invalid_format' }]],
    ['a repeated parameter', 'email=a%40x.io&email=b%40x.io', [{ parameter: 'email', code: 'duplicate_key' }]],
    ['another parameter', 'email=a%40x.io&limit=5', [{ parameter: 'limit', code: 'unrecognized_keys' }]],
  ])('answers %s with 400 invalid_query, naming the parameter and never its value', async (_, query, errors) => {
    const admin = await signInAdmin()
    const res = await send(admin.access_token, 'GET', `/auth/admin/users${query === '' ? '' : `?${query}`}`)
    const text = await res.clone().text()
    const problem = await expectProblem(res, 400, 'invalid_query')
    expect(problem.errors).toEqual(errors)
    expect(text).not.toContain('x.io')
    expect(text).not.toContain('not-an-address')
    expect(logs.events('input_validation_fail')).toMatchObject([
      { errors: errors.map((e) => (e.code === 'unrecognized_keys' ? { ...e, parameter: 'other' } : e)) },
    ])
    expect(logs.events('authz_admin')).toEqual([])
  })

  it('logs no name of an unknown parameter, which may be a mistyped address', async () => {
    const admin = await signInAdmin()
    const typo = `mistyped.${crypto.randomUUID()}@example.test`
    const res = await send(admin.access_token, 'GET', `/auth/admin/users?${encodeURIComponent(typo)}&e=x`)
    const problem = await expectProblem(res, 400, 'invalid_query')
    // The administrator is told which names were not understood; the log says only that some were.
    expect(problem.errors).toEqual([
      { parameter: typo, code: 'unrecognized_keys' },
      { parameter: 'e', code: 'unrecognized_keys' },
    ])
    expect(logs.events('input_validation_fail')).toMatchObject([
      { errors: [{ parameter: 'other', code: 'unrecognized_keys', count: 2 }] },
    ])
    expect(logs.lines.join('\n')).not.toContain(typo.split('@')[0])
  })
})

describe('POST /auth/admin/users/{id}/unlock', () => {
  it('clears a lock: the right password logs in again at once', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    await lockOut(target.email)
    const res = await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/unlock`)
    expect(res.status).toBe(204)
    expect(await lockoutCounters(target.email)).toEqual([null, null])
    expect((await login(target.email)).status).toBe(200)
    expect(logs.events('authz_admin')).toMatchObject([
      { action: 'user_unlock', admin_userid: admin.userId, target_userid: target.userId },
    ])
  })
})

describe('POST /auth/admin/users/{id}/disable and /enable', () => {
  it('refuses the live tokens at once, and the login exactly like a wrong password, until enabled', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const other = await signIn(target.email)
    const res = await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/disable`)
    expect(res.status).toBe(204)
    expect(await res.text()).toBe('')

    for (const session of [target, other]) {
      await expectProblem(
        await fetchGateway('/auth/me', { headers: authHeader(session.access_token) }),
        401,
        'invalid_token',
      )
      await expectProblem(await refreshWith(session.refresh_token), 401, 'invalid_refresh_token')
    }
    expect((await userRow(target.userId))?.disabled_at).toEqual(expect.any(Number))
    const right = await login(target.email)
    const wrong = await login(target.email, WRONG_PASSWORD)
    expect(right.status).toBe(401)
    expect([...right.headers].filter(([name]) => name !== 'x-request-id')).toEqual(
      [...wrong.headers].filter(([name]) => name !== 'x-request-id'),
    )
    expect(withoutRequestId(await right.json())).toEqual(withoutRequestId(await wrong.json()))
    expect(logs.events('authz_admin')).toMatchObject([
      { action: 'user_disable', admin_userid: admin.userId, target_userid: target.userId, sessions: 2 },
    ])

    // Disabling again keeps the first time and answers the same.
    const disabledAt = (await userRow(target.userId))?.disabled_at
    expect((await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/disable`)).status).toBe(204)
    expect((await userRow(target.userId))?.disabled_at).toBe(disabledAt)

    expect((await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/enable`)).status).toBe(204)
    expect((await userRow(target.userId))?.disabled_at).toBeNull()
    await nextSecond()
    const back = await signIn(target.email)
    expect(await meStatus(back.access_token)).toBe(200)
    // The sessions ended by the disable stay ended.
    await expectProblem(await refreshWith(other.refresh_token), 401, 'invalid_refresh_token')
  })
})

describe('PUT /auth/admin/users/{id}/scopes', () => {
  it('replaces the scopes, revokes the live tokens, and the next refresh carries the new scopes', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const path = `/auth/admin/users/${target.userId}/scopes`
    const scopes = ['read:items', 'write:items', 'read:items']
    const res = await send(admin.access_token, 'PUT', path, { scopes })
    expect(res.status).toBe(204)
    expect((await userRow(target.userId))?.scopes).toBe('read:items write:items')
    expect(await meStatus(target.access_token)).toBe(401)

    await nextSecond()
    const refreshed = await refreshWith(target.refresh_token)
    expect(refreshed.status).toBe(200)
    const { access_token } = (await refreshed.json()) as { access_token: string }
    const me = await fetchGateway('/auth/me', { headers: authHeader(access_token) })
    expect(await me.json()).toMatchObject({ sub: target.userId, scopes: ['read:items', 'write:items'] })
    expect(logs.events('authz_admin')).toMatchObject([
      {
        action: 'user_scopes_set',
        admin_userid: admin.userId,
        target_userid: target.userId,
        scopes: ['read:items', 'write:items'],
        previous_scopes: [],
      },
    ])
  })

  it('accepts only scope sets whose tokens the gateway accepts: the largest one still signs a working token', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    // Eight of 127 characters: 1,023 joined, the most MAX_SCOPES_CHARS allows.
    const scopes = Array.from({ length: 8 }, (_, i) => `s${i}:${'x'.repeat(124)}`)
    expect(scopes.join(' ')).toHaveLength(1023)
    expect(
      (await send(admin.access_token, 'PUT', `/auth/admin/users/${target.userId}/scopes`, { scopes })).status,
    ).toBe(204)
    await nextSecond()
    const refreshed = await refreshWith(target.refresh_token)
    expect(refreshed.status).toBe(200)
    const { access_token } = (await refreshed.json()) as { access_token: string }
    const me = await fetchGateway('/auth/me', { headers: authHeader(access_token) })
    expect(me.status).toBe(200)
    expect(((await me.json()) as { scopes: string[] }).scopes).toHaveLength(8)
  })

  it('measures a set as stored: 40 copies of one scope are one scope', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const scopes = Array.from({ length: 40 }, () => 'read:items')
    expect(
      (await send(admin.access_token, 'PUT', `/auth/admin/users/${target.userId}/scopes`, { scopes })).status,
    ).toBe(204)
    expect((await userRow(target.userId))?.scopes).toBe('read:items')
  })

  it('lets an administrator change their own scopes while keeping the admin scope', async () => {
    const admin = await signInAdmin()
    const res = await send(admin.access_token, 'PUT', `/auth/admin/users/${admin.userId}/scopes`, {
      scopes: ['edgeward:admin', 'read:items'],
    })
    expect(res.status).toBe(204)
    expect((await userRow(admin.userId))?.scopes).toBe('edgeward:admin read:items')
  })

  it.each([
    ['a scope with a space', { scopes: ['read items'] }, [{ pointer: '/scopes/0', code: 'invalid_format' }]],
    ['a scope with a quote', { scopes: ['ok', 'a"b'] }, [{ pointer: '/scopes/1', code: 'invalid_format' }]],
    ['an empty scope', { scopes: [''] }, [{ pointer: '/scopes/0', code: 'invalid_format' }]],
    ['a string instead of a list', { scopes: 'read' }, [{ pointer: '/scopes', code: 'invalid_type' }]],
    ['an unknown field', { scopes: [], role: 'admin' }, [{ pointer: '/role', code: 'unrecognized_keys' }]],
    [
      'too many scopes',
      { scopes: Array.from({ length: 33 }, (_, i) => `s${i}`) },
      [{ pointer: '/scopes', code: 'too_big' }],
    ],
    [
      'too many scopes once duplicates are dropped',
      { scopes: [...Array.from({ length: 33 }, (_, i) => `s${i}`), 's0'] },
      [{ pointer: '/scopes', code: 'too_big' }],
    ],
    [
      // 32 of 128 characters made tokens of ~6,000 characters, which the verifier refuses (4,096): the account
      // would log in and refresh with 200 and be refused everywhere else.
      'scopes over 1,024 characters joined',
      { scopes: Array.from({ length: 9 }, (_, i) => `s${i}:${'x'.repeat(125)}`) },
      [{ pointer: '/scopes', code: 'too_big' }],
    ],
  ])('refuses %s with 400 validation_failed and changes nothing', async (_, body, errors) => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const before = await userRow(target.userId)
    const res = await send(admin.access_token, 'PUT', `/auth/admin/users/${target.userId}/scopes`, body)
    const problem = await expectProblem(res, 400, 'validation_failed')
    expect(problem.errors).toEqual(errors)
    expect(await userRow(target.userId)).toEqual(before)
    expect(await meStatus(target.access_token)).toBe(200)
  })
})

describe('DELETE /auth/admin/users/{id}', () => {
  it('erases the account: row, sessions and tokens in D1, lockout counters, live access tokens', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const other = await signIn(target.email)
    await postJson('/auth/login', { email: target.email, password: WRONG_PASSWORD })
    expect(await refreshRows(target.userId)).toEqual({ families: 2, tokens: 2 })
    expect((await lockoutCounters(target.email))[1]).not.toBeNull()

    const res = await send(admin.access_token, 'DELETE', `/auth/admin/users/${target.userId}`)
    expect(res.status).toBe(204)
    expect(await userRow(target.userId)).toBeNull()
    expect(await refreshRows(target.userId)).toEqual({ families: 0, tokens: 0 })
    expect(await lockoutCounters(target.email)).toEqual([null, null])
    for (const session of [target, other]) {
      expect(await meStatus(session.access_token)).toBe(401)
      await expectProblem(await refreshWith(session.refresh_token), 401, 'invalid_refresh_token')
    }
    await expectProblem(await login(target.email), 401, 'invalid_credentials')
    expect(await search(admin, `email=${encodeURIComponent(target.email)}`)).toEqual([])
    await expectProblem(
      await send(admin.access_token, 'DELETE', `/auth/admin/users/${target.userId}`),
      404,
      'not_found',
    )
    expect(logs.events('authz_admin').filter((r) => r.action === 'user_delete')).toMatchObject([
      { admin_userid: admin.userId, target_userid: target.userId, sessions: 2, outcome: 'success' },
    ])
    expect(logs.lines.join('\n')).not.toContain(STRONG_PASSWORD)
  })
})

describe('admin changes when a dependency fails', () => {
  const refused = () => Promise.reject(new Error('store failure: internal detail that must stay in the log'))

  it('answers an erasure 503 when the lockout store fails, keeps the account, and a retry finishes it', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const config = testConfig()
    const real = createRedisLockoutStore(createRedis(config.redis), config.accounts.lockout, config.passwords.pepper)
    let failures = 1
    const lockout: LockoutStore = { ...real, unlock: (id) => (failures-- > 0 ? refused() : real.unlock(id)) }
    const app = testApp({ lockout })
    const path = `/auth/admin/users/${target.userId}`
    const erase = () => adminCall('DELETE', path, admin.access_token, undefined, app)

    const res = await erase()
    expect(await res.clone().text()).not.toContain('internal detail')
    await expectProblem(res, 503, 'dependency_unavailable')
    expect(res.headers.get('retry-after')).toBe('2')
    // Disabled and signed out already, but still there to be erased by a retry.
    expect((await userRow(target.userId))?.disabled_at).toEqual(expect.any(Number))
    expect(await meStatus(target.access_token)).toBe(401)
    expect(logs.events('request_failed')).toMatchObject([
      { reason: 'admin_erase_lockout_failed', target_userid: target.userId, userid: admin.userId },
    ])
    expect(logs.events('authz_admin')).toMatchObject([{ action: 'user_delete', outcome: 'failure' }])
    expect((await erase()).status).toBe(204)
    expect(await userRow(target.userId)).toBeNull()
  })

  it('answers a disable 503 when D1 fails, and changes nothing', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const users = { ...createD1UserStore(env.DB), setDisabled: refused }
    const app = testApp({ users })
    const path = `/auth/admin/users/${target.userId}/disable`
    const res = await adminCall('POST', path, admin.access_token, undefined, app)
    await expectProblem(res, 503, 'dependency_unavailable')
    expect(logs.events('request_failed')).toMatchObject([
      { reason: 'admin_disable_failed', target_userid: target.userId, userid: admin.userId },
    ])
    expect((await userRow(target.userId))?.disabled_at).toBeNull()
    expect(await meStatus(target.access_token)).toBe(200)
    // The attempt is audited as one, though nothing was written: the route cannot tell how far a failed step got.
    expect(logs.events('authz_admin')).toMatchObject([
      { action: 'user_disable', target_userid: target.userId, code: 'dependency_unavailable', outcome: 'failure' },
    ])
  })
})

describe('reset links across a disable', () => {
  it('ends the unused reset links of an account it disables: re-enabled, those links reset nothing', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const { token } = await createD1AccountTokenStore(env.DB).issue({
      userId: target.userId,
      purpose: 'password_reset',
      ttlSeconds: 600,
    })
    expect((await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/disable`)).status).toBe(204)
    expect((await send(admin.access_token, 'POST', `/auth/admin/users/${target.userId}/enable`)).status).toBe(204)
    const reset = await postJson('/auth/password/reset', { token, new_password: 'juniper-compass-velvet-31' })
    await expectProblem(reset, 400, 'invalid_account_token')
    expect((await login(target.email)).status).toBe(200)
  })
})

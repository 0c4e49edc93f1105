/**
 * An administrator's standing on the admin routes, end to end against the test D1 and Redis: a token is not enough
 * when the account behind it has since been disabled or lost `edgeward:admin` in D1, even if the revocation that
 * should have killed the token was never written; and the admin routes fail closed on an Upstash outage whatever
 * REVOCATION_FAILURE_MODE says, so a revoked administrator's token cannot act unchecked. Each refusal is checked
 * whole: status, code, headers, nothing written, no token in the body or the logs.
 */
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { createD1UserStore } from '../../stores/d1/users'
import { createRedisAdmissionStore } from '../../stores/redis/admission'
import { createRedis } from '../../stores/redis/client'
import { createRedisRevocationStore } from '../../stores/redis/revocation'
import type { RevocationStore } from '../../stores/types'
import { refreshWith } from '../../test-support/accounts'
import { adminCall, meStatus, type SignedIn, signInAdmin, signInUser, userRow } from '../../test-support/admin'
import { testApp } from '../../test-support/app'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { laneBindings } from '../../test-support/rate-limit'
import { testConfig } from '../../test-support/tokens'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="edgeward", error="invalid_token"'
const SCOPE_CHALLENGE = 'Bearer realm="edgeward", error="insufficient_scope", scope="edgeward:admin"'

let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

const failure = () => Promise.reject(new Error('store failure: internal detail that must stay in the log'))

/** An app whose Upstash revocation writes fail: an admin change it serves writes D1, then answers 503. */
function appWithoutRevocationWrites() {
  const config = testConfig()
  const redis = createRedis(config.redis)
  const real = createRedisRevocationStore(redis, {
    clockSkewSeconds: config.jwt.clockSkewSeconds,
    accessTtlSeconds: config.jwt.accessTtlSeconds,
  })
  const failing: RevocationStore = { ...real, revoke: failure, revokeSession: failure, revokeUserBefore: failure }
  return testApp({ revocation: failing, admission: createRedisAdmissionStore(redis) })
}

/** What the admin routes could change about an account, to compare before and after a refusal. */
const standing = async (account: SignedIn) => ({
  row: await userRow(account.userId),
  me: await meStatus(account.access_token),
})

/** No part of any of these tokens in this text. */
function expectNoTokens(text: string, accounts: SignedIn[]) {
  for (const { access_token, refresh_token } of accounts) {
    expect(text).not.toContain(access_token)
    expect(text).not.toContain(access_token.split('.')[2])
    expect(text).not.toContain(refresh_token)
  }
}

describe("admin routes: the administrator's standing is read from D1", () => {
  it('refuses a disabled administrator whose token outlived a half-done disable: 401, nothing written', async () => {
    const admin = await signInAdmin()
    const other = await signInAdmin()
    // The disable writes D1, then fails before any revocation: the other administrator's token still works.
    const half = await adminCall(
      'POST',
      `/auth/admin/users/${other.userId}/disable`,
      admin.access_token,
      undefined,
      appWithoutRevocationWrites(),
    )
    await expectProblem(half, 503, 'revocation_unavailable')
    expect((await userRow(other.userId))?.disabled_at).not.toBeNull()
    expect(await meStatus(other.access_token)).toBe(200)
    // The failed attempt is in the audit trail, as an attempt.
    expect(logs.events('authz_admin')).toEqual([
      expect.objectContaining({
        action: 'user_disable',
        admin_userid: admin.userId,
        target_userid: other.userId,
        outcome: 'failure',
        code: 'revocation_unavailable',
      }),
    ])

    const bystander = await signInUser()
    const before = { self: await standing(other), admin: await standing(admin), bystander: await standing(bystander) }
    for (const [method, path, body] of [
      ['POST', `/auth/admin/users/${other.userId}/enable`],
      ['POST', `/auth/admin/users/${admin.userId}/disable`],
      ['PUT', `/auth/admin/users/${bystander.userId}/scopes`, { scopes: ['edgeward:admin'] }],
      ['DELETE', `/auth/admin/users/${bystander.userId}/sessions`],
      ['GET', `/auth/admin/users?email=${encodeURIComponent(bystander.email)}`],
    ] as const) {
      const res = await adminCall(method, path, other.access_token, body)
      const text = await res.clone().text()
      await expectProblem(res, 401, 'invalid_token')
      expect(res.headers.get('www-authenticate')).toBe(INVALID_TOKEN_CHALLENGE)
      expectNoTokens(text, [other])
    }
    expect({ self: await standing(other), admin: await standing(admin), bystander: await standing(bystander) }).toEqual(
      before,
    )
    expect((await refreshWith(bystander.refresh_token)).status).toBe(200)
    expect(logs.events('authz_admin')).toHaveLength(1)
    expect(logs.events('authn_token_invalid').map((r) => [r.reason, r.userid])).toEqual(
      Array(5).fill(['admin_account_disabled', other.userId]),
    )
    expectNoTokens(logs.lines.join('\n'), [admin, other, bystander])

    // The retry finishes the disable: the token dies everywhere.
    expect((await adminCall('POST', `/auth/admin/users/${other.userId}/disable`, admin.access_token)).status).toBe(204)
    expect(await meStatus(other.access_token)).toBe(401)
  })

  it('refuses a demoted administrator whose token still carries the scope: 403, nothing written', async () => {
    const admin = await signInAdmin()
    const other = await signInAdmin()
    const half = await adminCall(
      'PUT',
      `/auth/admin/users/${other.userId}/scopes`,
      admin.access_token,
      { scopes: [] },
      appWithoutRevocationWrites(),
    )
    await expectProblem(half, 503, 'revocation_unavailable')
    expect((await userRow(other.userId))?.scopes).toBe('')
    expect(await meStatus(other.access_token)).toBe(200)

    const before = { self: await standing(other), admin: await standing(admin) }
    for (const [method, path, body] of [
      ['PUT', `/auth/admin/users/${other.userId}/scopes`, { scopes: ['edgeward:admin'] }],
      ['POST', `/auth/admin/users/${admin.userId}/disable`],
      ['DELETE', `/auth/admin/users/${admin.userId}`],
    ] as const) {
      const res = await adminCall(method, path, other.access_token, body)
      await expectProblem(res, 403, 'insufficient_scope')
      expect(res.headers.get('www-authenticate')).toBe(SCOPE_CHALLENGE)
    }
    expect({ self: await standing(other), admin: await standing(admin) }).toEqual(before)
    expect(logs.events('authz_fail').map((r) => [r.reason, r.userid])).toEqual(
      Array(3).fill(['admin_scope_removed', other.userId]),
    )
    expect(logs.events('authz_admin').map((r) => r.outcome)).toEqual(['failure'])
    expectNoTokens(logs.lines.join('\n'), [admin, other])
  })

  it('answers 503 when D1 cannot say, and acts on nothing', async () => {
    const admin = await signInAdmin()
    const target = await signInUser()
    const users = { ...createD1UserStore(env.DB), findById: failure }
    const res = await adminCall(
      'POST',
      `/auth/admin/users/${target.userId}/disable`,
      admin.access_token,
      undefined,
      testApp({ users }),
    )
    expect(await res.clone().text()).not.toContain('internal detail')
    await expectProblem(res, 503, 'dependency_unavailable')
    expect(res.headers.get('retry-after')).toBe('2')
    expect((await userRow(target.userId))?.disabled_at).toBeNull()
    expect(logs.events('request_failed')).toMatchObject([
      { reason: 'admin_standing_read_failed', userid: admin.userId },
    ])
    expect(logs.events('authz_admin')).toEqual([])
  })
})

describe('admin routes: fail closed on an Upstash outage, whatever REVOCATION_FAILURE_MODE says', () => {
  it('refuses every admin request with 503 while the revocation check cannot be made, writing nothing', async () => {
    const admin = await signInAdmin()
    const disabled = await signInAdmin()
    const demoted = await signInAdmin()
    expect((await adminCall('POST', `/auth/admin/users/${disabled.userId}/disable`, admin.access_token)).status).toBe(
      204,
    )
    expect(
      (await adminCall('PUT', `/auth/admin/users/${demoted.userId}/scopes`, admin.access_token, { scopes: [] })).status,
    ).toBe(204)
    const { lane, bindings } = laneBindings({ REVOCATION_FAILURE_MODE: 'open', UPSTASH_TIMEOUT_MS: '200' })
    const app = testApp()
    const send = (method: string, path: string, token: string, body?: unknown) =>
      app.fetch(
        new Request(`https://gw.test${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        }),
        bindings,
      )
    const before = {
      admin: await userRow(admin.userId),
      disabled: await userRow(disabled.userId),
      demoted: await userRow(demoted.userId),
    }
    await control.setFault('error500', 10_000, lane)
    try {
      // Open mode still lets an ordinary route through unchecked, as documented.
      expect((await send('GET', '/auth/me', admin.access_token)).status).toBe(200)
      for (const [method, path, token, body] of [
        ['POST', `/auth/admin/users/${disabled.userId}/enable`, disabled.access_token],
        ['PUT', `/auth/admin/users/${demoted.userId}/scopes`, demoted.access_token, { scopes: ['edgeward:admin'] }],
        ['POST', `/auth/admin/users/${admin.userId}/disable`, demoted.access_token],
        ['GET', `/auth/admin/users/${admin.userId}/sessions`, admin.access_token],
      ] as const) {
        const res = await send(method, path, token, body)
        await expectProblem(res, 503, 'revocation_unavailable')
        expect(res.headers.get('retry-after')).toBe('2')
      }
    } finally {
      await control.setFault('none', undefined, lane)
    }
    expect({
      admin: await userRow(admin.userId),
      disabled: await userRow(disabled.userId),
      demoted: await userRow(demoted.userId),
    }).toEqual(before)
    expect(await meStatus(admin.access_token)).toBe(200)
    expect(logs.events('authz_admin').map((r) => r.action)).toEqual(['user_disable', 'user_scopes_set'])
    expect(logs.events('revocation_check_skipped')).toHaveLength(1)
    expectNoTokens(logs.lines.join('\n'), [admin, disabled, demoted])
  })
})

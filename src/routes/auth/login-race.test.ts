/**
 * A login whose password check passed a moment before the account's credentials changed (a reset, a change, an
 * administrator's disable) must not come out with a session, nor a refresh rotated just before a reset with a token
 * that outlives it: the change is how an owner takes the account back from someone who knows the old password or
 * holds a stolen refresh token, who could otherwise keep a session by acting during it. Each request is held at the
 * step the race needs (a gated store method), the change runs, then the request goes on. Also: the re-hash of a
 * legacy hash never undoes a reset, a reset that cannot write its last cutoff fails closed, and two logins with the
 * right password both succeed when one of them re-hashes.
 */
import { env, exports } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { hashPassword } from '../../passwords/password'
import { createD1RefreshTokenStore } from '../../stores/d1/refresh-tokens'
import { createD1UserStore } from '../../stores/d1/users'
import { accountFlows, rowCount } from '../../test-support/account-flows'
import { STRONG_PASSWORD, uniqueEmail } from '../../test-support/accounts'
import { adminCall, signInAdmin } from '../../test-support/admin'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader, testConfig } from '../../test-support/tokens'

const NEW_PASSWORD = 'saffron-glacier-tandem-58'

/**
 * `store` with `method` held, once armed, at its next call until released: the request making that call waits
 * there while the test runs what races it. `after`: the call is made first, and its result held.
 */
function holdNext<T extends object>(store: T, method: keyof T, { after = false } = {}) {
  let gate: Promise<void> | undefined
  let open = () => {}
  let held = 0
  const original = store[method] as (...args: unknown[]) => Promise<unknown>
  const wrapped = {
    ...store,
    [method]: async (...args: unknown[]) => {
      const result = after ? await original.apply(store, args) : undefined
      if (gate !== undefined) {
        const wait = gate
        gate = undefined
        held++
        await wait
      }
      return after ? result : original.apply(store, args)
    },
  } as T
  return {
    store: wrapped,
    arm() {
      gate = new Promise((resolve) => {
        open = resolve
      })
    },
    release: () => open(),
    async untilHeld() {
      for (let i = 0; i < 400 && held === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
      expect(held).toBe(1)
    },
  }
}

async function setUp(tag: string) {
  const held = holdNext(createD1RefreshTokenStore(env.DB), 'issue')
  const flows = accountFlows({}, { refreshTokens: held.store })
  const email = uniqueEmail(tag)
  expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
  const user = await env.DB.prepare('SELECT id FROM users WHERE email = ?1').bind(email).first<{ id: string }>()
  return { held, flows, email, userId: user?.id as string }
}

const liveSessions = (userId: string) =>
  rowCount('refresh_token_families', 'user_id = ?1 AND revoked_at IS NULL', userId)

/** The held login's answer, checked whole: the same 401 as a wrong password, no token, no live session. */
async function expectRefused(res: Response, userId: string) {
  const text = await res.clone().text()
  await expectProblem(res, 401, 'invalid_credentials')
  expect(text).not.toContain('access_token')
  expect(res.headers.get('set-cookie')).toBeNull()
  expect(await liveSessions(userId)).toBe(0)
}

describe('a login in flight while the credentials change', () => {
  it('gets no session when a password reset lands between its password check and its session', async () => {
    const { held, flows, email, userId } = await setUp('race-reset')
    expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
    const token = flows.tokenFor('account.password_reset_requested', email)
    held.arm()
    const logs = captureLogs()
    try {
      const login = flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })
      await held.untilHeld()
      expect((await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })).status).toBe(204)
      held.release()
      await expectRefused(await login, userId)
      expect(logs.events('authn_login_fail')).toMatchObject([{ reason: 'credentials_changed', userid: userId }])
      const written = logs.lines.join('\n')
      for (const secret of [STRONG_PASSWORD, NEW_PASSWORD, token, email]) expect(written).not.toContain(secret)
    } finally {
      logs.restore()
    }
    // The new password still works: the refusal is the old password's, not the account's.
    expect((await flows.post('/auth/login', { email, password: NEW_PASSWORD })).status).toBe(200)
  })

  it('gets no session when the owner changes the password in between', async () => {
    const { held, flows, email, userId } = await setUp('race-change')
    const owner = (await (await flows.post('/auth/login', { email, password: STRONG_PASSWORD })).json()) as {
      access_token: string
    }
    held.arm()
    const login = flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })
    await held.untilHeld()
    const change = await flows.post(
      '/auth/password/change',
      { current_password: STRONG_PASSWORD, new_password: NEW_PASSWORD },
      { headers: authHeader(owner.access_token) },
    )
    expect(change.status).toBe(204)
    held.release()
    const res = await login
    const text = await res.clone().text()
    await expectProblem(res, 401, 'invalid_credentials')
    expect(text).not.toContain('access_token')
    // Only the owner's own session is left.
    expect(await liveSessions(userId)).toBe(1)
  })

  it('gets no session when an administrator disables the account in between', async () => {
    const { held, flows, email, userId } = await setUp('race-disable')
    const admin = await signInAdmin()
    held.arm()
    const login = flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })
    await held.untilHeld()
    expect((await adminCall('POST', `/auth/admin/users/${userId}/disable`, admin.access_token)).status).toBe(204)
    held.release()
    await expectRefused(await login, userId)
    // Enabled again, nothing of the refused login comes back to life.
    expect((await adminCall('POST', `/auth/admin/users/${userId}/enable`, admin.access_token)).status).toBe(204)
    expect(await liveSessions(userId)).toBe(0)
  })
})

describe('the re-hash after a login with an old hash', () => {
  it('never puts the old password back over a reset that landed before it wrote', async () => {
    const users = createD1UserStore(env.DB)
    // The login's re-hash (after its answer) is the first hash written once armed: it waits for the reset.
    const held = holdNext(users, 'setPasswordHash')
    const flows = accountFlows({}, { users: held.store })
    const email = uniqueEmail('race-rehash')
    const legacy = await hashPassword(STRONG_PASSWORD, testConfig().passwords.pepper, { iterations: 50_000 })
    expect((await users.create({ email, passwordHash: legacy })).created).toBe(true)
    expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
    const token = flows.tokenFor('account.password_reset_requested', email)
    // The login answers, its re-hash waits; then a reset sets a new password.
    held.arm()
    expect((await flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })).status).toBe(
      200,
    )
    await held.untilHeld()
    expect(
      (await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD }, { unsettled: true })).status,
    ).toBe(204)
    held.release()
    await flows.settle()
    await expectProblem(
      await flows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      401,
      'invalid_credentials',
    )
    expect((await flows.post('/auth/login', { email, password: NEW_PASSWORD })).status).toBe(200)
  })
})

describe('a refresh in flight while the credentials change', () => {
  it('answers 401, with no tokens, when a reset lands between its rotation and its answer', async () => {
    // The refresh waits once its rotation is written.
    const reads = holdNext(createD1RefreshTokenStore(env.DB), 'rotate', { after: true })
    const flows = accountFlows({}, { refreshTokens: reads.store })
    const email = uniqueEmail('race-refresh')
    expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    const pair = (await (await flows.post('/auth/login', { email, password: STRONG_PASSWORD })).json()) as {
      refresh_token: string
    }
    expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
    const token = flows.tokenFor('account.password_reset_requested', email)
    reads.arm()
    const refresh = flows.post('/auth/refresh', { refresh_token: pair.refresh_token }, { unsettled: true })
    await reads.untilHeld()
    expect((await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })).status).toBe(204)
    // The refresh mints in a later second than the reset's cutoff: were it to answer, only an issue time taken
    // before the rotation would keep its token under the cutoff.
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const logs = captureLogs()
    try {
      reads.release()
      const res = await refresh
      const text = await res.clone().text()
      await expectProblem(res, 401, 'invalid_refresh_token')
      expect(text).not.toMatch(/"(access|refresh)_token":/)
      expect(res.headers.get('set-cookie')).toBeNull()
      expect(logs.events('session_renewed')).toEqual([])
      expect(logs.events('authn_token_invalid')).toMatchObject([{ reason: 'session_revoked', purpose: 'refresh' }])
      expect(logs.lines.join('\n')).not.toContain(pair.refresh_token)
    } finally {
      logs.restore()
    }
    const user = await env.DB.prepare('SELECT id FROM users WHERE email = ?1').bind(email).first<{ id: string }>()
    expect(await liveSessions(user?.id as string)).toBe(0)
  })

  it('answers 401 when a logout-all lands between its rotation and its answer, and 200 when nothing does', async () => {
    const reads = holdNext(createD1RefreshTokenStore(env.DB), 'rotate', { after: true })
    const flows = accountFlows({}, { refreshTokens: reads.store })
    const email = uniqueEmail('race-refresh-logout')
    expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    const login = async () =>
      (await (await flows.post('/auth/login', { email, password: STRONG_PASSWORD })).json()) as {
        access_token: string
        refresh_token: string
      }
    const first = await login()
    const second = await login()
    // Unraced, the same read lets the refresh through.
    const fine = await flows.post('/auth/refresh', { refresh_token: first.refresh_token })
    expect(fine.status).toBe(200)
    reads.arm()
    const refresh = flows.post('/auth/refresh', { refresh_token: second.refresh_token }, { unsettled: true })
    await reads.untilHeld()
    const all = await exports.default.fetch('https://gw.test/auth/logout-all', {
      method: 'POST',
      headers: authHeader(first.access_token),
    })
    expect(all.status).toBe(204)
    reads.release()
    await expectProblem(await refresh, 401, 'invalid_refresh_token')
  })
})

describe('a refresh whose liveness read fails', () => {
  it('answers 503, never 401, and the same token refreshes once the store is back (grace window)', async () => {
    const base = createD1RefreshTokenStore(env.DB)
    let fail = false
    const flows = accountFlows(
      {},
      {
        refreshTokens: {
          ...base,
          isFamilyLive: async (id: string) => {
            if (fail) throw new Error('D1 unavailable')
            return base.isFamilyLive(id)
          },
        },
      },
    )
    const email = uniqueEmail('refresh-store-down')
    expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    const pair = await flows.login(email, STRONG_PASSWORD)
    const logs = captureLogs()
    try {
      fail = true
      const res = await flows.post('/auth/refresh', { refresh_token: pair.refresh_token })
      await expectProblem(res, 503, 'dependency_unavailable')
      expect(res.headers.get('retry-after')).toBe('2')
      expect(logs.events('request_failed')).toMatchObject([{ reason: 'refresh_store_failed' }])
      fail = false
      expect((await flows.post('/auth/refresh', { refresh_token: pair.refresh_token })).status).toBe(200)
    } finally {
      logs.restore()
    }
  })
})

describe('a reset whose last cutoff cannot be written', () => {
  it('answers 503 revocation_unavailable, not 204, when its D1 writes crossed a second and Upstash then failed', async () => {
    const held = holdNext(createD1UserStore(env.DB), 'setPasswordHash')
    const lane = `/lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const flows = accountFlows(
      { UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}${lane}` },
      { users: held.store },
    )
    const email = uniqueEmail('reset-final-cutoff')
    expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
    const token = flows.tokenFor('account.password_reset_requested', email)
    // The reset writes its first cutoff, then waits at the hash until its D1 writes land in a later second, by which
    // time Upstash fails.
    held.arm()
    const reset = flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD }, { unsettled: true })
    await held.untilHeld()
    await control.setFault('error500', 10_000, lane)
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      held.release()
      const res = await reset
      expect(res.headers.get('retry-after')).toBe('2')
      await expectProblem(res, 503, 'revocation_unavailable')
    } finally {
      await control.setFault('none', undefined, lane)
    }
    // The password is reset all the same.
    expect((await flows.post('/auth/login', { email, password: NEW_PASSWORD })).status).toBe(200)
  })
})

describe('two logins with the right password and a legacy hash', () => {
  it('both succeed when one re-hashes while the other is between its check and its session', async () => {
    const users = createD1UserStore(env.DB)
    // The first login waits at its session; the second goes through, and its re-hash replaces the stored hash.
    const held = holdNext(createD1RefreshTokenStore(env.DB), 'issue')
    const flows = accountFlows({}, { refreshTokens: held.store })
    const email = uniqueEmail('race-two-logins')
    const legacy = await hashPassword(STRONG_PASSWORD, testConfig().passwords.pepper, { iterations: 50_000 })
    expect((await users.create({ email, passwordHash: legacy })).created).toBe(true)
    held.arm()
    const first = flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })
    await held.untilHeld()
    expect((await flows.post('/auth/login', { email, password: STRONG_PASSWORD })).status).toBe(200)
    expect((await users.findByEmail(email))?.passwordHash).not.toBe(legacy)
    held.release()
    expect((await first).status).toBe(200)
  })
})

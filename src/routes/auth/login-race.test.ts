/**
 * A login whose password check passed a moment before the account's credentials changed (a reset, a change, an
 * administrator's disable) must not come out with a session: the change is how an owner takes the account back
 * from someone who knows the old password, and that someone could otherwise keep logging in during it. The login
 * is held between its password check and the session's creation (the window a slow KDF and D1 leave open), the
 * change runs, then the login goes on.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { hashPassword } from '../../passwords/password'
import { createD1RefreshTokenStore } from '../../stores/d1/refresh-tokens'
import { createD1UserStore } from '../../stores/d1/users'
import type { RefreshTokenStore, UserStore } from '../../stores/types'
import { accountFlows, rowCount } from '../../test-support/account-flows'
import { STRONG_PASSWORD, uniqueEmail } from '../../test-support/accounts'
import { adminCall, signInAdmin } from '../../test-support/admin'
import { expectProblem } from '../../test-support/problem'
import { authHeader, testConfig } from '../../test-support/tokens'

const NEW_PASSWORD = 'saffron-glacier-tandem-58'

/** The D1 refresh store with `issue` held while armed: the login waits there, after its password check. */
function heldLogins() {
  const store = createD1RefreshTokenStore(env.DB)
  let gate: Promise<void> | undefined
  let open = () => {}
  let waiting = 0
  const held: RefreshTokenStore = {
    ...store,
    async issue(...args) {
      if (gate !== undefined) {
        waiting++
        await gate
      }
      return store.issue(...args)
    },
  }
  return {
    store: held,
    arm() {
      gate = new Promise((resolve) => {
        open = () => {
          gate = undefined
          resolve()
        }
      })
    },
    release: () => open(),
    async untilWaiting() {
      for (let i = 0; i < 200 && waiting === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
      expect(waiting).toBe(1)
    },
  }
}

async function setUp(tag: string) {
  const held = heldLogins()
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
    const login = flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })
    await held.untilWaiting()
    expect((await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })).status).toBe(204)
    held.release()
    await expectRefused(await login, userId)
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
    await held.untilWaiting()
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
    await held.untilWaiting()
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
    let open = () => {}
    let gate: Promise<void> | undefined = new Promise((resolve) => {
      open = resolve
    })
    let held = 0
    // The first write of a hash after arming is the login's re-hash (after its answer): it waits for the reset.
    const heldUsers: UserStore = {
      ...users,
      async setPasswordHash(...args) {
        if (gate !== undefined) {
          const wait = gate
          gate = undefined
          held++
          await wait
        }
        return users.setPasswordHash(...args)
      },
    }
    const flows = accountFlows({}, { users: heldUsers })
    const email = uniqueEmail('race-rehash')
    const legacy = await hashPassword(STRONG_PASSWORD, testConfig().passwords.pepper, { iterations: 50_000 })
    expect((await users.create({ email, passwordHash: legacy })).created).toBe(true)
    expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
    const token = flows.tokenFor('account.password_reset_requested', email)
    // The login answers, its re-hash waits; then a reset sets a new password.
    expect((await flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { unsettled: true })).status).toBe(
      200,
    )
    for (let i = 0; i < 400 && held === 0; i++) await new Promise((resolve) => setTimeout(resolve, 5))
    expect(held).toBe(1)
    expect(
      (await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD }, { unsettled: true })).status,
    ).toBe(204)
    open()
    await flows.settle()
    await expectProblem(
      await flows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      401,
      'invalid_credentials',
    )
    expect((await flows.post('/auth/login', { email, password: NEW_PASSWORD })).status).toBe(200)
  })
})

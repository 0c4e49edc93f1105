import { exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { accountFlows, rowCount, userRow } from '../../test-support/account-flows'
import { STRONG_PASSWORD, uniqueEmail } from '../../test-support/accounts'
import { pbkdf2Calls } from '../../test-support/kdf'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader } from '../../test-support/tokens'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const NEW_PASSWORD = 'juniper-compass-velvet-31'
const WRONG_PASSWORD = 'not-the-right-password-1'
const flows = accountFlows()

const me = (accessToken: string) =>
  exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(accessToken) })

/** A verified account with `sessions` logins (REGISTRATION=open in development). */
async function accountWithSessions(sessions = 1) {
  const email = uniqueEmail('change')
  expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
  const pairs = []
  for (let i = 0; i < sessions; i++) pairs.push(await flows.login(email, STRONG_PASSWORD))
  return { email, pairs, userId: (await userRow(email))?.id as string }
}

const change = (accessToken: string, current_password: string, new_password = NEW_PASSWORD) =>
  flows.post(
    '/auth/password/change',
    { current_password, new_password },
    { headers: authHeader(accessToken) as Record<string, string> },
  )

describe('POST /auth/password/change', () => {
  it("sets the password, keeps the caller's session and ends every other one at once: 204", async () => {
    logs = captureLogs()
    const { email, pairs, userId } = await accountWithSessions(3)
    const [caller, ...others] = pairs as [(typeof pairs)[number], ...typeof pairs]
    const res = await change(caller.access_token, STRONG_PASSWORD)
    expect(res.status).toBe(204)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.text()).toBe('')

    expect((await me(caller.access_token)).status).toBe(200)
    expect((await flows.post('/auth/refresh', { refresh_token: caller.refresh_token })).status).toBe(200)
    for (const { access_token, refresh_token } of others) {
      await expectProblem(await me(access_token), 401, 'invalid_token')
      await expectProblem(await flows.post('/auth/refresh', { refresh_token }), 401, 'invalid_refresh_token')
    }
    expect(await rowCount('refresh_token_families', 'user_id = ?1 AND revoked_at IS NULL', userId)).toBe(1)
    await expectProblem(
      await flows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      401,
      'invalid_credentials',
    )
    await flows.login(email, NEW_PASSWORD)
    expect(flows.eventsFor(email).map((e) => e.type)).toEqual(['account.password_changed'])
    expect(logs.events('authn_password_change')[0]).toMatchObject({ userid: userId, method: 'change', sessions: 2 })
    const written = logs.lines.join('\n')
    for (const secret of [STRONG_PASSWORD, NEW_PASSWORD, email, caller.access_token, caller.refresh_token]) {
      expect(written).not.toContain(secret)
    }
  })

  it('refuses a wrong current password with 403, writes nothing, and counts it like a failed login', async () => {
    logs = captureLogs()
    const { email, pairs, userId } = await accountWithSessions(2)
    const [caller] = pairs as [(typeof pairs)[number]]
    const before = await userRow(email)
    for (let i = 0; i < 4; i++) {
      await expectProblem(await change(caller.access_token, WRONG_PASSWORD), 403, 'incorrect_password')
    }
    expect(await userRow(email)).toEqual(before)
    expect(await rowCount('refresh_token_families', 'user_id = ?1 AND revoked_at IS NULL', userId)).toBe(2)
    expect(flows.eventsFor(email)).toEqual([])
    // The fifth failure, this time a login, locks the change too: the login's 429, without a KDF.
    await flows.post('/auth/login', { email, password: WRONG_PASSWORD })
    const kdf = pbkdf2Calls()
    const locked = await change(caller.access_token, STRONG_PASSWORD)
    await expectProblem(locked, 429, 'account_locked')
    expect(Number(locked.headers.get('retry-after'))).toBeGreaterThan(890)
    expect(pbkdf2Calls()).toBe(kdf)
    expect(logs.events('authn_password_change_fail').map((r) => [r.userid, r.reason])).toEqual(
      Array.from({ length: 4 }, () => [userId, 'mismatch']),
    )
    expect(logs.events('authn_login_lock')).toHaveLength(2)
    expect(logs.lines.join('\n')).not.toContain(WRONG_PASSWORD)
  })

  it('resets the failure count on a success, as a login does', async () => {
    const { pairs } = await accountWithSessions()
    const [caller] = pairs as [(typeof pairs)[number]]
    for (let i = 0; i < 4; i++) await change(caller.access_token, WRONG_PASSWORD)
    expect((await change(caller.access_token, STRONG_PASSWORD)).status).toBe(204)
    for (let i = 0; i < 4; i++) {
      await expectProblem(await change(caller.access_token, WRONG_PASSWORD), 403, 'incorrect_password')
    }
    expect((await change(caller.access_token, NEW_PASSWORD, STRONG_PASSWORD)).status).toBe(204)
  })

  it('checks the new password against the policy first: no KDF, no attempt counted', async () => {
    const { email, pairs } = await accountWithSessions()
    const [caller] = pairs as [(typeof pairs)[number]]
    const kdf = pbkdf2Calls()
    for (const [new_password, code] of [
      ['password123', 'common'],
      [email.split('@')[0] as string, 'matches_email'],
      ['short', 'too_short'],
      ['short', 'too_short'],
      ['short', 'too_short'],
      ['short', 'too_short'],
    ]) {
      const body = await expectProblem(
        await change(caller.access_token, WRONG_PASSWORD, new_password),
        400,
        'validation_failed',
      )
      expect(body.errors).toEqual([{ pointer: '/new_password', code }])
    }
    expect(pbkdf2Calls()).toBe(kdf)
    expect((await change(caller.access_token, STRONG_PASSWORD)).status).toBe(204)
  })

  it('requires a valid bearer token, and a strict body', async () => {
    const { pairs } = await accountWithSessions()
    const [caller] = pairs as [(typeof pairs)[number]]
    const anonymous = await flows.post('/auth/password/change', {
      current_password: STRONG_PASSWORD,
      new_password: NEW_PASSWORD,
    })
    await expectProblem(anonymous, 401, 'unauthenticated')
    const extra = await flows.post(
      '/auth/password/change',
      { current_password: STRONG_PASSWORD, new_password: NEW_PASSWORD, sessions: 'keep' },
      { headers: authHeader(caller.access_token) as Record<string, string> },
    )
    expect((await expectProblem(extra, 400, 'validation_failed')).errors).toEqual([
      { pointer: '/sessions', code: 'unrecognized_keys' },
    ])
    await flows.post('/auth/logout', {}, { headers: authHeader(caller.access_token) as Record<string, string> })
    await expectProblem(await change(caller.access_token, STRONG_PASSWORD), 401, 'invalid_token')
  })
})

describe('account.locked', () => {
  it('tells the owner when failed logins lock the account, once, after the answer; an unknown address tells no one', async () => {
    const lockFlows = accountFlows({ RATE_LIMIT_AUTH: 'off', LOCKOUT_THRESHOLD: '3' })
    const email = uniqueEmail('locked')
    expect((await lockFlows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    const ghost = uniqueEmail('ghost')
    const answers: Response[] = []
    for (const address of [email, ghost]) {
      for (let i = 0; i < 3; i++) {
        answers.push(await lockFlows.post('/auth/login', { email: address, password: 'wrong-password-entirely-1' }))
      }
    }
    for (const res of answers) await expectProblem(res, 401, 'invalid_credentials')
    const locked = lockFlows.eventsFor(email).filter((e) => e.type === 'account.locked')
    expect(locked).toHaveLength(1)
    expect(locked[0]).toMatchObject({ email, user_id: expect.any(String) })
    expect(locked[0]?.token).toBeUndefined()
    expect(lockFlows.eventsFor(ghost)).toEqual([])
    await expectProblem(
      await lockFlows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      429,
      'account_locked',
    )
    expect(lockFlows.eventsFor(email).filter((e) => e.type === 'account.locked')).toHaveLength(1)
  })

  it('tells the owner when wrong current passwords in a password change lock the account', async () => {
    // Whoever holds a stolen session can lock the owner out of logging in this way: the owner must hear of it.
    const lockFlows = accountFlows({ RATE_LIMIT_AUTH: 'off', LOCKOUT_THRESHOLD: '3' })
    const email = uniqueEmail('locked-by-change')
    expect((await lockFlows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    const { access_token } = await lockFlows.login(email, STRONG_PASSWORD)
    for (let i = 0; i < 3; i++) {
      const res = await lockFlows.post(
        '/auth/password/change',
        { current_password: WRONG_PASSWORD, new_password: NEW_PASSWORD },
        { headers: authHeader(access_token) as Record<string, string> },
      )
      await expectProblem(res, 403, 'incorrect_password')
    }
    const locked = lockFlows.eventsFor(email).filter((e) => e.type === 'account.locked')
    expect(locked).toMatchObject([{ email, user_id: expect.any(String) }])
    await expectProblem(
      await lockFlows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      429,
      'account_locked',
    )
  })

  it('tells no one when the locked address was never proven: its owner did not create the account', async () => {
    // Registering someone else's address, then failing its logins, would otherwise mail that person a lock
    // notice every lockout window, outside the limit on mail to a pending address.
    const lockFlows = accountFlows({ RATE_LIMIT_AUTH: 'off', LOCKOUT_THRESHOLD: '3', REGISTRATION: 'verify' })
    const email = uniqueEmail('locked-pending')
    expect((await lockFlows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    for (let i = 0; i < 3; i++) {
      await expectProblem(
        await lockFlows.post('/auth/login', { email, password: WRONG_PASSWORD }),
        401,
        'invalid_credentials',
      )
    }
    await expectProblem(
      await lockFlows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      429,
      'account_locked',
    )
    expect(lockFlows.eventsFor(email).map((e) => e.type)).toEqual(['account.verification_requested'])
  })
})

describe('reset links across a password change', () => {
  it('ends the unused reset links: a link mailed before the change resets nothing after it', async () => {
    const email = uniqueEmail('changed')
    expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
    const token = flows.tokenFor('account.password_reset_requested', email)
    const { access_token } = await flows.login(email, STRONG_PASSWORD)
    const change = await flows.post(
      '/auth/password/change',
      { current_password: STRONG_PASSWORD, new_password: NEW_PASSWORD },
      { headers: authHeader(access_token) },
    )
    expect(change.status).toBe(204)
    const reset = await flows.post('/auth/password/reset', { token, new_password: 'copper-meadow-falcon-19' })
    await expectProblem(reset, 400, 'invalid_account_token')
    await flows.login(email, NEW_PASSWORD)
  })
})

import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { PASSWORD_RESET_MAX_WINDOW_SECONDS } from '../../config/vars'
import { EXACT_POLICIES } from '../../lib/rate-limit-policies'
import { createD1UserStore } from '../../stores/d1/users'
import { accountFlows, expectOneTokenSent, holding, rowCount, userRow } from '../../test-support/account-flows'
import { STRONG_PASSWORD, uniqueEmail } from '../../test-support/accounts'
import { pbkdf2Calls } from '../../test-support/kdf'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader } from '../../test-support/tokens'
import { PASSWORD_RESET_TOKEN_TTL_SECONDS, RESET_REQUESTED } from './password-reset'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const NEW_PASSWORD = 'saffron-glacier-tandem-58'
const WRONG_PASSWORD = 'not-the-right-password-1'
const flows = accountFlows()

/** A verified account (REGISTRATION=open in development) and a reset token for it. */
async function accountWithResetToken(email = uniqueEmail('reset')) {
  expect((await flows.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
  expect((await flows.post('/auth/password/forgot', { email })).status).toBe(202)
  return { email, token: flows.tokenFor('account.password_reset_requested', email) }
}

const me = (accessToken: string) =>
  exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(accessToken) })

describe('POST /auth/password/forgot', () => {
  it('hands the origin a 30-minute reset token for a known address, answering 202 no-store', async () => {
    logs = captureLogs()
    const email = uniqueEmail('forgot')
    await flows.post('/auth/register', { email, password: STRONG_PASSWORD })
    const res = await flows.post('/auth/password/forgot', { email: `  ${email.toUpperCase()}` })
    expect(res.status).toBe(202)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const text = await res.text()
    expect(JSON.parse(text)).toEqual(RESET_REQUESTED)
    const row = await userRow(email)
    const token = await expectOneTokenSent(
      flows.eventsFor(email),
      { type: 'account.password_reset_requested', email, userId: row?.id },
      { purpose: 'password_reset', ttl: PASSWORD_RESET_TOKEN_TTL_SECONDS },
    )
    expect(logs.events('password_reset_requested')[0]).toMatchObject({ userid: row?.id, outcome: 'success' })
    const written = logs.lines.join('\n') + text
    for (const secret of [STRONG_PASSWORD, email, token]) expect(written).not.toContain(secret)
  })

  it('answers unknown, known, pending and disabled addresses with the same bytes; only the known one gets a token', async () => {
    const known = uniqueEmail('known')
    await flows.post('/auth/register', { email: known, password: STRONG_PASSWORD })
    const pending = uniqueEmail('pending')
    await createD1UserStore(env.DB).create({ email: pending, passwordHash: 'h', verified: false })
    const disabled = uniqueEmail('disabled')
    await flows.post('/auth/register', { email: disabled, password: STRONG_PASSWORD })
    await env.DB.prepare('UPDATE users SET disabled_at = unixepoch() WHERE email = ?1').bind(disabled).run()
    const unknown = uniqueEmail('ghost')
    const tokens = await rowCount('account_tokens')
    const headers = { 'x-request-id': crypto.randomUUID() }
    const responses = []
    for (const email of [unknown, known, pending, disabled]) {
      responses.push(await flows.post('/auth/password/forgot', { email }, { headers }))
    }
    const [first, ...others] = responses as [Response, ...Response[]]
    expect(first.status).toBe(202)
    for (const res of others) expect([...res.headers]).toEqual([...first.headers])
    expect(new Set(await Promise.all(responses.map((r) => r.text()))).size).toBe(1)
    expect(await rowCount('account_tokens')).toBe(tokens + 1)
    expect([unknown, known, pending, disabled].map((email) => flows.eventsFor(email).length)).toEqual([0, 1, 0, 0])
  })

  it('sends at most RATE_LIMIT_PASSWORD_RESET messages per account and window, answering every request alike', async () => {
    logs = captureLogs()
    const limited = accountFlows({ RATE_LIMIT_PASSWORD_RESET: '2/30m' })
    const email = uniqueEmail('flooded')
    const other = uniqueEmail('bystander')
    for (const address of [email, other]) {
      await limited.post('/auth/register', { email: address, password: STRONG_PASSWORD })
    }
    const before = await limited.post('/auth/password/forgot', { email: uniqueEmail('ghost') })
    const bodies = new Set([await before.text()])
    for (let i = 0; i < 4; i++) {
      const res = await limited.post('/auth/password/forgot', { email })
      expect(res.status).toBe(202)
      expect([...res.headers].filter(([name]) => name !== 'x-request-id')).toEqual(
        [...before.headers].filter(([name]) => name !== 'x-request-id'),
      )
      bodies.add(await res.text())
    }
    expect(bodies.size).toBe(1)
    const sent = limited.eventsFor(email).filter((e) => e.type === 'account.password_reset_requested')
    expect(sent).toHaveLength(2)
    const refused = logs.events('password_reset_requested').filter((r) => r.reason === 'message_limit')
    expect(refused).toHaveLength(2)
    expect(refused[0]).toMatchObject({ level: 'warn', outcome: 'failure', userid: (await userRow(email))?.id })
    // Another account keeps its own quota.
    await limited.post('/auth/password/forgot', { email: other })
    expect(limited.eventsFor(other).filter((e) => e.type === 'account.password_reset_requested')).toHaveLength(1)
    // The refused requests issued nothing, so the last link sent still works.
    const token = limited.tokenFor('account.password_reset_requested', email)
    const reset = await limited.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })
    expect(reset.status).toBe(204)
    const written = logs.lines.join('\n')
    for (const secret of [email, token, ...sent.map((e) => e.token ?? '')]) expect(written).not.toContain(secret)
  })

  it('bounds the limit window by the link lifetime, so a refused owner still holds the last link sent', () => {
    expect(PASSWORD_RESET_MAX_WINDOW_SECONDS).toBe(PASSWORD_RESET_TOKEN_TTL_SECONDS)
    expect(EXACT_POLICIES.has('password_reset')).toBe(true)
  })

  it('sends a message for every request with RATE_LIMIT_PASSWORD_RESET=off', async () => {
    const unlimited = accountFlows({ RATE_LIMIT_PASSWORD_RESET: 'off' })
    const email = uniqueEmail('unlimited')
    await unlimited.post('/auth/register', { email, password: STRONG_PASSWORD })
    for (let i = 0; i < 4; i++) await unlimited.post('/auth/password/forgot', { email })
    expect(unlimited.eventsFor(email).filter((e) => e.type === 'account.password_reset_requested')).toHaveLength(4)
  })

  it('answers before it reads anything about the address', async () => {
    const email = uniqueEmail('early')
    await flows.post('/auth/register', { email, password: STRONG_PASSWORD })
    const held = holding(createD1UserStore(env.DB), 'findByEmail')
    const early = accountFlows({}, { users: held.store })
    for (const address of [email, uniqueEmail('ghost')]) {
      const res = await early.post('/auth/password/forgot', { email: address }, { unsettled: true })
      expect(res.status).toBe(202)
    }
    expect(early.events.sent).toEqual([])
    held.release()
    await early.settle()
    expect(held.waiting()).toBe(2)
    expect(early.events.sent.map((e) => e.email)).toEqual([email])
  })

  it('takes comparable time for a known and an unknown address (R-BF-5, measured client-side)', async () => {
    logs = captureLogs() // not written to the console: 400 requests' worth of lines would dominate the timing
    const email = uniqueEmail('timing')
    await flows.post('/auth/register', { email, password: STRONG_PASSWORD })
    const time = async (address: string) => {
      const started = performance.now()
      const res = await flows.post('/auth/password/forgot', { email: address }, { unsettled: true })
      await res.arrayBuffer()
      const elapsed = performance.now() - started
      // The work after the answer is awaited outside the measurement: it must not slow the next request.
      await flows.settle()
      return elapsed
    }
    // A forgot takes a millisecond or two and a Workers clock moves in whole milliseconds: many samples, and the
    // mean of the middle 80 %, where a median would be one clock step.
    const trimmedMean = (values: number[]) => {
      const sorted = [...values].sort((a, b) => a - b).slice(values.length / 10, (values.length * 9) / 10)
      return sorted.reduce((sum, v) => sum + v, 0) / sorted.length
    }
    for (let i = 0; i < 10; i++) await time(uniqueEmail('warm'))
    const round = async () => {
      const known: number[] = []
      const unknown: number[] = []
      // Interleaved, in alternating order, so drift and whatever the previous request left behind (a D1 write)
      // fall on both sides alike.
      for (let i = 0; i < 200; i++) {
        if (i % 2 === 0) known.push(await time(email))
        unknown.push(await time(uniqueEmail('timing')))
        if (i % 2 === 1) known.push(await time(email))
      }
      return trimmedMean(unknown) / trimmedMean(known)
    }
    // Within 15 %, as the median of the rounds: the answer leaves before any work that depends on the account, so
    // only noise separates the two, and that noise is large on ~1–2.5 ms in whole-millisecond steps: single rounds
    // measured 0.68–1.25 on a quiet machine, for this code and the code before it, and a test file running on the
    // second core once pushed two rounds in a row to 1.2. A real difference of 20 % or more moves every round, so
    // the rounds run until three of them fall on the same side of the band (at most five): a majority decides.
    const inBand = (ratio: number) => ratio > 0.85 && ratio < 1.15
    const ratios: number[] = []
    const decided = () => ratios.filter(inBand).length >= 3 || ratios.filter((r) => !inBand(r)).length >= 3
    while (!decided()) ratios.push(await round())
    const median = [...ratios].sort((a, b) => a - b)[Math.floor(ratios.length / 2)] as number
    expect(median, `ratios ${ratios.map((r) => r.toFixed(3)).join(', ')}`).toBeGreaterThan(0.85)
    expect(median, `ratios ${ratios.map((r) => r.toFixed(3)).join(', ')}`).toBeLessThan(1.15)
  }, 30_000)
})

describe('POST /auth/password/reset', () => {
  it('sets the password, ends every session and access token, lifts the lock, and tells the owner: 204', async () => {
    logs = captureLogs()
    const email = uniqueEmail('reset')
    await flows.post('/auth/register', { email, password: STRONG_PASSWORD })
    const sessions = [await flows.login(email, STRONG_PASSWORD), await flows.login(email, STRONG_PASSWORD)]
    for (let i = 0; i < 5; i++) await flows.post('/auth/login', { email, password: WRONG_PASSWORD })
    await expectProblem(await flows.post('/auth/login', { email, password: STRONG_PASSWORD }), 429, 'account_locked')
    await flows.post('/auth/password/forgot', { email })
    const token = flows.tokenFor('account.password_reset_requested', email)
    const before = await userRow(email)

    const res = await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })
    expect(res.status).toBe(204)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.text()).toBe('')

    expect((await userRow(email))?.password_hash).not.toBe(before?.password_hash)
    for (const { access_token, refresh_token } of sessions) {
      await expectProblem(await me(access_token), 401, 'invalid_token')
      await expectProblem(await flows.post('/auth/refresh', { refresh_token }), 401, 'invalid_refresh_token')
    }
    expect(await rowCount('refresh_token_families', 'user_id = ?1 AND revoked_at IS NULL', before?.id)).toBe(0)
    await expectProblem(
      await flows.post('/auth/login', { email, password: STRONG_PASSWORD }),
      401,
      'invalid_credentials',
    )
    await flows.login(email, NEW_PASSWORD)
    // The owner heard of the lock first, then of the reset and its consequences.
    expect(flows.eventsFor(email).map((e) => e.type)).toEqual([
      'account.locked',
      'account.password_reset_requested',
      'account.password_changed',
      'account.sessions_revoked',
    ])
    expect(logs.events('authn_password_change')[0]).toMatchObject({ userid: before?.id, method: 'reset', sessions: 2 })
    const written = logs.lines.join('\n')
    for (const secret of [token, NEW_PASSWORD, STRONG_PASSWORD, email]) expect(written).not.toContain(secret)
  })

  it('answers forged, expired, reused and verification tokens with the same 400 bytes, and writes nothing', async () => {
    const expired = await accountWithResetToken()
    await env.DB.prepare(
      'UPDATE account_tokens SET created_at = unixepoch() - 60, expires_at = unixepoch() - 1 WHERE token_hash IN (SELECT token_hash FROM account_tokens JOIN users ON users.id = account_tokens.user_id WHERE users.email = ?1)',
    )
      .bind(expired.email)
      .run()
    const reused = await accountWithResetToken()
    expect((await flows.post('/auth/password/reset', { token: reused.token, new_password: NEW_PASSWORD })).status).toBe(
      204,
    )
    const pending = accountFlows({ REGISTRATION: 'verify' })
    const pendingEmail = uniqueEmail('pending')
    await pending.post('/auth/register', { email: pendingEmail, password: STRONG_PASSWORD })
    const verification = pending.tokenFor('account.verification_requested', pendingEmail)
    const { access_token } = await flows.login(expired.email, STRONG_PASSWORD)

    const rows = async () => [await userRow(expired.email), await userRow(reused.email), await userRow(pendingEmail)]
    const before = await rows()
    const families = await rowCount('refresh_token_families', 'revoked_at IS NULL')
    const kdf = pbkdf2Calls()
    const headers = { 'x-request-id': crypto.randomUUID() }
    const responses = []
    for (const token of ['A'.repeat(43), expired.token, reused.token, verification, 'x']) {
      responses.push(await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD }, { headers }))
    }
    const [first, ...others] = responses as [Response, ...Response[]]
    await expectProblem(first.clone(), 400, 'invalid_account_token')
    for (const res of others) expect([...res.headers]).toEqual([...first.headers])
    expect(new Set(await Promise.all(responses.map((r) => r.text()))).size).toBe(1)
    expect(await rows()).toEqual(before)
    expect(await rowCount('refresh_token_families', 'revoked_at IS NULL')).toBe(families)
    expect(pbkdf2Calls()).toBe(kdf)
    // No cutoff was written for anyone: a live access token still works.
    expect((await me(access_token)).status).toBe(200)
    expect((await pending.post('/auth/verify-email', { token: verification, password: STRONG_PASSWORD })).status).toBe(
      204,
    )
  })

  it('checks the new password against the policy before spending the token', async () => {
    logs = captureLogs()
    const { email, token } = await accountWithResetToken()
    const kdf = pbkdf2Calls()
    for (const [new_password, code] of [
      ['password123', 'common'],
      [email.split('@')[0] as string, 'matches_email'],
      ['x7!qZ', 'too_short'],
    ]) {
      const res = await flows.post('/auth/password/reset', { token, new_password })
      const body = await expectProblem(res, 400, 'validation_failed')
      expect(body.errors).toEqual([{ pointer: '/new_password', code }])
      expect(body.password_policy).toEqual({ min_length: 8, max_length: 128 })
    }
    expect(pbkdf2Calls()).toBe(kdf)
    expect((await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })).status).toBe(204)
    expect(logs.lines.join('\n')).not.toContain('password123')
  })

  it('lets exactly one of two concurrent resets with one token through, and keeps its password', async () => {
    const { email, token } = await accountWithResetToken()
    const passwords = [NEW_PASSWORD, 'orchid-lattice-ember-64']
    const responses = await Promise.all(
      passwords.map((new_password) => flows.post('/auth/password/reset', { token, new_password })),
    )
    expect(responses.map((r) => r.status).sort()).toEqual([204, 400])
    const loser = responses.find((r) => r.status === 400) as Response
    await expectProblem(loser, 400, 'invalid_account_token')
    const winner = passwords[responses.findIndex((r) => r.status === 204)] as string
    const other = passwords.find((p) => p !== winner) as string
    await flows.login(email, winner)
    await expectProblem(await flows.post('/auth/login', { email, password: other }), 401, 'invalid_credentials')
  })

  it('refuses an unknown field with 400 validation_failed and spends nothing', async () => {
    const { token } = await accountWithResetToken()
    const res = await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD, email: 'a@b.co' })
    expect((await expectProblem(res, 400, 'validation_failed')).errors).toEqual([
      { pointer: '/email', code: 'unrecognized_keys' },
    ])
    expect((await flows.post('/auth/password/reset', { token, new_password: NEW_PASSWORD })).status).toBe(204)
  })
})

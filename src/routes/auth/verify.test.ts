import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { createD1AccountTokenStore } from '../../stores/d1/account-tokens'
import { accountFlows, expectOneTokenSent, holding, rowCount, userRow } from '../../test-support/account-flows'
import { STRONG_PASSWORD, uniqueEmail } from '../../test-support/accounts'
import { uniqueIpv4 } from '../../test-support/clients'
import { pbkdf2Calls } from '../../test-support/kdf'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { REGISTER_ACCEPTED } from './account'
import { REGISTER_PENDING, VERIFY_EMAIL_TOKEN_TTL_SECONDS } from './verify'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const OTHER_PASSWORD = 'copper-meadow-falcon-19'
const flows = accountFlows({ REGISTRATION: 'verify' })

/** Registers `email` in verify mode and returns the verification token the origin was given. */
async function registerPending(email = uniqueEmail('pending'), password = STRONG_PASSWORD) {
  const res = await flows.post('/auth/register', { email, password })
  expect(res.status).toBe(202)
  return { email, password, token: flows.tokenFor('account.verification_requested', email) }
}

describe('POST /auth/register with REGISTRATION=verify', () => {
  it('creates a pending account and hands the origin a verification token, answering 202 no-store', async () => {
    logs = captureLogs()
    const email = uniqueEmail('new')
    const users = await rowCount('users')
    const res = await flows.post('/auth/register', { email, password: STRONG_PASSWORD })
    expect(res.status).toBe(202)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const text = await res.text()
    expect(JSON.parse(text)).toEqual(REGISTER_PENDING)
    expect(await rowCount('users')).toBe(users + 1)
    const row = await userRow(email)
    expect(row?.email_verified_at).toBeNull()
    const token = await expectOneTokenSent(
      flows.eventsFor(email),
      { type: 'account.verification_requested', email, userId: row?.id },
      { purpose: 'verify_email', ttl: VERIFY_EMAIL_TOKEN_TTL_SECONDS },
    )
    expect(logs.events('user_created')[0]).toMatchObject({ userid: row?.id, outcome: 'success' })
    const written = logs.lines.join('\n') + text
    for (const secret of [STRONG_PASSWORD, email, token]) expect(written).not.toContain(secret)
  })

  it('answers a new, a pending and a verified address with the same status, headers and bytes', async () => {
    const verified = uniqueEmail('verified')
    const { token } = await registerPending(verified)
    expect((await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD })).status).toBe(204)
    const pending = await registerPending()
    const headers = { 'x-request-id': crypto.randomUUID() }
    const responses = [
      await flows.post('/auth/register', { email: uniqueEmail('fresh'), password: STRONG_PASSWORD }, { headers }),
      await flows.post('/auth/register', { email: pending.email, password: OTHER_PASSWORD }, { headers }),
      await flows.post('/auth/register', { email: verified.toUpperCase(), password: OTHER_PASSWORD }, { headers }),
    ]
    const [first, ...others] = responses as [Response, ...Response[]]
    for (const res of others) {
      expect(res.status).toBe(202)
      expect([...res.headers]).toEqual([...first.headers])
    }
    expect(new Set(await Promise.all(responses.map((r) => r.text()))).size).toBe(1)
  })

  it('runs one KDF and one insert on every path, and issues the token only after the answer', async () => {
    const held = holding(createD1AccountTokenStore(env.DB), 'issue')
    const gated = accountFlows({ REGISTRATION: 'verify' }, { accountTokens: held.store })
    for (const address of [uniqueEmail('timing'), uniqueEmail('timing')]) {
      const kdf = pbkdf2Calls()
      const res = await gated.post('/auth/register', { email: address, password: OTHER_PASSWORD }, { unsettled: true })
      expect(res.status).toBe(202)
      expect(pbkdf2Calls() - kdf).toBe(1)
      expect(await userRow(address)).not.toBeNull()
    }
    // Both answers came back while issuing their tokens was still held.
    expect(gated.events.sent).toEqual([])
    held.release()
    await gated.settle()
    expect(held.waiting()).toBe(2)
    expect(gated.events.sent.map((e) => e.type)).toEqual([
      'account.verification_requested',
      'account.verification_requested',
    ])
  })

  it('tells the owner of a verified address, and creates nothing', async () => {
    const { email, token } = await registerPending()
    await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD })
    const [users, tokens] = [await rowCount('users'), await rowCount('account_tokens')]
    const before = await userRow(email)
    expect((await flows.post('/auth/register', { email, password: OTHER_PASSWORD })).status).toBe(202)
    expect(flows.eventsFor(email).map((e) => e.type)).toEqual([
      'account.verification_requested',
      'account.already_registered',
    ])
    expect(flows.eventsFor(email)[1]).not.toHaveProperty('token')
    expect([await rowCount('users'), await rowCount('account_tokens')]).toEqual([users, tokens])
    expect(await userRow(email)).toEqual(before)
  })

  it('sends an address registered again at most RATE_LIMIT_REPEAT_REGISTRATION messages per window, answering alike', async () => {
    logs = captureLogs()
    const limited = accountFlows({ REGISTRATION: 'verify', RATE_LIMIT_REPEAT_REGISTRATION: '2/1h' })
    const pending = uniqueEmail('pending-flood')
    const verified = uniqueEmail('verified-flood')
    for (const email of [pending, verified]) {
      expect((await limited.post('/auth/register', { email, password: STRONG_PASSWORD })).status).toBe(202)
    }
    const token = limited.tokenFor('account.verification_requested', verified)
    expect((await limited.post('/auth/verify-email', { token, password: STRONG_PASSWORD })).status).toBe(204)
    const fresh = await limited.post('/auth/register', { email: uniqueEmail('new'), password: STRONG_PASSWORD })
    const bodies = new Set([await fresh.text()])
    for (let i = 0; i < 4; i++) {
      for (const email of [pending, verified]) {
        const res = await limited.post('/auth/register', { email, password: OTHER_PASSWORD })
        expect(res.status).toBe(202)
        bodies.add(await res.text())
      }
    }
    expect(bodies.size).toBe(1)
    // A new account's first message is never refused; each address then gets two more in the window.
    expect(limited.eventsFor(pending).map((e) => e.type)).toEqual(Array(3).fill('account.verification_requested'))
    expect(limited.eventsFor(verified).map((e) => e.type)).toEqual([
      'account.verification_requested',
      'account.already_registered',
      'account.already_registered',
    ])
    const refused = logs.events('registration_repeated')
    expect(refused).toHaveLength(4)
    expect(refused[0]).toMatchObject({ level: 'warn', reason: 'message_limit', outcome: 'failure' })
    // The refused registrations issued nothing: the newest link sent still verifies, with its own password.
    const newest = limited.tokenFor('account.verification_requested', pending)
    expect((await limited.post('/auth/verify-email', { token: newest, password: OTHER_PASSWORD })).status).toBe(204)
    const written = logs.lines.join('\n')
    for (const secret of [pending, verified, newest, OTHER_PASSWORD]) expect(written).not.toContain(secret)
  })

  it('lets a pending address be claimed again: only the newest token works, with the password sent with it', async () => {
    const first = await registerPending()
    const second = await registerPending(first.email, OTHER_PASSWORD)
    expect(second.token).not.toBe(first.token)
    await expectProblem(
      await flows.post('/auth/verify-email', { token: first.token, password: STRONG_PASSWORD }),
      400,
      'invalid_account_token',
    )
    expect((await flows.post('/auth/verify-email', { token: second.token, password: OTHER_PASSWORD })).status).toBe(204)
    await flows.login(first.email, OTHER_PASSWORD)
    expect((await flows.post('/auth/login', { email: first.email, password: STRONG_PASSWORD })).status).toBe(401)
  })
})

describe('a squatted address', () => {
  it('cannot be handed to the squatter by its owner following the link: the token alone verifies nothing', async () => {
    // The squatter registers the victim's address with a password of their own; the token goes to the victim.
    const squatted = await registerPending(uniqueEmail('squatted'), OTHER_PASSWORD)
    // The victim follows the link without knowing the squatter's password.
    const clicked = await flows.post('/auth/verify-email', { token: squatted.token })
    expect(clicked.status).toBe(400)
    const guessed = await flows.post('/auth/verify-email', { token: squatted.token, password: STRONG_PASSWORD })
    await expectProblem(guessed, 400, 'invalid_account_token')
    // The account stays pending: the squatter cannot sign in with the password they chose.
    expect((await flows.post('/auth/login', { email: squatted.email, password: OTHER_PASSWORD })).status).toBe(401)
    expect((await userRow(squatted.email))?.email_verified_at).toBeNull()
    // The owner claims the address with a password of their own, and only that one works.
    const owner = await registerPending(squatted.email, STRONG_PASSWORD)
    expect((await flows.post('/auth/verify-email', { token: owner.token, password: STRONG_PASSWORD })).status).toBe(204)
    await flows.login(squatted.email, STRONG_PASSWORD)
    expect((await flows.post('/auth/login', { email: squatted.email, password: OTHER_PASSWORD })).status).toBe(401)
  })
})

describe('POST /auth/login for a pending account', () => {
  it('answers the same 401 bytes as a wrong password, after the same KDF, and logs reason unverified', async () => {
    logs = captureLogs()
    const { email } = await registerPending()
    const { email: known, token } = await registerPending()
    await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD })
    const headers = { 'x-request-id': crypto.randomUUID() }
    const families = await rowCount('refresh_token_families')
    const kdf = pbkdf2Calls()
    const pending = await flows.post('/auth/login', { email, password: STRONG_PASSWORD }, { headers })
    expect(pbkdf2Calls() - kdf).toBe(1)
    const wrong = await flows.post('/auth/login', { email: known, password: OTHER_PASSWORD }, { headers })
    await expectProblem(pending.clone(), 401, 'invalid_credentials')
    expect([...pending.headers]).toEqual([...wrong.headers])
    expect(await pending.text()).toBe(await wrong.text())
    expect(await rowCount('refresh_token_families')).toBe(families)
    expect(logs.events('authn_login_fail').map((r) => r.reason)).toEqual(['unverified', 'mismatch'])
  })
})

describe('POST /auth/verify-email', () => {
  it('verifies the address and puts the registered password in effect: 204, no-store, then login works', async () => {
    logs = captureLogs()
    const { email, token } = await registerPending()
    const res = await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD })
    expect(res.status).toBe(204)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.text()).toBe('')
    const row = await userRow(email)
    expect(row?.email_verified_at).toEqual(expect.any(Number))
    expect(await rowCount('account_tokens', 'user_id = ?1 AND consumed_at IS NULL', row?.id)).toBe(0)
    expect(logs.events('user_updated')[0]).toMatchObject({ userid: row?.id, change: 'email_verified' })
    await flows.login(email, STRONG_PASSWORD)
    expect(logs.lines.join('\n')).not.toContain(token)
  })

  it('answers forged, expired, reused and reset tokens with the same 400 bytes, and changes nothing', async () => {
    logs = captureLogs()
    const expired = await registerPending()
    await env.DB.prepare(
      'UPDATE account_tokens SET created_at = unixepoch() - 60, expires_at = unixepoch() - 1 WHERE user_id = ?1',
    )
      .bind((await userRow(expired.email))?.id)
      .run()
    const reused = await registerPending()
    await flows.post('/auth/verify-email', { token: reused.token, password: STRONG_PASSWORD })
    const verified = await registerPending()
    await flows.post('/auth/verify-email', { token: verified.token, password: STRONG_PASSWORD })
    const resetEmail = verified.email
    const { token: resetToken } = await createD1AccountTokenStore(env.DB).issue({
      userId: (await userRow(resetEmail))?.id as string,
      purpose: 'password_reset',
      ttlSeconds: 600,
    })

    const before = [await userRow(expired.email), await userRow(reused.email), await userRow(resetEmail)]
    const headers = { 'x-request-id': crypto.randomUUID() }
    const forged = 'A'.repeat(43)
    const responses = []
    for (const token of [forged, expired.token, reused.token, resetToken, 'short']) {
      responses.push(await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD }, { headers }))
    }
    const [first, ...others] = responses as [Response, ...Response[]]
    await expectProblem(first.clone(), 400, 'invalid_account_token')
    for (const res of others) expect([...res.headers]).toEqual([...first.headers])
    const texts = await Promise.all(responses.map((r) => r.text()))
    expect(new Set(texts).size).toBe(1)
    expect([await userRow(expired.email), await userRow(reused.email), await userRow(resetEmail)]).toEqual(before)
    // The reset token was looked up for the wrong purpose only: it still resets.
    expect(
      await rowCount(
        'account_tokens',
        'consumed_at IS NULL AND purpose = ?1 AND user_id = ?2',
        'password_reset',
        before[2]?.id,
      ),
    ).toBe(1)
    expect(logs.events('authn_token_invalid')).toHaveLength(5)
    const written = logs.lines.join('\n') + texts.join('')
    for (const secret of [expired.token, reused.token, resetToken]) expect(written).not.toContain(secret)
  })

  it('refuses the token of an account disabled since it was issued, and leaves the account pending', async () => {
    const { email, token } = await registerPending()
    await env.DB.prepare('UPDATE users SET disabled_at = unixepoch() WHERE email = ?1').bind(email).run()
    await expectProblem(
      await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD }),
      400,
      'invalid_account_token',
    )
    expect((await userRow(email))?.email_verified_at).toBeNull()
  })

  it('refuses a wrong password like a bad token, after one KDF, and leaves the token usable', async () => {
    logs = captureLogs()
    const { email, token } = await registerPending()
    const kdf = pbkdf2Calls()
    const headers = { 'x-request-id': crypto.randomUUID() }
    const wrong = await flows.post('/auth/verify-email', { token, password: OTHER_PASSWORD }, { headers })
    const forged = await flows.post(
      '/auth/verify-email',
      { token: 'A'.repeat(43), password: OTHER_PASSWORD },
      { headers },
    )
    expect(pbkdf2Calls() - kdf).toBe(2)
    await expectProblem(wrong.clone(), 400, 'invalid_account_token')
    expect(await wrong.text()).toBe(await forged.text())
    expect((await userRow(email))?.email_verified_at).toBeNull()
    expect(logs.events('authn_token_invalid').map((r) => r.reason)).toEqual([
      'password_mismatch',
      'account_token_invalid',
    ])
    for (const secret of [token, OTHER_PASSWORD]) expect(logs.lines.join('\n')).not.toContain(secret)
    expect((await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD })).status).toBe(204)
  })

  it('refuses an unknown field or a missing token with 400 validation_failed', async () => {
    const { token } = await registerPending()
    const extra = await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD, scope: 'admin' })
    expect((await expectProblem(extra, 400, 'validation_failed')).errors).toEqual([
      { pointer: '/scope', code: 'unrecognized_keys' },
    ])
    await expectProblem(await flows.post('/auth/verify-email', {}), 400, 'validation_failed')
    expect((await flows.post('/auth/verify-email', { token, password: STRONG_PASSWORD })).status).toBe(204)
  })
})

describe('REGISTRATION=open', () => {
  it('creates a verified account at once, with no token and no event', async () => {
    const open = accountFlows({ REGISTRATION: 'open' })
    const email = uniqueEmail('open')
    const res = await open.post('/auth/register', { email, password: STRONG_PASSWORD })
    expect(await res.json()).toEqual(REGISTER_ACCEPTED)
    const row = await userRow(email)
    expect(row?.email_verified_at).toEqual(expect.any(Number))
    expect(await rowCount('account_tokens', 'user_id = ?1', row?.id)).toBe(0)
    expect(open.events.sent).toEqual([])
    await open.login(email, STRONG_PASSWORD)
  })
})

describe('the per-IP auth rate limit (RATE_LIMIT_AUTH)', () => {
  const limited = accountFlows({ RATE_LIMIT_AUTH: '1/1m' })
  it.each([
    ['/auth/verify-email', { token: 'A'.repeat(43), password: STRONG_PASSWORD }],
    ['/auth/password/forgot', { email: 'someone@example.test' }],
    ['/auth/password/reset', { token: 'A'.repeat(43), new_password: 'copper-meadow-falcon-19' }],
    ['/auth/password/change', { current_password: 'a', new_password: 'copper-meadow-falcon-19' }],
  ])('covers %s: the second request from one address is 429 before the route runs', async (path, body) => {
    const headers = { 'cf-connecting-ip': uniqueIpv4() }
    expect((await limited.post(path, body, { headers })).status).not.toBe(429)
    const tokens = await rowCount('account_tokens')
    await expectProblem(await limited.post(path, body, { headers }), 429, 'rate_limited')
    expect(await rowCount('account_tokens')).toBe(tokens)
  })
})

import { env, exports } from 'cloudflare:workers'
import { decodeJwt } from 'jose'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { loginUser, registerUser, STRONG_PASSWORD, uniqueEmail } from '../../test-support/accounts'
import { testApp } from '../../test-support/app'
import { uniqueIpv4, uniqueIpv6Prefix } from '../../test-support/clients'
import { testExecutionContext as ctx } from '../../test-support/context'
import { pbkdf2Calls } from '../../test-support/kdf'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { LOGIN_ADMITTED } from '../../test-support/rate-limit'
import { authHeader, mintTestToken, testConfig } from '../../test-support/tokens'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const me = (token: string) => exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(token) })
let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

/** A gateway with rate limiting on, on its own Upstash lane, plus a couple of test routes. */
function gateway(vars: Record<string, string> = {}) {
  const lane = `lane-${crypto.randomUUID()}`
  const bindings = {
    ...env,
    UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
    RATE_LIMIT_GLOBAL: '5/15m',
    RATE_LIMIT_AUTH: '3/15m',
    RATE_LIMIT_USER: '4/15m',
    ...vars,
  }
  const app = testApp()
  let reached = 0
  app.extend((app) =>
    app.get('/public', (c) => {
      reached++
      return c.json({ ok: true })
    }),
  )
  const send = async (
    path: string,
    headers: Record<string, string> = {},
    method = path === '/auth/login' ? 'POST' : 'GET',
    body = '{}',
  ) => {
    const json = method === 'POST' ? { headers: { 'content-type': 'application/json', ...headers }, body } : { headers }
    const res = await app.fetch(new Request(`https://gw.test${path}`, { method, ...json }), bindings, ctx)
    if (method === 'POST' && res.status === LOGIN_ADMITTED) reached++
    return res
  }
  return { lane, bindings, send, reached: () => reached, control }
}

/** The auth policy's refusal, whole: a 429 problem naming only `auth`, Retry-After, and both policies' headers. */
async function expectAuthLimited(res: Response) {
  const body = await expectProblem(res, 429, 'rate_limited')
  expect(body['violated-policies']).toEqual(['auth'])
  expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
  expect(parsePolicies(res.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global', 'auth'])
  expect(parsePolicies(res.headers.get('ratelimit')).find((p) => p.name === 'auth')?.r).toBe(0)
  expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
}

/** Parses a draft-10 RateLimit / RateLimit-Policy list: `"name";k=v;k=v, …` (integer parameters). */
function parsePolicies(header: string | null): { name: string; q?: number; w?: number; r?: number; t?: number }[] {
  return (header ?? '')
    .split(',')
    .map((item) => item.trim())
    .filter(Boolean)
    .map((item) => {
      const [name = '""', ...params] = item.split(';')
      const entries = params.map((p) => {
        const [key = '', value = ''] = p.split('=')
        expect(value).toMatch(/^\d+$/)
        return [key.trim(), Number(value)] as const
      })
      return { name: JSON.parse(name) as string, ...Object.fromEntries(entries) }
    })
}

describe('rate limiting: the global policy per client IP', () => {
  it('admits N, then answers 429 problem+json with Retry-After and every header, without reaching the handler', async () => {
    logs = captureLogs()
    const g = gateway()
    const ip = uniqueIpv4()
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 6; i++) {
      last = await g.send('/public', { 'cf-connecting-ip': ip })
      statuses.push(last.status)
      if (i === 0) {
        expect(last.headers.get('x-ratelimit-limit')).toBe('5')
        expect(last.headers.get('x-ratelimit-remaining')).toBe('4')
        expect(parsePolicies(last.headers.get('ratelimit-policy'))).toEqual([{ name: 'global', q: 5, w: 900 }])
        const [state] = parsePolicies(last.headers.get('ratelimit'))
        expect(state).toMatchObject({ name: 'global', r: 4 })
        expect(state?.t).toBeGreaterThanOrEqual(0)
        expect(state?.t).toBeLessThanOrEqual(900)
      }
    }
    expect(statuses).toEqual([200, 200, 200, 200, 200, 429])
    expect(g.reached()).toBe(5)
    const res = last as Response
    const body = await expectProblem(res, 429, 'rate_limited')
    expect(body.type).toBe('https://iana.org/assignments/http-problem-types#quota-exceeded')
    expect(body['violated-policies']).toEqual(['global'])
    const retryAfter = Number(res.headers.get('retry-after'))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    const [state] = parsePolicies(res.headers.get('ratelimit'))
    expect(state?.r).toBe(0)
    expect(retryAfter).toBeGreaterThanOrEqual(state?.t ?? 0)
    expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    expect(logs.events('excess_rate_limit_exceeded')).toHaveLength(1)
    expect(logs.events('excess_rate_limit_exceeded')[0]).toMatchObject({ policies: ['global'], outcome: 'denied' })
  })

  it('never limits /health or /metrics', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '1/15m' })
    const ip = uniqueIpv4()
    for (let i = 0; i < 4; i++) {
      const res = await g.send('/health', { 'cf-connecting-ip': ip })
      expect(res.status).toBe(200)
      expect(res.headers.get('ratelimit')).toBeNull()
      expect((await g.send('/metrics', { 'cf-connecting-ip': ip })).status).toBe(404) // no METRICS_TOKEN: disabled, not limited
    }
    expect((await g.send('/public', { 'cf-connecting-ip': ip })).status).toBe(200)
    expect((await g.send('/public', { 'cf-connecting-ip': ip })).status).toBe(429)
  })

  it('keys IPv6 clients by /64: rotating inside one /64 does not evade the limit', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '3/15m' })
    const prefix = uniqueIpv6Prefix()
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) {
      statuses.push((await g.send('/public', { 'cf-connecting-ip': `${prefix}::${(i + 1).toString(16)}:abcd` })).status)
    }
    expect(statuses).toEqual([200, 200, 200, 429, 429])
    // The neighbouring /64 (last group of the prefix with its low bit flipped) is another subscriber.
    const groups = prefix.split(':')
    const last = Number.parseInt(groups.pop() as string, 16)
    const neighbour = [...groups, (last ^ 1).toString(16)].join(':')
    expect((await g.send('/public', { 'cf-connecting-ip': `${neighbour}::1` })).status).toBe(200)
  })

  it('treats an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '2/15m' })
    const ip = uniqueIpv4()
    expect((await g.send('/public', { 'cf-connecting-ip': ip })).status).toBe(200)
    expect((await g.send('/public', { 'cf-connecting-ip': `::ffff:${ip}` })).status).toBe(200)
    expect((await g.send('/public', { 'cf-connecting-ip': ip })).status).toBe(429)
  })

  it('puts requests without CF-Connecting-IP in one strict shared bucket, never "no limit"', async () => {
    // Every test gateway shares the `unknown` bucket; a window no other test uses gives this one its own keys.
    const g = gateway({ RATE_LIMIT_GLOBAL: '3/13m' })
    const statuses: number[] = []
    for (let i = 0; i < 5; i++) statuses.push((await g.send('/public')).status)
    expect(statuses).toEqual([200, 200, 200, 429, 429])
  })
})

/**
 * Headers a client can set to name any address it likes. Behind Cloudflare only CF-Connecting-IP is set by the
 * edge: keying on any of these would hand every caller a fresh bucket per request, or let it spend someone else's.
 */
const SPOOFABLE: [string, (address: string) => Record<string, string>][] = [
  ['X-Forwarded-For', (address) => ({ 'x-forwarded-for': address })],
  ['X-Real-IP', (address) => ({ 'x-real-ip': address })],
  ['True-Client-IP', (address) => ({ 'true-client-ip': address })],
  ['Forwarded', (address) => ({ forwarded: `for=${address};proto=https` })],
]
const SPOOF_CASES = [
  ...SPOOFABLE,
  ['every one of them', (address) => Object.assign({}, ...SPOOFABLE.map(([, spoof]) => spoof(address)))],
] satisfies typeof SPOOFABLE

describe('rate limiting: the client is CF-Connecting-IP alone', () => {
  it.each(SPOOF_CASES)('varying %s per request gives no fresh bucket', async (_, spoof) => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '3/15m' })
    const ip = uniqueIpv4()
    const responses: Response[] = []
    for (let i = 0; i < 5; i++) {
      responses.push(await g.send('/public', { 'cf-connecting-ip': ip, ...spoof(uniqueIpv4()) }))
    }
    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 429, 429])
    const body = await expectProblem(responses[4] as Response, 429, 'rate_limited')
    expect(body['violated-policies']).toEqual(['global'])
    expect(g.reached()).toBe(3)
  })

  it.each(SPOOF_CASES)("%s naming another client does not spend that client's bucket", async (_, spoof) => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '3/15m' })
    const victim = uniqueIpv4()
    const attacker = uniqueIpv4()
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) {
      statuses.push((await g.send('/public', { 'cf-connecting-ip': attacker, ...spoof(victim) })).status)
    }
    expect(statuses).toEqual([200, 200, 200, 429])
    // The victim's first request finds its whole bucket: one spent, two left.
    const res = await g.send('/public', { 'cf-connecting-ip': victim })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-ratelimit-remaining')).toBe('2')
  })
})

describe('rate limiting: the specification defaults', () => {
  it('the 101st request in the global window and the 6th login in the auth window get 429 (100/15m, 5/15m)', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '5/15m' })
    const ip = uniqueIpv4()
    const publicStatuses: number[] = []
    for (let i = 0; i < 101; i++) publicStatuses.push((await g.send('/public', { 'cf-connecting-ip': ip })).status)
    expect(publicStatuses.slice(0, 100).every((s) => s === 200)).toBe(true)
    expect(publicStatuses[100]).toBe(429)

    const loginIp = uniqueIpv4()
    const loginStatuses: number[] = []
    for (let i = 0; i < 6; i++)
      loginStatuses.push((await g.send('/auth/login', { 'cf-connecting-ip': loginIp })).status)
    expect(loginStatuses).toEqual([400, 400, 400, 400, 400, 429])
  })
})

describe('rate limiting: the auth policy', () => {
  it('allows 3 login attempts per IP, then 429 names the auth policy; other IPs are unaffected', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m' })
    const ip = uniqueIpv4()
    const statuses: number[] = []
    let last: Response | undefined
    for (let i = 0; i < 4; i++) {
      last = await g.send('/auth/login', { 'cf-connecting-ip': ip })
      statuses.push(last.status)
    }
    expect(statuses).toEqual([400, 400, 400, 429])
    await expectAuthLimited(last as Response)
    expect((await g.send('/auth/login', { 'cf-connecting-ip': uniqueIpv4() })).status).toBe(LOGIN_ADMITTED)
  })

  // Registration and refresh are credential routes too: each one spends a KDF or rotates a session, so an
  // unlimited one would be a cheap way to burn the gateway's CPU or probe tokens from one address.
  // `{}` is refused 400 by the route's own validation: admitted and reached, with no KDF and nothing written.
  it('allows 3 registrations per IP, then 429 names the auth policy before the route: no KDF, no account', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m' })
    const ip = uniqueIpv4()
    for (let i = 0; i < 3; i++)
      expect((await g.send('/auth/register', { 'cf-connecting-ip': ip }, 'POST')).status).toBe(400)
    const email = uniqueEmail('limited')
    const kdfBefore = pbkdf2Calls()
    const res = await g.send(
      '/auth/register',
      { 'cf-connecting-ip': ip },
      'POST',
      JSON.stringify({ email, password: STRONG_PASSWORD }),
    )
    await expectAuthLimited(res)
    expect(pbkdf2Calls()).toBe(kdfBefore)
    expect(await env.DB.prepare('SELECT id FROM users WHERE email = ?1').bind(email).first()).toBeNull()
  })

  it('failed logins from an address do not starve the refreshes of other users behind it', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m' })
    const { email } = await registerUser()
    const { refresh_token } = await loginUser(email)
    const ip = uniqueIpv4()
    for (let i = 0; i < 3; i++)
      expect((await g.send('/auth/login', { 'cf-connecting-ip': ip })).status).toBe(LOGIN_ADMITTED)
    await expectAuthLimited(await g.send('/auth/login', { 'cf-connecting-ip': ip }))
    const res = await g.send('/auth/refresh', { 'cf-connecting-ip': ip }, 'POST', JSON.stringify({ refresh_token }))
    expect(res.status).toBe(200)
    // The per-session policy is not advertised: its count would tell a token's holder about the session.
    expect(parsePolicies(res.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global'])
  })

  it('limits refreshes per session, whatever the address: 429 names the refresh policy and nothing rotates', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_REFRESH: '2/15m' })
    const { email } = await registerUser()
    const [first, other] = [await loginUser(email), await loginUser(email)]
    let token = first.refresh_token
    for (let i = 0; i < 2; i++) {
      const res = await g.send(
        '/auth/refresh',
        { 'cf-connecting-ip': uniqueIpv4() },
        'POST',
        JSON.stringify({ refresh_token: token }),
      )
      expect(res.status).toBe(200)
      token = ((await res.json()) as { refresh_token: string }).refresh_token
    }
    const refused = await g.send(
      '/auth/refresh',
      { 'cf-connecting-ip': uniqueIpv4() },
      'POST',
      JSON.stringify({ refresh_token: token }),
    )
    const body = await expectProblem(refused, 429, 'rate_limited')
    expect(body['violated-policies']).toEqual(['refresh'])
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThanOrEqual(1)
    expect(parsePolicies(refused.headers.get('ratelimit')).map((p) => p.name)).toEqual(['global'])
    expect(JSON.stringify(body)).not.toContain(token)
    // The refused token is still the family's one active token: it was not rotated.
    const active = await env.DB.prepare(
      "SELECT count(*) AS n FROM refresh_tokens t JOIN users u ON u.id = t.user_id WHERE u.email = ?1 AND t.status = 'active'",
    )
      .bind(email)
      .first<{ n: number }>()
    expect(active?.n).toBe(2)
    // Another session of the same user is counted apart.
    const res = await g.send(
      '/auth/refresh',
      { 'cf-connecting-ip': uniqueIpv4() },
      'POST',
      JSON.stringify({ refresh_token: other.refresh_token }),
    )
    expect(res.status).toBe(200)
  })

  it('meets an unknown refresh token with the same per-session policy as a stored one: no existence oracle', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_REFRESH: '2/15m' })
    const forged = (fill: string) => JSON.stringify({ refresh_token: fill.repeat(43) })
    const send = (body: string) => g.send('/auth/refresh', { 'cf-connecting-ip': uniqueIpv4() }, 'POST', body)
    for (let i = 0; i < 2; i++) await expectProblem(await send(forged('x')), 401, 'invalid_refresh_token')
    const refused = await send(forged('x'))
    expect((await expectProblem(refused, 429, 'rate_limited'))['violated-policies']).toEqual(['refresh'])
    // Another token is another "session": counted apart.
    await expectProblem(await send(forged('y')), 401, 'invalid_refresh_token')
  })

  it.each(['/AUTH/login', '/auth/login/', '/auth/LOGIN'])('applies to the %s spelling too', async (path) => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '1/15m' })
    const ip = uniqueIpv4()
    await g.send('/auth/login', { 'cf-connecting-ip': ip })
    const res = await g.send(path, { 'cf-connecting-ip': ip }, 'POST')
    expect(res.status).toBe(429)
  })
})

describe('rate limiting: the user policy', () => {
  it('limits a user across IPs, keyed by sub', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_USER: '2/15m' })
    const config = testConfig(g.bindings)
    const { token } = await mintTestToken({ sub: `user-${crypto.randomUUID()}` }, config)
    const statuses: number[] = []
    for (let i = 0; i < 3; i++)
      statuses.push((await g.send('/auth/me', { ...authHeader(token), 'cf-connecting-ip': uniqueIpv4() })).status)
    expect(statuses).toEqual([200, 200, 429])
  })
})

describe('rate limiting: the user policy never keeps an owner from ending sessions', () => {
  /** The session id (`sid`) an access token names. */
  const sidOf = (token: string) => decodeJwt(token).sid as string

  /** A signed-in user whose quota (2 per 15 minutes) was spent by three reads, on a gateway of its own. */
  async function userOverQuota() {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '100/15m', RATE_LIMIT_USER: '2/15m' })
    const { email } = await registerUser()
    const session = await loginUser(email, STRONG_PASSWORD, { 'cf-connecting-ip': uniqueIpv4() })
    for (let i = 0; i < 3; i++)
      await g.send('/auth/me', { ...authHeader(session.access_token), 'cf-connecting-ip': uniqueIpv4() })
    return { g, session }
  }

  it("a user's quota spent by another of their sessions: reads are refused, but logout, ending a session and logout-all are not", async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '100/15m', RATE_LIMIT_USER: '3/15m' })
    const { email } = await registerUser()
    const login = () => loginUser(email, STRONG_PASSWORD, { 'cf-connecting-ip': uniqueIpv4() })
    const [stolen, owner, other] = [await login(), await login(), await login()]
    // Whoever holds the stolen session spends the user's quota...
    for (let i = 0; i < 3; i++)
      expect(
        (await g.send('/auth/me', { ...authHeader(stolen.access_token), 'cf-connecting-ip': uniqueIpv4() })).status,
      ).toBe(200)
    const ownerIp = { 'cf-connecting-ip': uniqueIpv4() }
    const read = await g.send('/auth/sessions', { ...authHeader(owner.access_token), ...ownerIp })
    expect((await expectProblem(read, 429, 'rate_limited'))['violated-policies']).toEqual(['user'])
    // ...and the owner can still end it, end another session, and end them all; the address limits still count.
    const end = await g.send(
      `/auth/sessions/${sidOf(stolen.access_token)}`,
      { ...authHeader(owner.access_token), ...ownerIp },
      'DELETE',
    )
    expect(end.status).toBe(204)
    expect(parsePolicies(end.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global'])
    expect((await g.send('/auth/logout', { ...authHeader(other.access_token), ...ownerIp }, 'POST')).status).toBe(204)
    expect((await g.send('/auth/logout-all', { ...authHeader(owner.access_token), ...ownerIp }, 'POST')).status).toBe(
      204,
    )
    // Ended for real: the stolen session's token is dead wherever it is used next.
    await expectProblem(await me(stolen.access_token), 401, 'invalid_token')
  })

  it("a refresh sent with a bearer token is not refused by the user policy: the owner's sessions renew like the thief's", async () => {
    const { g, session } = await userOverQuota()
    const res = await g.send(
      '/auth/refresh',
      { ...authHeader(session.access_token), 'cf-connecting-ip': uniqueIpv4() },
      'POST',
      JSON.stringify({ refresh_token: session.refresh_token }),
    )
    expect(res.status).toBe(200)
    expect(parsePolicies(res.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global'])
  })

  it('a password change is not refused by the user policy either, only by the per-address ones', async () => {
    const { g, session } = await userOverQuota()
    const res = await g.send(
      '/auth/password/change',
      { ...authHeader(session.access_token), 'cf-connecting-ip': uniqueIpv4() },
      'POST',
      JSON.stringify({ current_password: `${STRONG_PASSWORD}-wrong`, new_password: 'amber-quarry-whistle-77' }),
    )
    expect(res.status).not.toBe(429)
    expect(parsePolicies(res.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global', 'auth'])
  })

  it('a bearer token sent to a route that takes none (a login) is neither shown nor counted for its user', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '100/15m', RATE_LIMIT_USER: '10/15m' })
    const config = testConfig(g.bindings)
    const { token } = await mintTestToken({ sub: `user-${crypto.randomUUID()}` }, config)
    const login = await g.send('/auth/login', { ...authHeader(token), 'cf-connecting-ip': uniqueIpv4() })
    expect(login.status).toBe(LOGIN_ADMITTED)
    expect(parsePolicies(login.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global', 'auth'])
    const next = await g.send('/auth/me', { ...authHeader(token), 'cf-connecting-ip': uniqueIpv4() })
    expect(parsePolicies(next.headers.get('ratelimit')).find((p) => p.name === 'user')?.r).toBe(9)
  })
})

describe('rate limiting: hot path', () => {
  it("an authenticated request's limits and revocation are one Upstash call and one command", async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_USER: '100/15m' })
    const config = testConfig(g.bindings)
    const { token } = await mintTestToken({}, config)
    const headers = { ...authHeader(token), 'cf-connecting-ip': uniqueIpv4() }
    expect((await g.send('/auth/me', headers)).status).toBe(200) // loads the scripts (EVALSHA → NOSCRIPT → EVAL)
    await control.resetStats(g.lane)
    expect((await g.send('/auth/me', headers)).status).toBe(200)
    // One EVALSHA of the admission script: the global and user limits and the token's revocation.
    expect(await control.stats(g.lane)).toEqual({ requests: 1, commands: 1 })
    // Every Upstash request now takes 250 ms: a second one would take the request past 500 ms.
    await control.setFault('slow', 10_000, g.lane)
    try {
      const started = Date.now()
      expect((await g.send('/auth/me', headers)).status).toBe(200)
      const elapsed = Date.now() - started
      expect(elapsed).toBeGreaterThanOrEqual(240)
      expect(elapsed).toBeLessThan(480)
    } finally {
      await control.setFault('none', undefined, g.lane)
    }
  })

  it('a login decides its global and auth limits in one Upstash call and one command', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '100/15m' })
    const ip = uniqueIpv4()
    expect((await g.send('/auth/login', { 'cf-connecting-ip': ip })).status).toBe(LOGIN_ADMITTED)
    await control.resetStats(g.lane)
    const res = await g.send('/auth/login', { 'cf-connecting-ip': ip })
    expect(res.status).toBe(LOGIN_ADMITTED)
    expect(parsePolicies(res.headers.get('ratelimit')).map((p) => [p.name, p.r])).toEqual([
      ['global', 98],
      ['auth', 98],
    ])
    expect(await control.stats(g.lane)).toEqual({ requests: 1, commands: 1 })
  })

  it('a request the auth policy refuses is not counted by the global policy', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '10/15m', RATE_LIMIT_AUTH: '2/15m' })
    const ip = uniqueIpv4()
    for (let i = 0; i < 2; i++)
      expect((await g.send('/auth/login', { 'cf-connecting-ip': ip })).status).toBe(LOGIN_ADMITTED)
    for (let i = 0; i < 3; i++) {
      const refused = await g.send('/auth/login', { 'cf-connecting-ip': ip })
      await expectProblem(refused, 429, 'rate_limited')
    }
    // Two admitted logins, three refused ones: the global policy counted the two only.
    const next = await g.send('/public', { 'cf-connecting-ip': ip })
    expect(next.status).toBe(200)
    expect(parsePolicies(next.headers.get('ratelimit')).find((p) => p.name === 'global')?.r).toBe(7)
  })

  it("a revoked token's requests count against the client's address, not against its user", async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_USER: '10/15m' })
    const config = testConfig(g.bindings)
    const sub = `user-${crypto.randomUUID()}`
    const revoked = await mintTestToken({ sub }, config)
    const ip = uniqueIpv4()
    const logout = await g.send(
      '/auth/logout',
      { ...authHeader(revoked.token), 'cf-connecting-ip': uniqueIpv4() },
      'POST',
    )
    expect(logout.status).toBe(204)
    for (let i = 0; i < 3; i++) {
      const res = await g.send('/auth/me', { ...authHeader(revoked.token), 'cf-connecting-ip': ip })
      await expectProblem(res, 401, 'invalid_token')
    }
    const fresh = await mintTestToken({ sub }, config)
    const res = await g.send('/auth/me', { ...authHeader(fresh.token), 'cf-connecting-ip': ip })
    expect(res.status).toBe(200)
    const remaining = Object.fromEntries(parsePolicies(res.headers.get('ratelimit')).map((p) => [p.name, p.r]))
    // The logout counted against its address only (ending a session never spends the user's quota), and the three
    // revoked requests did not count against the user either.
    expect(remaining).toEqual({ global: 96, user: 9 })
  })

  it("a revoked token's 401 tells nothing about its user: the same headers as a forged token's", async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_USER: '10/15m' })
    const config = testConfig(g.bindings)
    const sub = `user-${crypto.randomUUID()}`
    const revoked = await mintTestToken({ sub }, config)
    const logout = await g.send(
      '/auth/logout',
      { ...authHeader(revoked.token), 'cf-connecting-ip': uniqueIpv4() },
      'POST',
    )
    expect(logout.status).toBe(204)
    // The owner keeps working with a new token: their activity is what a revoked token's holder must not see.
    const fresh = await mintTestToken({ sub }, config)
    for (let i = 0; i < 3; i++)
      expect((await g.send('/auth/me', { ...authHeader(fresh.token), 'cf-connecting-ip': uniqueIpv4() })).status).toBe(
        200,
      )
    const forged = `${fresh.token.slice(0, -4)}${fresh.token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
    const answers = []
    for (const token of [revoked.token, forged]) {
      const res = await g.send('/auth/me', {
        ...authHeader(token),
        'cf-connecting-ip': uniqueIpv4(),
        'x-request-id': 'same-request-id',
      })
      await expectProblem(res.clone(), 401, 'invalid_token')
      expect(parsePolicies(res.headers.get('ratelimit-policy')).map((p) => p.name)).toEqual(['global'])
      // Every field but the seconds until the reset, which each request rounds from its own clock.
      const headers = [...res.headers].map(([name, value]) => [
        name,
        name === 'ratelimit' ? value.replace(/;t=\d+/g, '') : value,
      ])
      answers.push({ headers, body: await res.text() })
    }
    expect(answers[0]).toEqual(answers[1])
  })

  it('while its user is refused from memory, a revoked token gets that 429 too: no Upstash call, so no revocation check', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_USER: '2/15m' })
    const config = testConfig(g.bindings)
    const sub = `user-${crypto.randomUUID()}`
    const revoked = await mintTestToken({ sub }, config)
    expect(
      (await g.send('/auth/logout', { ...authHeader(revoked.token), 'cf-connecting-ip': uniqueIpv4() }, 'POST')).status,
    ).toBe(204)
    const fresh = await mintTestToken({ sub }, config)
    const statuses = []
    for (let i = 0; i < 3; i++)
      statuses.push((await g.send('/auth/me', { ...authHeader(fresh.token), 'cf-connecting-ip': uniqueIpv4() })).status)
    expect(statuses).toEqual([200, 200, 429])
    await control.resetStats(g.lane)
    const res = await g.send('/auth/me', { ...authHeader(revoked.token), 'cf-connecting-ip': uniqueIpv4() })
    expect((await expectProblem(res, 429, 'rate_limited'))['violated-policies']).toEqual(['user'])
    expect((await control.stats(g.lane)).requests).toBe(0)
  })

  it('a client blocked in this isolate costs no Upstash request (ephemeral cache)', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '1/15m' })
    const ip = uniqueIpv4()
    await g.send('/public', { 'cf-connecting-ip': ip })
    expect((await g.send('/public', { 'cf-connecting-ip': ip })).status).toBe(429)
    await control.resetStats(g.lane)
    expect((await g.send('/public', { 'cf-connecting-ip': ip })).status).toBe(429)
    expect((await control.stats(g.lane)).requests).toBe(0)
  })
})

describe('rate limiting: degraded mode', () => {
  it.each(['refuse', 'hang', 'error500'] as const)(
    'with Upstash failing (%s): auth fails closed with 503, global falls back to a bounded local limit without headers',
    async (mode) => {
      logs = captureLogs()
      const g = gateway({
        RATE_LIMIT_GLOBAL: '20/15m',
        RATE_LIMIT_AUTH: '3/15m',
        RATE_LIMIT_DEGRADED_FRACTION: '0.1',
        RATE_LIMIT_BREAKER_THRESHOLD: '2',
        RATE_LIMIT_BREAKER_COOLDOWN_SECONDS: '60',
        UPSTASH_TIMEOUT_MS: '200',
      })
      const ip = uniqueIpv4()
      await g.control.setFault(mode, 30_000, g.lane)
      try {
        const statuses: number[] = []
        for (let i = 0; i < 4; i++) {
          const res = await g.send('/public', { 'cf-connecting-ip': ip })
          statuses.push(res.status)
          expect(res.headers.get('ratelimit')).toBeNull()
          expect(res.headers.get('x-ratelimit-remaining')).toBeNull()
        }
        // 10% of 20 = 2 admitted locally, then refused: bounded, never "no limit".
        expect(statuses).toEqual([200, 200, 429, 429])
        expect(g.reached()).toBe(2)
        const login = await g.send('/auth/login', { 'cf-connecting-ip': uniqueIpv4() })
        await expectProblem(login, 503, 'rate_limit_unavailable')
        expect(Number(login.headers.get('retry-after'))).toBe(60)
        expect(g.reached()).toBe(2)
        expect(logs.events('degraded_mode_entered')).toHaveLength(1)
      } finally {
        await g.control.setFault('none', undefined, g.lane)
      }
    },
  )
})

/**
 * Security-log completeness: every security decision the gateway makes today emits exactly one security record
 * (R-LOG-1 in docs/requirements.md), with the who/what/where/when fields of R-LOG-2, and no secret (R-LOG-4).
 * Each decision path is driven end to end through `testApp()`, under arbitrary client-controlled header values
 * (fast-check), on Upstash lanes whose faults touch nothing else.
 */
import { env } from 'cloudflare:workers'
import fc from 'fast-check'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../test/conformance/upstash-cases'
import { authenticate, requireScopes } from '../middleware/authenticate'
import { hashPassword } from '../passwords/password'
import { createD1AccountTokenStore } from '../stores/d1/account-tokens'
import { createD1UserStore } from '../stores/d1/users'
import { createRedis } from '../stores/redis/client'
import { lockoutKeys } from '../stores/redis/lockout'
import { recordingDataset } from '../test-support/analytics'
import { testApp } from '../test-support/app'
import { testExecutionContext as ctx } from '../test-support/context'
import { captureLogs } from '../test-support/logs'
import { authHeader, mintTestToken, segment, signWithTestKey, testConfig, validClaims } from '../test-support/tokens'
import { isSecurityEvent, type LogLevel } from './logger'

const METRICS_TOKEN = 'mt_9Zr1Qx7Vb3Nc5Lk8Jh2Gf6Ds4Ap0Ow1Ie3Uy5Tt7Rr9'
const PRIVATE_D = (JSON.parse(env.JWT_PRIVATE_KEY) as { d: string }).d
/** What must never appear in any log line, whatever happened (R-LOG-4). Per-scenario secrets are added to it. */
const ALWAYS_SECRET = [METRICS_TOKEN, env.UPSTASH_REDIS_REST_TOKEN, PRIVATE_D]

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
/** An Upstash lane that answers every request with HTTP 500 for the whole file. */
const faultLane = `lane-${crypto.randomUUID()}`
const down = { UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${faultLane}`, UPSTASH_TIMEOUT_MS: '300' }

/** One bindings object per configuration: the configuration is parsed, cached and logged per bindings object. */
/** The `EVENTS` dataset of every configuration below: what each decision wrote to Analytics Engine. */
const events = recordingDataset()
const BINDINGS = {
  healthy: { ...env, METRICS_TOKEN, EVENTS: events },
  noGrace: { ...env, METRICS_TOKEN, REFRESH_GRACE_SECONDS: '0', EVENTS: events },
  originDown: { ...env, METRICS_TOKEN, UPSTREAM_URL: 'http://127.0.0.1:1', EVENTS: events },
  closedDown: { ...env, ...down, EVENTS: events },
  openDown: { ...env, ...down, REVOCATION_FAILURE_MODE: 'open', EVENTS: events },
}

const app = testApp({
  extend: (app, gw) => {
    app.get('/admin/report', authenticate(gw), requireScopes('admin'), (c) => c.text('report'))
  },
})

interface Outcome {
  res: Response
  /** Secrets this scenario presented (tokens, header values) that must not reach the log. */
  secrets: string[]
  /** The verified subject, when the decision was made about a known user. */
  userid?: string
}

interface Scenario {
  name: string
  /** The security records the decision must emit, in order: [event, level]. */
  expected: [event: string, level: LogLevel][]
  status: number
  /** Records logged before the request reached a route (configuration): no request fields. */
  isolateLevel?: boolean
  /**
   * The decision is logged once a minute per client network (IPv4 /24, IPv6 /32) per isolate: each run is sent from
   * a network of its own, so a generated address that shares one with an earlier run does not hide its record.
   */
  perNetwork?: true
  /** Data points with no log record of their own (`upstream_request` for every proxied request). */
  points?: string[]
  run(headers: Record<string, string>): Promise<Outcome>
}

/** The method and path (without query) of the last request sent, for the `where` fields. */
let sent = { method: '', path: '' }
const send = (path: string, headers: Record<string, string>, bindings: object, method = 'GET') => {
  sent = { method, path: path.replace(/\?.*$/, '') }
  return app.fetch(new Request(`https://gw.test${path}`, { method, headers }), bindings, ctx)
}

/** A POST with a JSON body (the account routes). */
const sendJson = (path: string, headers: Record<string, string>, bindings: object, body: unknown) => {
  sent = { method: 'POST', path }
  return app.fetch(
    new Request(`https://gw.test${path}`, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    }),
    bindings,
    ctx,
  )
}

const PASSWORD = 'amber-quarry-violin-77'
const accountTokens = createD1AccountTokenStore(env.DB)
/** The client's headers plus a bearer token. */
const authed = (headers: Record<string, string>, accessToken: string) => ({ ...headers, ...authHeader(accessToken) })

/** Registers an account and returns its email and user id (setup: its records are cleared by the caller). */
async function account(): Promise<{ email: string; userId: string }> {
  const email = `log.${crypto.randomUUID().slice(0, 12)}@example.test`
  await sendJson('/auth/register', {}, BINDINGS.healthy, { email, password: PASSWORD })
  const row = await env.DB.prepare('SELECT id FROM users WHERE email = ?1').bind(email).first<{ id: string }>()
  if (row === null) throw new Error('registration wrote no user')
  return { email, userId: row.id }
}

/** Logs in to a fresh account: its user id, the session (refresh family) id and the token pair's secrets. */
async function session(): Promise<{ userId: string; sid: string; accessToken: string; secrets: string[] }> {
  const { email, userId } = await account()
  const login = await sendJson('/auth/login', {}, BINDINGS.healthy, { email, password: PASSWORD })
  const pair = (await login.json()) as { access_token: string; refresh_token: string }
  const family = await env.DB.prepare('SELECT id FROM refresh_token_families WHERE user_id = ?1')
    .bind(userId)
    .first<{ id: string }>()
  if (family === null) throw new Error('login wrote no refresh family')
  const secrets = [PASSWORD, email, pair.access_token, pair.refresh_token]
  return { userId, sid: family.id, accessToken: pair.access_token, secrets }
}

/** Forgets what setup steps logged, so a scenario is judged on its last request only. */
const clearSetupLogs = () => {
  logs.lines.length = 0
  events.clear()
}

/** A request to /auth/me with `authorization`, expected to be refused as an invalid token. */
function invalidToken(name: string, build: () => Promise<string>, status = 401): Scenario {
  return {
    name: `invalid token: ${name}`,
    expected: [['authn_token_invalid', 'warn']],
    status,
    async run(headers) {
      const authorization = await build()
      const res = await send('/auth/me', { ...headers, authorization }, BINDINGS.healthy)
      return { res, secrets: [authorization] }
    },
  }
}

const now = () => Math.floor(Date.now() / 1000)

const SCENARIOS: Scenario[] = [
  {
    name: 'invalid token: none at all',
    expected: [['authn_token_invalid', 'warn']],
    status: 401,
    run: async (headers) => ({ res: await send('/auth/me', headers, BINDINGS.healthy), secrets: [] }),
  },
  invalidToken('a Basic credential', async () => 'Basic YWxpY2U6c2VjcmV0LXBhc3N3b3Jk'),
  invalidToken('garbage', async () => 'Bearer not-a-jwt-at-all'),
  invalidToken('a broken signature', async () => `Bearer ${(await mintTestToken()).token.slice(0, -4)}AAAA`),
  invalidToken('expired', async () => {
    const t = now() - 7_200
    return `Bearer ${await signWithTestKey({ ...validClaims(), iat: t, exp: t + 900 })}`
  }),
  invalidToken('wrong audience', async () => `Bearer ${await signWithTestKey({ ...validClaims(), aud: 'elsewhere' })}`),
  invalidToken('alg none', async () => `Bearer ${segment({ alg: 'none', typ: 'at+jwt' })}.${segment(validClaims())}.`),
  {
    name: 'invalid token: a valid token in the query string',
    expected: [['authn_token_invalid', 'warn']],
    status: 401,
    async run(headers) {
      const { token } = await mintTestToken()
      const res = await send(`/auth/me?access_token=${token}`, { ...headers, ...authHeader(token) }, BINDINGS.healthy)
      return { res, secrets: [token] }
    },
  },
  {
    name: 'revoked token',
    expected: [['authn_token_revoked', 'warn']],
    status: 401,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const minted = await mintTestToken({ sub })
      await app.gateway().revocation.revoke({ jti: minted.jti, exp: minted.exp }, now())
      const res = await send('/auth/me', { ...headers, ...authHeader(minted.token) }, BINDINGS.healthy)
      return { res, secrets: [minted.token], userid: sub }
    },
  },
  {
    name: 'revocation check unavailable (fails closed)',
    expected: [['request_failed', 'error']],
    status: 503,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const { token } = await mintTestToken({ sub })
      // Bindings of its own per run: a run starts with Upstash's breaker closed, as a first failure does.
      const res = await send('/auth/me', { ...headers, ...authHeader(token) }, { ...BINDINGS.closedDown })
      return { res, secrets: [token], userid: sub }
    },
  },
  {
    name: 'revocation check skipped (REVOCATION_FAILURE_MODE=open)',
    expected: [['revocation_check_skipped', 'warn']],
    status: 200,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const { token } = await mintTestToken({ sub })
      const res = await send('/auth/me', { ...headers, ...authHeader(token) }, { ...BINDINGS.openDown })
      return { res, secrets: [token], userid: sub }
    },
  },
  {
    name: 'logout that cannot be written (open mode): the skip, then the failed write',
    expected: [
      ['revocation_check_skipped', 'warn'],
      ['request_failed', 'error'],
    ],
    status: 503,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const { token } = await mintTestToken({ sub })
      const res = await send('/auth/logout', { ...headers, ...authHeader(token) }, { ...BINDINGS.openDown }, 'POST')
      return { res, secrets: [token], userid: sub }
    },
  },
  {
    name: 'insufficient scope',
    expected: [['authz_fail', 'warn']],
    status: 403,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const { token } = await mintTestToken({ sub, scopes: ['read'] })
      const res = await send('/admin/report', { ...headers, ...authHeader(token) }, BINDINGS.healthy)
      return { res, secrets: [token], userid: sub }
    },
  },
  {
    name: 'logout',
    expected: [['session_logout', 'info']],
    status: 204,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const { token } = await mintTestToken({ sub })
      const res = await send('/auth/logout', { ...headers, ...authHeader(token) }, BINDINGS.healthy, 'POST')
      return { res, secrets: [token], userid: sub }
    },
  },
  {
    name: 'a session ended by its user',
    expected: [['session_revoked', 'info']],
    status: 204,
    async run(headers) {
      const { userId, sid, accessToken, secrets } = await session()
      clearSetupLogs()
      const res = await send(
        `/auth/sessions/${sid}`,
        { ...headers, ...authHeader(accessToken) },
        BINDINGS.healthy,
        'DELETE',
      )
      return { res, secrets, userid: userId }
    },
  },
  {
    name: "another user's session (404)",
    expected: [['request_rejected', 'info']],
    status: 404,
    async run(headers) {
      const attacker = await session()
      const victim = await session()
      clearSetupLogs()
      const authorization = authHeader(attacker.accessToken)
      const res = await send(
        `/auth/sessions/${victim.sid}`,
        { ...headers, ...authorization },
        BINDINGS.healthy,
        'DELETE',
      )
      return { res, secrets: [...attacker.secrets, ...victim.secrets], userid: attacker.userId }
    },
  },
  {
    name: 'health check failure (Upstash answers 500)',
    expected: [['health_check_failed', 'error']],
    status: 503,
    // Bindings of its own: readiness is cached per bindings object, and a cached answer logs nothing new.
    run: async (headers) => ({ res: await send('/health', headers, { ...BINDINGS.closedDown }), secrets: [] }),
  },
  {
    name: 'metrics without the token',
    expected: [['authn_token_invalid', 'warn']],
    status: 401,
    perNetwork: true,
    run: async (headers) => ({ res: await send('/metrics', headers, BINDINGS.healthy), secrets: [] }),
  },
  {
    name: 'metrics with a wrong token',
    expected: [['authn_token_invalid', 'warn']],
    status: 401,
    perNetwork: true,
    async run(headers) {
      const authorization = `Bearer ${METRICS_TOKEN.slice(0, -2)}xx`
      const res = await send('/metrics', { ...headers, authorization }, BINDINGS.healthy)
      return { res, secrets: [authorization] }
    },
  },
  {
    name: 'configuration invalid',
    expected: [['config_invalid', 'critical']],
    status: 500,
    isolateLevel: true,
    async run(headers) {
      // A fresh bindings object: the configuration is parsed (and its failure logged) once per bindings object.
      const secret = 'Sx7q-weak-jwt-secret'
      const invalid = {
        ...env,
        METRICS_TOKEN,
        UPSTASH_REDIS_REST_URL: 'ftp://upstash.invalid',
        JWT_SECRET: secret,
        EVENTS: events,
      }
      const res = await send('/auth/me', headers, invalid)
      return { res, secrets: [secret] }
    },
  },
  {
    name: 'registration',
    expected: [['user_created', 'info']],
    status: 202,
    async run(headers) {
      const email = `reg.${crypto.randomUUID().slice(0, 12)}@example.test`
      const res = await sendJson('/auth/register', headers, BINDINGS.healthy, { email, password: PASSWORD })
      const row = await env.DB.prepare('SELECT id FROM users WHERE email = ?1').bind(email).first<{ id: string }>()
      return { res, secrets: [PASSWORD, email], userid: row?.id ?? 'missing' }
    },
  },
  {
    name: 'login failure: unknown address',
    expected: [['authn_login_fail', 'warn']],
    status: 401,
    async run(headers) {
      const email = `ghost.${crypto.randomUUID().slice(0, 12)}@example.test`
      const res = await sendJson('/auth/login', headers, BINDINGS.healthy, { email, password: PASSWORD })
      return { res, secrets: [PASSWORD, email] }
    },
  },
  {
    name: 'login failure: wrong password',
    expected: [['authn_login_fail', 'warn']],
    status: 401,
    async run(headers) {
      const { email, userId } = await account()
      clearSetupLogs()
      const res = await sendJson('/auth/login', headers, BINDINGS.healthy, { email, password: 'wrong-but-long-9' })
      return { res, secrets: [PASSWORD, 'wrong-but-long-9', email], userid: userId }
    },
  },
  {
    name: 'login success',
    expected: [
      ['authn_login_success', 'info'],
      ['session_created', 'info'],
    ],
    status: 200,
    async run(headers) {
      const { email, userId } = await account()
      clearSetupLogs()
      const res = await sendJson('/auth/login', headers, BINDINGS.healthy, { email, password: PASSWORD })
      const pair = (await res.clone().json()) as { access_token: string; refresh_token: string }
      return { res, secrets: [PASSWORD, email, pair.access_token, pair.refresh_token], userid: userId }
    },
  },
  {
    name: 'login refused: the address is locked',
    expected: [['authn_login_lock', 'warn']],
    status: 429,
    async run(headers) {
      const email = `locked.${crypto.randomUUID().slice(0, 12)}@example.test`
      const config = testConfig()
      const [consecutive] = await lockoutKeys(config.passwords.pepper, email)
      await createRedis(config.redis).set(consecutive, config.accounts.lockout.threshold, { ex: 60 })
      const res = await sendJson('/auth/login', headers, BINDINGS.healthy, { email, password: PASSWORD })
      return { res, secrets: [PASSWORD, email] }
    },
  },
  {
    name: 'refresh-token reuse',
    expected: [['authn_token_reuse', 'critical']],
    status: 401,
    async run(headers) {
      const { email, userId } = await account()
      const login = await sendJson('/auth/login', {}, BINDINGS.noGrace, { email, password: PASSWORD })
      const { refresh_token } = (await login.json()) as { refresh_token: string }
      const rotated = await sendJson('/auth/refresh', {}, BINDINGS.noGrace, { refresh_token })
      const { refresh_token: child } = (await rotated.json()) as { refresh_token: string }
      clearSetupLogs()
      const res = await sendJson('/auth/refresh', headers, BINDINGS.noGrace, { refresh_token })
      return { res, secrets: [PASSWORD, refresh_token, child], userid: userId }
    },
  },
  {
    name: 'password change refused: wrong current password',
    expected: [['authn_password_change_fail', 'warn']],
    status: 403,
    async run(headers) {
      const { userId, accessToken, secrets } = await session()
      clearSetupLogs()
      const body = { current_password: 'wrong-but-long-9', new_password: 'lantern-orbit-mosaic-40' }
      const res = await sendJson('/auth/password/change', authed(headers, accessToken), BINDINGS.healthy, body)
      return { res, secrets: [...secrets, ...Object.values(body)], userid: userId }
    },
  },
  {
    name: 'password changed',
    expected: [['authn_password_change', 'info']],
    status: 204,
    async run(headers) {
      const { userId, accessToken, secrets } = await session()
      clearSetupLogs()
      const body = { current_password: PASSWORD, new_password: 'lantern-orbit-mosaic-40' }
      const res = await sendJson('/auth/password/change', authed(headers, accessToken), BINDINGS.healthy, body)
      return { res, secrets: [...secrets, body.new_password], userid: userId }
    },
  },
  {
    name: 'password reset with a reset token',
    expected: [['authn_password_change', 'info']],
    status: 204,
    async run(headers) {
      const { email, userId } = await account()
      const { token } = await accountTokens.issue({ userId, purpose: 'password_reset', ttlSeconds: 600 })
      clearSetupLogs()
      const body = { token, new_password: 'lantern-orbit-mosaic-40' }
      const res = await sendJson('/auth/password/reset', headers, BINDINGS.healthy, body)
      return { res, secrets: [PASSWORD, email, ...Object.values(body)], userid: userId }
    },
  },
  {
    name: 'address verified with a verification token',
    expected: [['user_updated', 'info']],
    status: 204,
    async run(headers) {
      const email = `pending.${crypto.randomUUID().slice(0, 12)}@example.test`
      const created = await createD1UserStore(env.DB).create({ email, passwordHash: 'h', verified: false })
      const userId = created.created ? created.user.id : 'missing'
      const pendingPasswordHash = await hashPassword(PASSWORD, testConfig().passwords.pepper)
      const { token } = await accountTokens.issue({
        userId,
        purpose: 'verify_email',
        ttlSeconds: 600,
        pendingPasswordHash,
      })
      const res = await sendJson('/auth/verify-email', headers, BINDINGS.healthy, { token, password: PASSWORD })
      return { res, secrets: [email, token, PASSWORD], userid: userId }
    },
  },
  {
    name: 'verification or reset token refused',
    expected: [['authn_token_invalid', 'warn']],
    status: 400,
    async run(headers) {
      const token = crypto.randomUUID().replaceAll('-', '').padEnd(43, 'x')
      const res = await sendJson('/auth/verify-email', headers, BINDINGS.healthy, { token, password: PASSWORD })
      return { res, secrets: [token] }
    },
  },
  {
    name: 'proxy: insufficient scope for the route',
    expected: [['authz_fail', 'warn']],
    status: 403,
    async run(headers) {
      const sub = `user-${crypto.randomUUID()}`
      const { token } = await mintTestToken({ sub, scopes: ['read'] })
      const res = await send('/api/admin/reports', { ...headers, ...authHeader(token) }, BINDINGS.healthy)
      return { res, secrets: [token], userid: sub }
    },
  },
  {
    name: 'proxy: an unsafe path',
    expected: [['input_validation_fail', 'info']],
    status: 400,
    run: async (headers) => ({ res: await send('/api/public/..%2fadmin', headers, BINDINGS.healthy), secrets: [] }),
  },
  {
    name: 'proxy: the origin cannot be reached',
    expected: [['request_failed', 'error']],
    points: ['upstream_request'],
    status: 502,
    async run(headers) {
      // A fresh bindings object per run: a fresh configuration, so a fresh circuit breaker (it would open).
      const res = await send('/api/public/anything', headers, { ...BINDINGS.originDown })
      return { res, secrets: [] }
    },
  },
  {
    name: 'proxy: a forwarded request (no security decision to record)',
    expected: [],
    points: ['upstream_request'],
    status: 200,
    async run(headers) {
      const { token } = await mintTestToken()
      return {
        res: await send('/api/things', { ...headers, ...authHeader(token) }, BINDINGS.healthy),
        secrets: [token],
      }
    },
  },
  {
    name: 'a valid request (no security decision to record)',
    expected: [],
    status: 200,
    async run(headers) {
      const { token } = await mintTestToken()
      return { res: await send('/auth/me', { ...headers, ...authHeader(token) }, BINDINGS.healthy), secrets: [token] }
    },
  },
]

/**
 * Client-controlled header values, including the awkward ones (quotes, braces, backslashes, forged JSON). CR and
 * LF cannot reach a header at all (the Fetch API refuses them); NEL and other obs-text: logger.test.ts.
 */
const clientHeaders = fc.record({
  'user-agent': fc.oneof(
    fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
    fc.constantFrom('a","event":"authn_login_success","level":"info', 'x"}\\n{"event":"session_logout"}'),
  ),
  'cf-ray': fc.stringMatching(/^[0-9a-f]{16}-[A-Z]{3}$/),
  'cf-connecting-ip': fc.oneof(fc.ipV4(), fc.ipV6()),
  'x-request-id': fc.oneof(
    fc.uuid(),
    fc.string({ maxLength: 80 }).filter((s) => !/[\0\r\n]/.test(s)),
  ),
})

/** An IPv6 address in a /32 no earlier call returned. */
let networks = 0
const freshNetworkAddress = () => `${(0x2000 + ++networks).toString(16)}:db8::1`

const LEVELS = ['debug', 'info', 'warn', 'error', 'critical']
const OUTCOMES = ['success', 'failure', 'denied', 'allowed']

let logs: ReturnType<typeof captureLogs>
beforeAll(async () => {
  await control.setFault('error500', 120_000, faultLane)
})
afterAll(async () => {
  await control.setFault('none', undefined, faultLane)
})
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => {
  logs.restore()
})

describe('property 8: security-log completeness', () => {
  it.each(SCENARIOS.map((s) => [s.name, s] as const))('%s', async (_, scenario) => {
    await fc.assert(
      fc.asyncProperty(clientHeaders, async (generated) => {
        const headers = scenario.perNetwork ? { ...generated, 'cf-connecting-ip': freshNetworkAddress() } : generated
        logs.lines.length = 0
        events.clear()
        const { res, secrets, userid } = await scenario.run(headers)
        expect(res.status).toBe(scenario.status)
        await res.arrayBuffer()

        const security = logs.records().filter((r) => isSecurityEvent(String(r.event)))
        expect(security.map((r) => [r.event, r.level])).toEqual(scenario.expected)
        for (const record of security) {
          expect(record.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
          expect(record.appid).toBe('edgeward')
          expect(LEVELS).toContain(record.level)
          expect(OUTCOMES).toContain(record.outcome)
          expect(typeof record.description).toBe('string')
          if (scenario.isolateLevel) continue
          expect(record).toMatchObject({
            request_id: res.headers.get('x-request-id'),
            cf_ray: headers['cf-ray'],
            source_ip: headers['cf-connecting-ip'],
            // The Fetch API strips leading and trailing whitespace from header values.
            useragent: headers['user-agent'].replace(/^[ \t]+|[ \t]+$/g, ''),
            request_method: sent.method,
            request_uri: sent.path,
          })
          if (userid !== undefined) expect(record.userid).toBe(userid)
          else expect(record).not.toHaveProperty('userid')
        }

        // R-LOG-4: nothing secret in any line, security record or not; a JWT's signature counts as the token.
        const text = logs.lines.join('\n')
        for (const secret of [...ALWAYS_SECRET, ...secrets]) {
          expect(text).not.toContain(secret)
          for (const part of secret.replace(/^\S+ /, '').split('.'))
            if (part.length >= 16) expect(text).not.toContain(part)
        }
        expect(text).not.toMatch(/authorization"\s*:\s*"(?!\[redacted\])/i)

        // Analytics Engine: one data point per request-level security record, one per problem response, and the
        // scenario's own (a proxied request's outcome, written before the problem it may become).
        const points = events.points()
        const recorded = scenario.isolateLevel ? [] : scenario.expected.map(([event]) => event)
        const problem = res.headers.get('content-type')?.startsWith('application/problem+json') ? ['http_problem'] : []
        const expectedPoints = [...recorded, ...(scenario.points ?? []), ...problem]
        expect(points.map((p) => p.event).sort()).toEqual(expectedPoints.sort())
        for (const point of points) {
          expect(point).toMatchObject({ count: 1, environment: 'development', method: sent.method })
          expect(OUTCOMES).toContain(point.outcome)
          expect(point.route === '*' || point.route === '(default)' || point.route.startsWith('/')).toBe(true)
          if (point.event === 'http_problem' || point.event === 'upstream_request') {
            expect(point.status).toBe(scenario.status)
          }
        }
        // Nothing the client sent or was given, and not the path unless it is the route's own pattern.
        const blobs = events.written.flatMap((p) => p.blobs ?? []).map(String)
        const sentValues = [...Object.values(headers), ...ALWAYS_SECRET, ...secrets].filter((v) => v.length >= 6)
        for (const value of sentValues) for (const blob of blobs) expect(blob).not.toContain(value)
        for (const point of points) if (point.route !== sent.path) expect(blobs).not.toContain(sent.path)
      }),
      { numRuns: scenario.isolateLevel ? 3 : 6 },
    )
  })
})

import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { testApp } from './test-support/app'
import { testExecutionContext as ctx } from './test-support/context'
import { captureLogs } from './test-support/logs'
import { expectProblem } from './test-support/problem'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

describe('errors', () => {
  it('answers an unknown path under a gateway segment with a 404 problem (never proxied)', async () => {
    for (const path of ['/auth/nope', '/health/nope', '/.well-known/nope', '/AUTH/login', '/auth/login/']) {
      const res = await exports.default.fetch(`https://gw.test${path}`, { method: 'POST' })
      await expectProblem(res, 404, 'not_found')
    }
  })

  it('sends every other unknown path to the proxy, which requires a token by default (deny by default)', async () => {
    const res = await exports.default.fetch('https://gw.test/nope')
    await expectProblem(res, 401, 'unauthenticated')
  })

  it('answers a wrong method with a 405 problem carrying Allow', async () => {
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
      const res = await exports.default.fetch('https://gw.test/health', { method })
      await expectProblem(res, 405, 'method_not_allowed')
      expect(res.headers.get('allow')).toBe('GET, HEAD')
    }
  })

  // A route's exception stays in the log: its message can carry a connection string, a query or a credential.
  const SECRET = 'secret-internal-detail db=postgres://u:p@h'

  /** The generic 500 for `thrown`: no trace of it in the body or headers, the whole of it logged under the id. */
  async function expectGeneric500(thrown: unknown) {
    logs = captureLogs()
    const app = testApp({
      extend: (app) => {
        app.get('/boom', () => {
          throw thrown
        })
      },
    })
    const res = await app.fetch(
      new Request('https://gw.test/boom', { headers: { 'x-request-id': 'req-boom-0001' } }),
      env,
      ctx,
    )
    const text = await res.clone().text()
    await expectProblem(res, 500, 'internal_error')
    for (const part of ['secret-internal-detail', 'postgres://', 'u:p@h']) {
      expect(text).not.toContain(part)
      for (const [name, value] of res.headers) expect(`${name}: ${value}`).not.toContain(part)
    }
    expect(text).not.toMatch(/stack|\bat /)
    const [record] = logs.events('request_failed')
    expect(record).toMatchObject({
      level: 'error',
      request_id: 'req-boom-0001',
      code: 'internal_error',
      reason: 'unhandled',
    })
    expect(JSON.stringify(record?.cause)).toContain(SECRET)
  }

  it('turns an Error thrown by a route into a generic 500 and logs it under the request id', async () => {
    await expectGeneric500(new Error(SECRET))
  })

  // hono passes only Error instances to onError: the app wraps anything else before its error handler.
  it.each([
    ['a string', SECRET],
    ['an object with a message', { message: SECRET }],
  ])('turns %s thrown by a route into a generic 500 and logs it under the request id', async (_, thrown) => {
    await expectGeneric500(thrown)
  })
})

describe('request id', () => {
  it('keeps a well-formed inbound X-Request-Id', async () => {
    const res = await exports.default.fetch('https://gw.test/nope', { headers: { 'x-request-id': 'abc-DEF-12345678' } })
    expect(res.headers.get('x-request-id')).toBe('abc-DEF-12345678')
    expect(((await res.json()) as { instance: string }).instance).toBe('abc-DEF-12345678')
  })

  it.each([
    ['too short', 'abc1234'],
    ['too long', 'a'.repeat(65)],
    ['underscore', 'abc_defgh123'],
    ['JSON', '{"event":"x"}'],
    ['spaces', 'abc def ghi jkl'],
  ])('replaces a %s inbound id with a UUID', async (_, inbound) => {
    const res = await exports.default.fetch('https://gw.test/nope', { headers: { 'x-request-id': inbound } })
    expect(res.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
    )
  })
})

describe('invalid configuration', () => {
  const broken = {
    ...env,
    ENVIRONMENT: 'production',
    UPSTASH_REDIS_REST_URL: 'http://leaky.example.net',
    UPSTASH_REDIS_REST_TOKEN: 'short-token-value',
    RATE_LIMIT_AUTH: '5/15m',
    // The test bindings point account events at a local http origin, which production refuses: not this test's
    // subject.
    ACCOUNT_EVENTS_URL: 'https://origin.example/account-events',
  }

  it('answers every request with a 500 that reveals nothing and logs the variables once', async () => {
    logs = captureLogs()
    const app = testApp()
    for (const path of ['/health', '/nope', '/health']) {
      const res = await app.fetch(new Request(`https://gw.test${path}`), broken, ctx)
      const text = await res.clone().text()
      await expectProblem(res, 500, 'internal_error')
      expect(text).not.toMatch(/UPSTASH|leaky|short-token|config/i)
    }
    const records = logs.events('config_invalid')
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({
      level: 'critical',
      variables: ['UPSTASH_REDIS_REST_URL', 'CORS_ORIGINS', 'UPSTASH_REDIS_REST_TOKEN', 'UPSTREAM_URL'],
    })
    expect(logs.lines.join('\n')).not.toMatch(/leaky\.example|short-token-value/)
  })

  it('names both ways to run locally on a loopback host, and still no variable', async () => {
    logs = captureLogs()
    const app = testApp()
    for (const host of ['127.0.0.1:8787', 'localhost:8787', '[::1]:8787']) {
      const res = await app.fetch(new Request(`http://${host}/health`), broken, ctx)
      const body = await expectProblem(res, 500, 'internal_error', {
        detail:
          'The gateway configuration is invalid; the config_invalid record in the log lists every problem. To run locally, use `npm run dev`, or `npm run upstash-local` and the `wrangler dev` command it prints.',
      })
      expect(JSON.stringify(body)).not.toMatch(/UPSTASH|leaky|short-token/)
    }
    // One record for the isolate, listing every problem.
    expect(logs.events('config_invalid')).toHaveLength(1)
  })

  it('logs a loud warning when the plaintext override is set', async () => {
    logs = captureLogs()
    const app = testApp()
    const insecure = { ...env, UPSTASH_REDIS_REST_URL: 'http://redis.lan:8079', REDIS_INSECURE_ALLOW_PLAINTEXT: 'true' }
    await app.fetch(new Request('https://gw.test/nope'), insecure, ctx)
    await app.fetch(new Request('https://gw.test/nope'), insecure, ctx)
    const warnings = logs.events('config_insecure_redis_plaintext')
    expect(warnings).toHaveLength(1)
    expect(warnings[0]).toMatchObject({ level: 'warn', in_use: true })
  })
})

describe('request metrics', () => {
  it('counts every response by status class, errors included', async () => {
    const token = 'm'.repeat(40)
    const bindings = { ...env, METRICS_TOKEN: token }
    const app = testApp()
    const scrape = async () => {
      const res = await app.fetch(
        new Request('https://gw.test/metrics', { headers: { authorization: `Bearer ${token}` } }),
        bindings,
        ctx,
      )
      const text = await res.text()
      const value = (cls: string) =>
        Number(new RegExp(`edgeward_requests_total\\{status_class="${cls}"\\} (\\d+)`).exec(text)?.[1])
      return { ok: value('2xx'), client: value('4xx') }
    }
    const before = await scrape()
    await app.fetch(new Request('https://gw.test/nope'), bindings, ctx)
    await app.fetch(new Request('https://gw.test/health'), bindings, ctx)
    const after = await scrape()
    expect(after.client - before.client).toBe(1)
    expect(after.ok - before.ok).toBe(2) // /health and the first scrape
  })
})

/**
 * Decisions that reach Analytics Engine without a log record of their own, or more often than their throttled log:
 * every problem response (a route's 405 and 400 included), every 429 (the log says one per client per minute),
 * every request the degraded rate limiter decided, every refused CORS origin, and a proxied request's outcome.
 * Each through the whole gateway, with a recording `EVENTS` dataset in the bindings.
 */
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../test/conformance/upstash-cases'
import { recordUpstream } from '../request-log'
import { recordingDataset } from '../test-support/analytics'
import { testApp } from '../test-support/app'
import { uniqueIpv4 } from '../test-support/clients'
import { testExecutionContext as ctx } from '../test-support/context'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'
import { laneBindings, limitProbe } from '../test-support/rate-limit'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

const app = testApp({
  extend: (app) => {
    app.get('/public', (c) => c.json({ ok: true }))
    app.get('/upstream-probe', (c) => {
      recordUpstream(c, { status: 504, latencyMs: 10_000, outcome: 'upstream_timeout' })
      return c.body(null, 204)
    })
  },
})

describe('route refusals', () => {
  it('a method the route lacks: one http_problem with the code, the pattern and the status, and no path', async () => {
    const events = recordingDataset()
    const ip = uniqueIpv4()
    const res = await app.fetch(
      new Request('https://gw.test/api/public/alice@example.com', {
        method: 'POST',
        headers: { 'cf-connecting-ip': ip },
      }),
      { ...env, EVENTS: events },
      ctx,
    )
    await expectProblem(res, 405, 'method_not_allowed')
    expect(events.points()).toEqual([
      {
        index: 'http_problem',
        event: 'http_problem',
        outcome: 'denied',
        // Refused before a route-table entry was chosen: the proxy's catch-all.
        route: '/*',
        reason: 'method_not_allowed',
        environment: 'development',
        method: 'POST',
        count: 1,
        latency_ms: 0,
        status: 405,
      },
    ])
    const blobs = JSON.stringify(events.written)
    for (const leak of [ip, 'alice', 'example.com']) expect(blobs).not.toContain(leak)
  })

  it('a path some origin would read differently: the validation failure and the problem', async () => {
    const events = recordingDataset()
    const res = await app.fetch(new Request('https://gw.test/api/public%2F..%2Fadmin'), { ...env, EVENTS: events }, ctx)
    await expectProblem(res, 400, 'invalid_path')
    expect(events.points().map((p) => [p.event, p.outcome, p.reason])).toEqual([
      ['input_validation_fail', 'denied', 'path_encoded_slash'],
      ['http_problem', 'denied', 'invalid_path'],
    ])
  })
})

describe('rate limits', () => {
  it('every 429 is one data point of each kind, while the log keeps one record per client and minute', async () => {
    const events = recordingDataset()
    const { bindings } = laneBindings({ RATE_LIMIT_GLOBAL: '1/17m' })
    const ip = uniqueIpv4()
    const statuses = []
    for (let i = 0; i < 4; i++) {
      const res = await app.fetch(limitProbe('/public', ip), { ...bindings, EVENTS: events }, ctx)
      statuses.push(res.status)
      await res.arrayBuffer()
    }
    expect(statuses).toEqual([200, 429, 429, 429])
    expect(logs.events('excess_rate_limit_exceeded')).toHaveLength(1)
    const limited = events.events('excess_rate_limit_exceeded')
    expect(limited).toHaveLength(3)
    for (const p of limited) expect(p).toMatchObject({ outcome: 'denied', reason: 'global', route: '/public' })
    expect(events.events('http_problem').map((p) => [p.reason, p.status])).toEqual([
      ['rate_limited', 429],
      ['rate_limited', 429],
      ['rate_limited', 429],
    ])
  })

  it('every request the degraded limiter decides is one rate_limit_degraded point; a fail-closed one too', async () => {
    const events = recordingDataset()
    const { lane, bindings } = laneBindings({
      RATE_LIMIT_GLOBAL: '1000/17m',
      RATE_LIMIT_AUTH: '3/17m',
      RATE_LIMIT_BREAKER_THRESHOLD: '1',
      RATE_LIMIT_BREAKER_COOLDOWN_SECONDS: '60',
      UPSTASH_TIMEOUT_MS: '200',
    })
    await control.setFault('error500', 30_000, lane)
    try {
      const send = (path: string) => app.fetch(limitProbe(path, uniqueIpv4()), { ...bindings, EVENTS: events }, ctx)
      expect((await send('/public')).status).toBe(200)
      expect((await send('/public')).status).toBe(200)
      const login = await send('/auth/login')
      await expectProblem(login, 503, 'rate_limit_unavailable')
    } finally {
      await control.setFault('none', undefined, lane)
    }
    expect(events.events('rate_limit_degraded').map((p) => [p.outcome, p.reason, p.route])).toEqual([
      ['allowed', 'global', '/public'],
      ['allowed', 'global', '/public'],
      ['denied', 'global,auth', '/auth/login'],
    ])
    expect(events.events('rate_limit_unavailable').map((p) => [p.outcome, p.reason])).toEqual([['denied', 'auth']])
  })
})

describe('CORS', () => {
  it('every refused origin is one malicious_cors point, while the log keeps one record per origin and minute', async () => {
    const events = recordingDataset()
    const origin = `https://evil-${crypto.randomUUID().slice(0, 8)}.example`
    for (let i = 0; i < 3; i++) {
      const res = await app.fetch(
        new Request('https://gw.test/public', { headers: { origin } }),
        { ...env, EVENTS: events },
        ctx,
      )
      expect(res.headers.get('access-control-allow-origin')).toBeNull()
      await res.arrayBuffer()
    }
    expect(logs.events('malicious_cors')).toHaveLength(1)
    expect(events.events('malicious_cors').map((p) => [p.outcome, p.route])).toEqual([
      ['denied', '/public'],
      ['denied', '/public'],
      ['denied', '/public'],
    ])
    expect(JSON.stringify(events.written)).not.toContain('evil')
  })
})

describe('proxied requests', () => {
  it('an origin answer: one upstream_request point with the route pattern, status and latency, no path', async () => {
    const events = recordingDataset()
    const res = await app.fetch(
      new Request(`https://gw.test/api/public/${crypto.randomUUID()}`),
      { ...env, EVENTS: events },
      ctx,
    )
    expect(res.status).toBe(200)
    const [point, ...more] = events.events('upstream_request')
    expect(more).toEqual([])
    expect(point).toMatchObject({
      outcome: 'success',
      reason: '2xx',
      route: '/api/public/*',
      method: 'GET',
      status: 200,
    })
    expect(point?.latency_ms).toBeGreaterThan(0)
  })

  it('an origin that cannot be reached: a failure point with the gateway code and its status', async () => {
    const events = recordingDataset()
    const res = await app.fetch(
      new Request('https://gw.test/api/public/unreachable'),
      { ...env, UPSTREAM_URL: 'http://127.0.0.1:1', EVENTS: events },
      ctx,
    )
    await expectProblem(res, 502, 'bad_gateway')
    expect(events.events('upstream_request')).toEqual([
      expect.objectContaining({ outcome: 'failure', reason: 'bad_gateway', route: '/api/public/*', status: 502 }),
    ])
  })
})

describe('recordUpstream', () => {
  it('writes one upstream_request point: outcome, latency and status', async () => {
    const events = recordingDataset()
    const res = await app.fetch(new Request('https://gw.test/upstream-probe'), { ...env, EVENTS: events }, ctx)
    expect(res.status).toBe(204)
    expect(events.points()).toEqual([
      expect.objectContaining({
        event: 'upstream_request',
        outcome: 'failure',
        reason: 'upstream_timeout',
        route: '/upstream-probe',
        latency_ms: 10_000,
        status: 504,
      }),
    ])
  })
})

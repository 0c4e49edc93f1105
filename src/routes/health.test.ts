import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../test/conformance/upstash-cases'
import { testApp } from '../test-support/app'
import { uniqueIpv4 } from '../test-support/clients'
import { testExecutionContext as ctx } from '../test-support/context'
import { countingD1 } from '../test-support/d1'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'
import { READINESS_CACHE_MS, readiness } from './health'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

describe('GET /health', () => {
  it('reports Redis (through the local Upstash server) and D1 healthy', async () => {
    const res = await exports.default.fetch('https://gw.test/health')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    const body = (await res.json()) as { status: string; checks: Record<string, { ok: boolean; latency_ms: number }> }
    expect(body).toEqual({
      status: 'ok',
      checks: { redis: { ok: true, latency_ms: expect.any(Number) }, d1: { ok: true, latency_ms: expect.any(Number) } },
    })
  })

  it('answers HEAD like GET, without a body', async () => {
    const res = await exports.default.fetch('https://gw.test/health', { method: 'HEAD' })
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('')
  })

  it('answers 503 problem+json when Upstash refuses connections, within the timeout', async () => {
    logs = captureLogs()
    const down = { ...env, UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9', UPSTASH_TIMEOUT_MS: '500' }
    const started = Date.now()
    const res = await testApp().fetch(new Request('https://gw.test/health'), down, ctx)
    expect(Date.now() - started).toBeLessThan(1500)
    const body = await expectProblem(res, 503, 'dependency_unavailable')
    expect(res.headers.get('retry-after')).toBe('5')
    expect(body.checks).toEqual({
      redis: { ok: false, latency_ms: expect.any(Number) },
      d1: { ok: true, latency_ms: expect.any(Number) },
    })
    expect(JSON.stringify(body)).not.toMatch(/127\.0\.0\.1|upstash|token/i)
    const [record] = logs.events('health_check_failed')
    expect(record).toMatchObject({ level: 'error', checks: body.checks })
    expect(JSON.stringify(logs.records())).not.toContain(env.UPSTASH_REDIS_REST_TOKEN)
  })

  it('answers 503 within UPSTASH_TIMEOUT_MS when Upstash hangs', async () => {
    logs = captureLogs()
    const lane = `lane-${crypto.randomUUID()}`
    const hanging = {
      ...env,
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      UPSTASH_TIMEOUT_MS: '400',
    }
    await control.setFault('hang', 10_000, lane)
    try {
      const started = Date.now()
      const res = await testApp().fetch(new Request('https://gw.test/health'), hanging, ctx)
      const elapsed = Date.now() - started
      await expectProblem(res, 503, 'dependency_unavailable')
      expect(elapsed).toBeGreaterThanOrEqual(350)
      expect(elapsed).toBeLessThan(1_500)
    } finally {
      await control.setFault('none', undefined, lane)
    }
  })

  it('answers 503 when the D1 schema is not migrated', async () => {
    logs = captureLogs()
    await env.DB.exec('ALTER TABLE gateway_meta RENAME TO gateway_meta_moved')
    try {
      const res = await testApp().fetch(new Request('https://gw.test/health'), env, ctx)
      const body = await expectProblem(res, 503, 'dependency_unavailable')
      expect(body.checks).toMatchObject({ redis: { ok: true }, d1: { ok: false } })
      expect(JSON.stringify(body)).not.toMatch(/gateway_meta|SQL/i)
    } finally {
      await env.DB.exec('ALTER TABLE gateway_meta_moved RENAME TO gateway_meta')
    }
  })
})

/**
 * A gateway with bindings of its own (so a readiness cache of its own) on a fresh Upstash lane, counting what its
 * probes cost: D1 statements through a Proxy over `env.DB`, Upstash HTTP requests and commands from the local
 * server's per-lane stats.
 */
function countedGateway(vars: Record<string, string> = {}) {
  const lane = `lane-${crypto.randomUUID()}`
  const { db, calls: countD1 } = countingD1(env.DB)
  const bindings = { ...env, DB: db, UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`, ...vars }
  const app = testApp()
  return {
    app,
    lane,
    send: (path: string, headers: Record<string, string> = {}) =>
      app.fetch(new Request(`https://gw.test${path}`, { headers }), bindings, ctx),
    d1Calls: countD1,
    upstash: () => control.stats(lane),
  }
}

describe('GET /health: readiness is cached per isolate', () => {
  it('answers a burst of 20 concurrent and 10 sequential probes with one Upstash call and one D1 read', async () => {
    const g = countedGateway()
    const burst = await Promise.all(Array.from({ length: 20 }, () => g.send('/health')))
    const sequential: Response[] = []
    for (let i = 0; i < 10; i++) sequential.push(await g.send('/health'))
    expect({ upstash: await g.upstash(), d1: g.d1Calls() }).toEqual({ upstash: { requests: 1, commands: 1 }, d1: 1 })
    for (const res of [...burst, ...sequential]) {
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await res.json()).toMatchObject({ status: 'ok', checks: { redis: { ok: true }, d1: { ok: true } } })
    }
  })

  it('serves /health/ready from the same check as /health', async () => {
    const g = countedGateway()
    const first = await g.send('/health')
    const ready = await g.send('/health/ready')
    expect(ready.status).toBe(200)
    expect(ready.headers.get('cache-control')).toBe('no-store')
    expect(await ready.json()).toEqual(await first.json())
    expect({ upstash: await g.upstash(), d1: g.d1Calls() }).toEqual({ upstash: { requests: 1, commands: 1 }, d1: 1 })
  })

  it('caches a failure too, and logs it once: a dead Upstash is not hammered by probes', async () => {
    logs = captureLogs()
    const g = countedGateway({ UPSTASH_TIMEOUT_MS: '300' })
    await control.setFault('error500', 10_000, g.lane)
    try {
      const responses = await Promise.all(Array.from({ length: 5 }, () => g.send('/health')))
      for (let i = 0; i < 5; i++) responses.push(await g.send('/health'))
      for (const res of responses) {
        const body = await expectProblem(res, 503, 'dependency_unavailable')
        expect(res.headers.get('retry-after')).toBe('5')
        expect(body.checks).toMatchObject({ redis: { ok: false }, d1: { ok: true } })
      }
      expect((await g.upstash()).requests).toBe(1)
      expect(g.d1Calls()).toBe(1)
      expect(logs.events('health_check_failed')).toHaveLength(1)
    } finally {
      await control.setFault('none', undefined, g.lane)
    }
  })

  it(`checks again once the result is ${READINESS_CACHE_MS} ms old`, async () => {
    let now = 1_000_000
    const g = countedGateway()
    // The real handler on the real pipeline, with a clock the test moves.
    g.app.extend((app, gw) => app.get('/health/clocked', readiness(gw, { now: () => now })))
    expect((await g.send('/health/clocked')).status).toBe(200)
    now += READINESS_CACHE_MS - 1
    expect((await g.send('/health/clocked')).status).toBe(200)
    expect(g.d1Calls()).toBe(1)
    now += 1
    expect((await g.send('/health/clocked')).status).toBe(200)
    expect({ upstash: (await g.upstash()).requests, d1: g.d1Calls() }).toEqual({ upstash: 2, d1: 2 })
  })

  it('starts a new check when the one in flight has been abandoned', async () => {
    logs = captureLogs()
    let now = 1_000_000
    const g = countedGateway({ UPSTASH_TIMEOUT_MS: '300' })
    // One handler, so one cache, for every request of the test.
    g.app.extend((app, gw) => app.get('/health/clocked', readiness(gw, { now: () => now })))
    // A check whose request context went away never settles; it is not awaited forever.
    await control.setFault('hang', 10_000, g.lane)
    const stuck = g.send('/health/clocked')
    now += 60_000
    await control.setFault('none', undefined, g.lane)
    expect((await g.send('/health/clocked')).status).toBe(200)
    await stuck
  })
})

describe('GET /health/live', () => {
  it('answers 200 without touching Upstash or D1, even while Upstash is down', async () => {
    logs = captureLogs()
    const g = countedGateway({ UPSTASH_TIMEOUT_MS: '300' })
    await control.setFault('refuse', 10_000, g.lane)
    try {
      const res = await g.send('/health/live')
      expect(res.status).toBe(200)
      expect(res.headers.get('cache-control')).toBe('no-store')
      expect(await res.json()).toEqual({ status: 'ok' })
      expect({ upstash: await g.upstash(), d1: g.d1Calls() }).toEqual({ upstash: { requests: 0, commands: 0 }, d1: 0 })
      // The same gateway's readiness does see the outage.
      await expectProblem(await g.send('/health'), 503, 'dependency_unavailable')
    } finally {
      await control.setFault('none', undefined, g.lane)
    }
  })

  it('is never rate limited, nor is /health/ready', async () => {
    const g = countedGateway({ RATE_LIMIT_GLOBAL: '1/15m' })
    const ip = uniqueIpv4()
    for (let i = 0; i < 3; i++) {
      for (const path of ['/health/live', '/health/ready', '/health']) {
        const res = await g.send(path, { 'cf-connecting-ip': ip })
        expect(res.status, path).toBe(200)
        expect(res.headers.get('ratelimit'), path).toBeNull()
      }
    }
  })
})

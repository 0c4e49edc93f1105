import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../test/conformance/upstash-cases'
import { createApp } from '../app'
import { testExecutionContext as ctx } from '../test-support/context'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'

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
    const res = await createApp().fetch(new Request('https://gw.test/health'), down, ctx)
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
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const hanging = {
      ...env,
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      UPSTASH_TIMEOUT_MS: '400',
    }
    await control.setFault('hang', 10_000, lane)
    try {
      const started = Date.now()
      const res = await createApp().fetch(new Request('https://gw.test/health'), hanging, ctx)
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
      const res = await createApp().fetch(new Request('https://gw.test/health'), env, ctx)
      const body = await expectProblem(res, 503, 'dependency_unavailable')
      expect(body.checks).toMatchObject({ redis: { ok: true }, d1: { ok: false } })
      expect(JSON.stringify(body)).not.toMatch(/gateway_meta|SQL/i)
    } finally {
      await env.DB.exec('ALTER TABLE gateway_meta_moved RENAME TO gateway_meta')
    }
  })
})

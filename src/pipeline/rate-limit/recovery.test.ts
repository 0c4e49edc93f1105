/**
 * Degraded mode, end to end (S-RL-7 in docs/requirements.md): Upstash fails → the breaker opens once (one
 * `degraded_mode_entered`, gauge 1), requests stop waiting on Upstash and auth fails closed; Upstash returns →
 * after the cooldown a single probe closes it (one `degraded_mode_exited`, gauge 0) and exact decisions come back.
 */
import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { setDegradedMode } from '../../observability/metrics'
import { testApp } from '../../test-support/app'
import { uniqueIpv4 } from '../../test-support/clients'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { LOGIN_ADMITTED, limitProbe } from '../../test-support/rate-limit'

const METRICS_TOKEN = 'mt_7Rk2Qw9Zp4Lx8Vn3Bc6Hd1Jf5Gs0Ta2Ye7Uo4Im9Nb3'
const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

/**
 * The engine and its breaker live per isolate per configuration object, and the configuration is cached per
 * bindings object: each test builds ONE gateway and reuses it. The gauge is per isolate (the whole file).
 */
function gateway() {
  const lane = `lane-${crypto.randomUUID()}`
  const bindings = {
    ...env,
    UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
    RATE_LIMIT_GLOBAL: '1000/17m',
    RATE_LIMIT_AUTH: '3/17m',
    RATE_LIMIT_BREAKER_THRESHOLD: '1',
    RATE_LIMIT_BREAKER_COOLDOWN_SECONDS: '1',
    UPSTASH_TIMEOUT_MS: '200',
    METRICS_TOKEN,
  }
  const app = testApp()
  let reached = 0
  app.extend((app) => app.get('/public', (c) => c.json({ ok: true })))
  const send = async (path: '/auth/login' | '/public', ip = uniqueIpv4()) => {
    const started = Date.now()
    const res = await app.fetch(limitProbe(path, ip), bindings, ctx)
    if (path === '/auth/login' && res.status === LOGIN_ADMITTED) reached++
    return { res, ms: Date.now() - started }
  }
  const degradedGauge = async () => {
    const res = await app.fetch(
      new Request('https://gw.test/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }),
      bindings,
      ctx,
    )
    expect(res.status).toBe(200)
    const line = (await res.text()).split('\n').find((l) => l.startsWith('edgeward_degraded_mode '))
    return Number(line?.split(' ')[1])
  }
  return { lane, send, degradedGauge, reached: () => reached }
}

describe('rate limiting: degraded mode enters once and recovers after the cooldown', () => {
  it.each(['refuse', 'hang', 'error500'] as const)('Upstash failing with %s', async (mode) => {
    logs = captureLogs()
    // The gauge is the isolate's, and test files share isolates: another file's gateway may have left it at 1.
    setDegradedMode(false)
    const g = gateway()
    // Healthy first: exact decisions with headers, gauge 0 (scripts loaded, so later counts are steady).
    const healthy = await g.send('/auth/login')
    expect(healthy.res.status).toBe(LOGIN_ADMITTED)
    expect(healthy.res.headers.get('ratelimit')).not.toBeNull()
    expect(await g.degradedGauge()).toBe(0)

    await control.setFault(mode, 30_000, g.lane)
    try {
      // One login decides both its policies in one Upstash call; it fails (threshold 1): the breaker opens.
      const opening = await g.send('/auth/login')
      await expectProblem(opening.res, 503, 'rate_limit_unavailable')
      const openedAt = Date.now()
      expect(logs.events('degraded_mode_entered')).toHaveLength(1)
      expect(await g.degradedGauge()).toBe(1)

      // Open: nothing goes to Upstash, nothing waits on it (the client timeout is 200 ms); auth fails closed,
      // global falls back locally and sends no RateLimit headers.
      await control.resetStats(g.lane)
      for (let i = 0; i < 3; i++) {
        const login = await g.send('/auth/login')
        await expectProblem(login.res, 503, 'rate_limit_unavailable')
        expect(login.ms).toBeLessThan(100)
        const pub = await g.send('/public')
        expect(pub.res.status).toBe(200)
        expect(pub.res.headers.get('ratelimit')).toBeNull()
        expect(pub.ms).toBeLessThan(100)
      }
      expect((await control.stats(g.lane)).requests).toBe(0)
      expect(logs.events('degraded_mode_entered')).toHaveLength(1)
      expect(g.reached()).toBe(1)

      // Upstash is back, but the cooldown has not passed: still open, still no Upstash traffic.
      await control.setFault('none', undefined, g.lane)
      const early = await g.send('/auth/login')
      await expectProblem(early.res, 503, 'rate_limit_unavailable')
      expect((await control.stats(g.lane)).requests).toBe(0)
      expect(await g.degradedGauge()).toBe(1)

      await sleep(Math.max(0, openedAt + 1_000 + 50 - Date.now()))
      // The probe: the first decision after the cooldown goes to Upstash and closes the breaker.
      const probe = await g.send('/public')
      expect(probe.res.status).toBe(200)
      expect(probe.res.headers.get('ratelimit')).not.toBeNull()
      expect(logs.events('degraded_mode_exited')).toHaveLength(1)
      expect(await g.degradedGauge()).toBe(0)

      // Closed: auth is decided by Upstash again, with headers; no second transition either way.
      const login = await g.send('/auth/login')
      expect(login.res.status).toBe(LOGIN_ADMITTED)
      expect(login.res.headers.get('ratelimit')).toMatch(/"auth";r=2;/)
      expect(g.reached()).toBe(2)
      expect(logs.events('degraded_mode_entered')).toHaveLength(1)
      expect(logs.events('degraded_mode_exited')).toHaveLength(1)
    } finally {
      await control.setFault('none', undefined, g.lane)
    }
  })

  it('a login that is the first request after the cooldown is decided by Upstash, not refused', async () => {
    logs = captureLogs()
    const g = gateway()
    await control.setFault('error500', 30_000, g.lane)
    try {
      const failed = await g.send('/auth/login')
      await expectProblem(failed.res, 503, 'rate_limit_unavailable')
      const openedAt = Date.now()
      await control.setFault('none', undefined, g.lane)
      await sleep(Math.max(0, openedAt + 1_000 + 50 - Date.now()))
      // The login's one call is the breaker's probe: Upstash decides it, the auth policy is not refused with a 503.
      const login = await g.send('/auth/login')
      expect(login.res.status).toBe(LOGIN_ADMITTED)
      expect(login.res.headers.get('ratelimit')).toMatch(/"auth";r=\d+;/)
      expect(logs.events('degraded_mode_exited')).toHaveLength(1)
    } finally {
      await control.setFault('none', undefined, g.lane)
    }
  })
})

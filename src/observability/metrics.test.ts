import { env } from 'cloudflare:workers'
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AppEnv } from '../env'
import { GatewayError } from '../errors/gateway-error'
import { toProblemResponse } from '../errors/problem'
import { countRequests } from '../pipeline/count-requests'
import { pipeline } from '../pipeline/stage'
import { recordingDataset } from '../test-support/analytics'
import { testApp } from '../test-support/app'
import { testExecutionContext as ctx } from '../test-support/context'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'
import { authHeader, mintTestToken } from '../test-support/tokens'
import {
  AUTH_EVENTS,
  countRateLimitDecision,
  METRICS_CONTENT_TYPE,
  RATE_LIMIT_DECISIONS,
  RATE_LIMIT_POLICIES,
  setDegradedMode,
  UPSTASH_BUCKETS_MS,
} from './metrics'

const METRICS_TOKEN = 'mt_4q8ZB2rS1vT0xW9yK7pL3nM6cJ5hG2fD8aE0uI1oY9'
/** One bindings object for the whole file: the configuration is parsed and cached per bindings object. */
const bindings = { ...env, METRICS_TOKEN }
const app = testApp()
/** A /24 of its own per call: refused scrapes are logged once a minute per network. */
const FILE_OCTET = crypto.getRandomValues(new Uint8Array(1))[0] ?? 0
let networks = 0
const freshNetwork = () => `10.${FILE_OCTET}.${networks++ % 256}.7`

/** From a fresh network unless `init` names an address. */
const send = (path: string, init: RequestInit = {}, withBindings: object = bindings) =>
  app.fetch(
    new Request(`https://gw.test${path}`, {
      ...init,
      headers: { 'cf-connecting-ip': freshNetwork(), ...init.headers },
    }),
    withBindings,
    ctx,
  )

let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => {
  vi.restoreAllMocks()
})

/** Sample lines of the text format: `name{label="value",…} value`, label values with only \\ \" \n escapes. */
const SAMPLE_LINE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*"(?:,(?!\}))?)*\})? ([+-]?Inf|NaN|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/
const COMMENT_LINE = /^# (HELP [a-zA-Z_:][a-zA-Z0-9_:]* .*|TYPE [a-zA-Z_:][a-zA-Z0-9_:]* (counter|gauge|histogram))$/

/** Scrapes /metrics and returns `name{labels}` → value, after checking every line of the exposition. */
async function scrape(): Promise<Map<string, number>> {
  const res = await send('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
  expect(res.status).toBe(200)
  const text = await res.text()
  expect(text.endsWith('\n')).toBe(true)
  const samples = new Map<string, number>()
  const typed = new Set<string>()
  for (const line of text.slice(0, -1).split('\n')) {
    if (line.startsWith('#')) {
      expect(line).toMatch(COMMENT_LINE)
      if (line.startsWith('# TYPE ')) typed.add(line.split(' ')[2] ?? '')
      continue
    }
    const match = SAMPLE_LINE.exec(line)
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`)
    const name = match[1] ?? ''
    expect(typed.has(name) || typed.has(name.replace(/_(bucket|sum|count)$/, ''))).toBe(true)
    expect(samples.has(`${name}${match[2] ?? ''}`)).toBe(false)
    samples.set(`${name}${match[2] ?? ''}`, Number(match[3]?.replace('+Inf', 'Infinity')))
  }
  return samples
}

const value = (samples: Map<string, number>, series: string) => {
  const v = samples.get(series)
  if (v === undefined) throw new Error(`no series ${series}`)
  return v
}

describe('GET /metrics', () => {
  it('does not exist without METRICS_TOKEN (404), whatever the request carries', async () => {
    const res = await send('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } }, env)
    await expectProblem(res, 404, 'not_found')
  })

  it('answers Prometheus text 0.0.4, uncached, for the right token', async () => {
    const res = await send('/metrics', { headers: { authorization: `Bearer ${METRICS_TOKEN}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe(METRICS_CONTENT_TYPE)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(logs.lines).toEqual([])
  })

  it('accepts the scheme in any case (RFC 9110 §11.1)', async () => {
    const res = await send('/metrics', { headers: { authorization: `bEaReR ${METRICS_TOKEN}` } })
    expect(res.status).toBe(200)
  })

  it('exposes every gateway metric, every series present from the start, in a format Prometheus parses', async () => {
    const samples = await scrape()
    for (const event of AUTH_EVENTS) expect(samples.has(`edgeward_auth_events_total{event="${event}"}`)).toBe(true)
    for (const policy of RATE_LIMIT_POLICIES) {
      for (const decision of RATE_LIMIT_DECISIONS) {
        expect(samples.has(`edgeward_rate_limit_decisions_total{policy="${policy}",decision="${decision}"}`)).toBe(true)
      }
    }
    for (const cls of ['1xx', '2xx', '3xx', '4xx', '5xx']) {
      expect(samples.has(`edgeward_requests_total{status_class="${cls}"}`)).toBe(true)
    }
    expect(samples.has('edgeward_degraded_mode')).toBe(true)
    for (const op of ['admission', 'revocation_check', 'health_ping']) {
      for (const le of [...UPSTASH_BUCKETS_MS.map(String), '+Inf']) {
        expect(samples.has(`edgeward_upstash_request_duration_ms_bucket{op="${op}",le="${le}"}`)).toBe(true)
      }
    }
    const started = value(samples, 'edgeward_isolate_start_timestamp_seconds')
    expect(started).toBeGreaterThan(1_700_000_000)
    expect(started).toBeLessThanOrEqual(Date.now() / 1000)
  })

  it('asks for the token when there is none: 401 unauthenticated with the bare challenge, logged', async () => {
    const res = await send('/metrics')
    await expectProblem(res, 401, 'unauthenticated')
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeward"')
    expect(logs.events('authn_token_invalid')).toMatchObject([
      { level: 'warn', reason: 'token_missing', resource: 'metrics', outcome: 'denied', request_uri: '/metrics' },
    ])
  })

  it.each([
    ['a wrong token of the same length', `Bearer ${METRICS_TOKEN.slice(0, -1)}X`],
    ['a prefix of the token', `Bearer ${METRICS_TOKEN.slice(0, 10)}`],
    ['the token with a suffix', `Bearer ${METRICS_TOKEN}x`],
    ['the token in another case', `Bearer ${METRICS_TOKEN.toUpperCase()}`],
    ['the token as a Basic credential', `Basic ${METRICS_TOKEN}`],
    ['the token without a scheme', METRICS_TOKEN],
    ['an empty Bearer', 'Bearer '],
    ['two tokens', `Bearer ${METRICS_TOKEN}, Bearer ${METRICS_TOKEN}`],
  ])(
    'refuses %s: 401 invalid_token with the RFC 6750 challenge, logged without the value',
    async (_, authorization) => {
      const res = await send('/metrics', { headers: { authorization } })
      const text = await res.clone().text()
      await expectProblem(res, 401, 'invalid_token')
      expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeward", error="invalid_token"')
      expect(logs.events('authn_token_invalid')).toMatchObject([{ level: 'warn', resource: 'metrics' }])
      const presented = authorization.replace(/^\S+ /, '')
      for (const secret of [METRICS_TOKEN, presented.slice(0, 10)]) {
        if (secret.length >= 8) {
          expect(text).not.toContain(secret)
          expect(logs.lines.join('\n')).not.toContain(secret)
        }
      }
      expect(text).not.toContain('edgeward_')
    },
  )

  it('logs the refusals of one network once a minute, each one still answered and counted', async () => {
    const network = freshNetwork().replace(/\.7$/, '')
    const events = recordingDataset()
    const withEvents = { ...bindings, EVENTS: events }
    for (let i = 0; i < 5; i++) {
      // Five addresses of one /24: one host's many addresses are one client here.
      const headers = { authorization: 'Bearer wrong-token-guess', 'cf-connecting-ip': `${network}.${10 + i}` }
      await expectProblem(await send('/metrics', { headers }, withEvents), 401, 'invalid_token')
    }
    expect(logs.events('authn_token_invalid')).toMatchObject([{ reason: 'token_mismatch', suppressed: 0 }])
    expect(events.events('authn_token_invalid')).toHaveLength(5)
    // Another address is logged at once, with the count of those left unlogged.
    await send('/metrics', { headers: { authorization: 'Bearer wrong-token-guess' } })
    expect(logs.events('authn_token_invalid')).toMatchObject([{ suppressed: 0 }, { suppressed: 4 }])
  })

  it('never accepts the token from the query string', async () => {
    const res = await send(`/metrics?token=${METRICS_TOKEN}&access_token=${METRICS_TOKEN}`)
    await expectProblem(res, 401, 'unauthenticated')
    expect(logs.lines.join('\n')).not.toContain(METRICS_TOKEN)
  })

  it('compares SHA-256 digests of the two tokens in constant time (crypto.subtle.timingSafeEqual)', async () => {
    const compare = vi.spyOn(crypto.subtle, 'timingSafeEqual')
    for (const token of [`${METRICS_TOKEN}x`, 'short', METRICS_TOKEN]) {
      await send('/metrics', { headers: { authorization: `Bearer ${token}` } })
    }
    expect(compare).toHaveBeenCalledTimes(3)
    expect(compare.mock.results.map((r) => r.value)).toEqual([false, false, true])
    for (const [a, b] of compare.mock.calls) {
      // Fixed-length inputs: the comparison cannot stop early on a length difference.
      expect([(a as ArrayBuffer).byteLength, (b as ArrayBuffer).byteLength]).toEqual([32, 32])
    }
  })
})

describe('gateway metrics move with traffic', () => {
  it('counts authenticated, invalid and logout events and times the admission call', async () => {
    const before = await scrape()
    const { token } = await mintTestToken()
    expect((await send('/auth/me', { headers: authHeader(token) })).status).toBe(200)
    expect((await send('/auth/me', { headers: authHeader(`${token.slice(0, -4)}AAAA`) })).status).toBe(401)
    expect((await send('/auth/me')).status).toBe(401)
    expect((await send('/auth/logout', { method: 'POST', headers: authHeader(token) })).status).toBe(204)
    expect((await send('/auth/me', { headers: authHeader(token) })).status).toBe(401)
    const after = await scrape()
    const delta = (series: string) => value(after, series) - value(before, series)
    expect(delta('edgeward_auth_events_total{event="authenticated"}')).toBe(2)
    expect(delta('edgeward_auth_events_total{event="invalid"}')).toBe(2)
    expect(delta('edgeward_auth_events_total{event="logout"}')).toBe(1)
    expect(delta('edgeward_auth_events_total{event="revoked"}')).toBe(1)
    // Each valid token's revocation is decided with the rate limits, in the one admission call of its request.
    expect(delta('edgeward_upstash_request_duration_ms_count{op="admission"}')).toBe(3)
    expect(delta('edgeward_upstash_request_duration_ms_bucket{op="admission",le="+Inf"}')).toBe(3)
    expect(delta('edgeward_upstash_request_duration_ms_sum{op="admission"}')).toBeGreaterThanOrEqual(0)
  })

  it('observes the Upstash PING of /health in the histogram', async () => {
    const before = await scrape()
    // An app of its own: the worker's readiness result may still be cached from another file's /health.
    expect((await testApp().fetch(new Request('https://gw.test/health'))).status).toBe(200)
    const after = await scrape()
    const series = 'edgeward_upstash_request_duration_ms_count{op="health_ping"}'
    expect(value(after, series) - value(before, series)).toBe(1)
  })

  it('exposes rate-limit decisions and the degraded-mode gauge set by their callers', async () => {
    const series = 'edgeward_rate_limit_decisions_total{policy="auth",decision="limited"}'
    const before = await scrape()
    countRateLimitDecision('auth', 'limited')
    setDegradedMode(true)
    const degraded = await scrape()
    expect(value(degraded, series) - value(before, series)).toBe(1)
    expect(value(degraded, 'edgeward_degraded_mode')).toBe(1)
    setDegradedMode(false)
    expect(value(await scrape(), 'edgeward_degraded_mode')).toBe(0)
  })
})

describe('countRequests()', () => {
  /** A small app with the stage in front, answering 200, a problem (404, 401) or an unexpected 500. */
  function countedApp() {
    const counted = new Hono<AppEnv>()
    counted.use(pipeline([countRequests()], toProblemResponse))
    counted.get('/ok', (c) => c.text('ok'))
    counted.get('/denied', () => {
      throw new GatewayError('unauthenticated')
    })
    counted.get('/boom', () => {
      throw new Error('boom')
    })
    counted.notFound((c) => toProblemResponse(new GatewayError('not_found'), c))
    counted.onError(toProblemResponse)
    return counted
  }

  it('counts every response by status class, thrown errors included', async () => {
    const counted = countedApp()
    const before = await scrape()
    for (const path of ['/ok', '/ok', '/denied', '/nope', '/boom']) await counted.request(path)
    const after = await scrape()
    const delta = (cls: string) =>
      value(after, `edgeward_requests_total{status_class="${cls}"}`) -
      value(before, `edgeward_requests_total{status_class="${cls}"}`)
    // The first scrape goes through testApp(), where countRequests() is mounted: one more 2xx.
    expect([delta('2xx'), delta('4xx'), delta('5xx')]).toEqual([3, 2, 1])
  })
})

import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import type { ErrorCode } from '../../errors/gateway-error'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader, mintTestToken } from '../../test-support/tokens'
import {
  CORS_ALLOW_HEADERS,
  CORS_ALLOW_METHODS,
  CORS_EXPOSE_HEADERS,
  createRejectedOriginThrottle,
  LOGGED_HEADER_MAX_CHARS,
  REJECTED_ORIGIN_LOG_INTERVAL_MS,
} from '.'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => {
  logs?.restore()
  logs = undefined
  vi.useRealTimers()
})

/** Each test gets its own origins, so the once-a-minute log throttle (per isolate) never links two tests. */
const uniqueOrigin = () => `https://app-${crypto.randomUUID().slice(0, 8)}.example.com`

type Settings = { origins: string[]; credentials?: boolean; maxAge?: string }

/** One bindings object (so one parsed config) per variant, and one app. */
function gateway({ origins, credentials = false, maxAge }: Settings, extra: Record<string, unknown> = {}) {
  const bindings = {
    ...env,
    CORS_ORIGINS: origins.join(','),
    CORS_ALLOW_CREDENTIALS: String(credentials),
    ...(maxAge === undefined ? {} : { CORS_MAX_AGE_SECONDS: maxAge }),
    ...extra,
  } as Env
  const app = testApp()
  const fetch = (path: string, init: RequestInit = {}) =>
    app.fetch(new Request(`https://gw.test${path}`, init), bindings, ctx)
  return { app, bindings, fetch }
}

const preflight = (origin: string, method = 'GET', requestHeaders = 'authorization') => ({
  method: 'OPTIONS',
  headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': requestHeaders },
})

/** `Vary` lists `Origin` (as its own token, any case). */
const variesOnOrigin = (res: Response) =>
  (res.headers.get('vary') ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .includes('origin')

const corsHeaders = (res: Response) => [...res.headers].filter(([name]) => name.startsWith('access-control-'))

/** Moves the (faked) clock forward by `ms` from a point later than anything logged before in this isolate. */
let fakeNow = Date.now() + 24 * 3_600_000
function advanceClock(ms = 2 * REJECTED_ORIGIN_LOG_INTERVAL_MS) {
  vi.useFakeTimers({ toFake: ['Date'] })
  fakeNow += ms
  vi.setSystemTime(fakeNow)
}

describe('cors: allowed origins (R-CORS-1, R-CORS-2, R-CORS-4, R-CORS-7)', () => {
  it.each([false, true])(
    'answers an allowed origin with its exact ACAO and Vary: Origin (credentials %s)',
    async (credentials) => {
      const origin = uniqueOrigin()
      const { fetch } = gateway({ origins: ['https://other.example.net', origin], credentials })
      const res = await fetch('/health', { headers: { origin } })
      expect(res.status).toBe(200)
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(variesOnOrigin(res)).toBe(true)
      // Lower-case `true`, and only when configured; never next to `*` (there is no `*` at all).
      expect(res.headers.get('access-control-allow-credentials')).toBe(credentials ? 'true' : null)
      expect(res.headers.get('access-control-expose-headers')).toBe(CORS_EXPOSE_HEADERS.join(','))
      expect(CORS_EXPOSE_HEADERS).toEqual([
        'RateLimit',
        'RateLimit-Policy',
        'X-RateLimit-Limit',
        'X-RateLimit-Remaining',
        'Retry-After',
        'X-Request-Id',
      ])
      // Preflight-only headers stay off actual responses.
      expect(corsHeaders(res).map(([name]) => name)).toEqual([
        ...(credentials ? ['access-control-allow-credentials'] : []),
        'access-control-allow-origin',
        'access-control-expose-headers',
      ])
    },
  )

  const errors: [string, number, ErrorCode, string, RequestInit][] = [
    ['a 401 (/auth/me without a token)', 401, 'unauthenticated', '/auth/me', {}],
    ['a 404', 404, 'not_found', '/auth/no-such-route', {}],
    ['a 405 (POST /health)', 405, 'method_not_allowed', '/health', { method: 'POST' }],
    [
      'a 413 (9 KiB to /auth/logout; the auth limit is 8 KiB)',
      413,
      'payload_too_large',
      '/auth/logout',
      {
        method: 'POST',
        body: 'x'.repeat(9 * 1024),
      },
    ],
  ]
  it.each(errors)('keeps ACAO, ACAC and Vary: Origin on %s (R-CORS-8)', async (_, status, code, path, init) => {
    logs = captureLogs()
    const origin = uniqueOrigin()
    const { fetch } = gateway({ origins: [origin], credentials: true })
    const res = await fetch(path, { ...init, headers: { origin } })
    expect(res.headers.get('access-control-allow-origin')).toBe(origin)
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    expect(res.headers.get('access-control-expose-headers')).toBe(CORS_EXPOSE_HEADERS.join(','))
    expect(variesOnOrigin(res)).toBe(true)
    await expectProblem(res, status, code)
  })

  it('keeps ACAO and Vary: Origin on a 429, and exposes Retry-After and the RateLimit headers (R-CORS-4, R-CORS-7, R-CORS-8)', async () => {
    logs = captureLogs()
    const origin = uniqueOrigin()
    const { fetch } = gateway({ origins: [origin] }, { RATE_LIMIT_GLOBAL: '1/17m' })
    const ip = `10.${crypto.getRandomValues(new Uint8Array(3)).join('.')}`
    await fetch('/no-such-route', { headers: { origin, 'cf-connecting-ip': ip } })
    const res = await fetch('/no-such-route', { headers: { origin, 'cf-connecting-ip': ip } })
    await expectProblem(res, 429, 'rate_limited')
    expect(res.headers.get('access-control-allow-origin')).toBe(origin)
    expect(variesOnOrigin(res)).toBe(true)
    const exposed = (res.headers.get('access-control-expose-headers') ?? '').split(',')
    for (const name of ['Retry-After', 'RateLimit', 'RateLimit-Policy', 'X-RateLimit-Remaining'])
      expect(exposed).toContain(name)
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/)
  })

  it('keeps ACAO and Vary: Origin on a 500 from a failing handler', async () => {
    logs = captureLogs()
    const origin = uniqueOrigin()
    const { app, fetch } = gateway({ origins: [origin] })
    app.extend((app) =>
      app.get('/boom', () => {
        throw new Error('boom')
      }),
    )
    const res = await fetch('/boom', { headers: { origin } })
    expect(res.headers.get('access-control-allow-origin')).toBe(origin)
    expect(variesOnOrigin(res)).toBe(true)
    await expectProblem(res, 500, 'internal_error')
  })

  it('keeps ACAO, Retry-After and Vary: Origin on a 503 (revocation check unavailable)', async () => {
    logs = captureLogs()
    const origin = uniqueOrigin()
    const lane = `lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const { fetch } = gateway(
      { origins: [origin] },
      { UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}` },
    )
    const { token } = await mintTestToken()
    await control.setFault('error500', 10_000, lane)
    try {
      const res = await fetch('/auth/me', { headers: { origin, ...authHeader(token) } })
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(variesOnOrigin(res)).toBe(true)
      expect(res.headers.get('retry-after')).not.toBeNull()
      await expectProblem(res, 503, 'revocation_unavailable')
    } finally {
      await control.setFault('none', undefined, lane)
    }
  })

  it('leaves a request without Origin alone: no CORS headers, Vary: Origin, nothing logged', async () => {
    logs = captureLogs()
    const { fetch } = gateway({ origins: [uniqueOrigin()], credentials: true })
    const res = await fetch('/no-such-route')
    expect(corsHeaders(res)).toEqual([])
    expect(variesOnOrigin(res)).toBe(true)
    expect(logs.events('malicious_cors')).toEqual([])
  })

  it('owns the CORS headers: what a later stage or an upstream adds is replaced or removed', async () => {
    logs = captureLogs()
    const origin = uniqueOrigin()
    const { app, fetch } = gateway({ origins: [origin] })
    app.extend((app) =>
      app.get('/leaky', () =>
        Promise.resolve(
          new Response('{}', {
            headers: {
              'access-control-allow-origin': '*',
              'access-control-allow-credentials': 'true',
              'access-control-allow-headers': 'X-Evil',
              vary: 'Accept-Encoding',
            },
          }),
        ),
      ),
    )
    const allowed = await fetch('/leaky', { headers: { origin } })
    expect(corsHeaders(allowed)).toEqual([
      ['access-control-allow-origin', origin],
      ['access-control-expose-headers', CORS_EXPOSE_HEADERS.join(',')],
    ])
    expect(allowed.headers.get('vary')).toBe('Accept-Encoding, Origin')
    for (const headers of [{}, { origin: 'https://evil.test' }] as Record<string, string>[]) {
      const res = await fetch('/leaky', { headers })
      expect(corsHeaders(res)).toEqual([])
      expect(variesOnOrigin(res)).toBe(true)
    }
  })
})

describe('cors: preflight (R-CORS-5, R-CORS-6)', () => {
  it('answers an allowed preflight with 204 before authentication: no token needed, explicit lists', async () => {
    const origin = uniqueOrigin()
    const { fetch } = gateway({ origins: [origin], credentials: true })
    for (const [path, method] of [
      ['/auth/me', 'GET'],
      ['/auth/logout', 'POST'],
    ] as const) {
      const res = await fetch(path, preflight(origin, method, 'authorization,content-type'))
      expect(res.status).toBe(204)
      expect(await res.text()).toBe('')
      expect(res.headers.get('access-control-allow-origin')).toBe(origin)
      expect(res.headers.get('access-control-allow-credentials')).toBe('true')
      expect(res.headers.get('access-control-allow-methods')).toBe('GET,HEAD,POST,PUT,PATCH,DELETE')
      expect(res.headers.get('access-control-allow-headers')).toBe(
        'Authorization,Content-Type,Idempotency-Key,X-Request-Id',
      )
      expect(CORS_ALLOW_METHODS.join(',')).toBe(res.headers.get('access-control-allow-methods'))
      expect(CORS_ALLOW_HEADERS.join(',')).toBe(res.headers.get('access-control-allow-headers'))
      expect(res.headers.get('www-authenticate')).toBeNull()
      expect(variesOnOrigin(res)).toBe(true)
      expect(res.headers.get('x-request-id')).not.toBeNull()
    }
  })

  it('never reflects the requested headers: a credentialed preflight asking for X-Evil does not get it', async () => {
    const origin = uniqueOrigin()
    const { fetch } = gateway({ origins: [origin], credentials: true })
    const res = await fetch('/auth/me', preflight(origin, 'GET', 'authorization, x-evil'))
    expect(res.status).toBe(204)
    expect(res.headers.get('access-control-allow-headers')?.toLowerCase().split(',')).not.toContain('x-evil')
    for (const [, value] of res.headers) expect(value.toLowerCase()).not.toContain('x-evil')
  })

  it.each([
    [undefined, '600'],
    ['0', '0'],
    ['120', '120'],
    ['7200', '7200'],
  ])(
    'sends Access-Control-Max-Age from config (CORS_MAX_AGE_SECONDS=%s → %s, at most 7200)',
    async (maxAge, expected) => {
      const origin = uniqueOrigin()
      const { fetch } = gateway({ origins: [origin], ...(maxAge === undefined ? {} : { maxAge }) })
      const res = await fetch('/auth/me', preflight(origin))
      expect(res.headers.get('access-control-max-age')).toBe(expected)
      expect(Number(res.headers.get('access-control-max-age'))).toBeLessThanOrEqual(7200)
    },
  )

  it('routes a plain OPTIONS (no Access-Control-Request-Method) like any other method', async () => {
    const origin = uniqueOrigin()
    const { fetch } = gateway({ origins: [origin] })
    const res = await fetch('/health', { method: 'OPTIONS', headers: { origin } })
    expect(res.headers.get('access-control-allow-origin')).toBe(origin)
    expect(res.headers.get('access-control-allow-methods')).toBeNull()
    expect(variesOnOrigin(res)).toBe(true)
    await expectProblem(res, 405, 'method_not_allowed')
  })
})

describe('cors: rejected origins (R-CORS-1, R-CORS-3, R-CORS-4, R-CORS-10)', () => {
  const attacks: [string, (allowed: string) => string][] = [
    ['Origin: null (sandboxed iframe, data:, file:)', () => 'null'],
    ['the allowed host as a prefix of an attacker domain', (o) => `${o}.evil.test`],
    ['http:// instead of https://', (o) => o.replace('https://', 'http://')],
    ['a trailing slash', (o) => `${o}/`],
    ['an upper-case host', (o) => o.replace('app-', 'APP-')],
    ['an upper-case scheme', (o) => o.replace('https', 'HTTPS')],
    ['a prefix (substring) of the allowed origin', (o) => o.slice(0, -1)],
    ['the allowed origin with a path', (o) => `${o}/app`],
    ['the default port spelled out', (o) => `${o}:443`],
    ['another port', (o) => `${o}:8443`],
    ['a sibling subdomain', (o) => o.replace('https://', 'https://evil.')],
    ['an unrelated origin', () => 'https://evil.test'],
    ['a wildcard', () => '*'],
  ]

  it.each(attacks)('%s: no ACAO/ACAC, nothing reflected, Vary: Origin, logged once a minute', async (_, attack) => {
    advanceClock()
    logs = captureLogs()
    const allowed = uniqueOrigin()
    const origin = attack(allowed)
    const { fetch } = gateway({ origins: [allowed], credentials: true })
    const referer = 'https://evil.test/page?session=abc#frag'
    const requests: RequestInit[] = [
      { headers: { origin, referer, 'user-agent': 'attack-ua', 'cf-connecting-ip': '203.0.113.9' } },
      { headers: { origin, cookie: '__Host-rt=secret' } },
      preflight(origin, 'POST', 'authorization, content-type, x-evil'),
    ]
    for (const init of requests) {
      const res = await fetch('/auth/me', init)
      expect(corsHeaders(res)).toEqual([])
      expect(variesOnOrigin(res)).toBe(true)
      for (const [name, value] of res.headers) {
        if (name !== 'vary') expect(value).not.toContain(origin)
      }
      if (init.method === 'OPTIONS') {
        // Answered here, without CORS headers: not routed, not authenticated, never forwarded.
        expect(res.status).toBe(204)
        expect(await res.text()).toBe('')
      } else {
        await expectProblem(res, 401, 'unauthenticated')
      }
    }
    const records = logs.events('malicious_cors')
    expect(records).toHaveLength(1)
    expect(records[0]).toMatchObject({
      level: 'warn',
      outcome: 'denied',
      origin,
      referer: 'https://evil.test/page',
      useragent: 'attack-ua',
      source_ip: '203.0.113.9',
      request_method: 'GET',
      request_uri: '/auth/me',
      request_id: expect.stringMatching(/^[A-Za-z0-9-]{8,64}$/),
    })
    expect(logs.lines.join('\n')).not.toContain('secret')

    // A minute later the same origin is logged again, with the count of the rejections left out meanwhile.
    advanceClock(REJECTED_ORIGIN_LOG_INTERVAL_MS)
    await fetch('/auth/me', { headers: { origin } })
    expect(logs.events('malicious_cors').map((r) => r.suppressed)).toEqual([expect.any(Number), 2])
  })

  it('logs an attacker-controlled Origin truncated and as one JSON record', async () => {
    logs = captureLogs()
    const origin = `https://evil.test/"},"level":"info","x":"${'a'.repeat(2 * LOGGED_HEADER_MAX_CHARS)}`
    const { fetch } = gateway({ origins: [uniqueOrigin()] })
    await fetch('/no-such-route', { headers: { origin, referer: 'not a url ?token=abc' } })
    const [record] = logs.events('malicious_cors')
    expect(record?.level).toBe('warn')
    expect(record?.origin).toBe(`${origin.slice(0, LOGGED_HEADER_MAX_CHARS)}…`)
    expect(record?.referer).toBe('not a url ')
    expect(logs.lines).toHaveLength(logs.records().length)
  })
})

describe('createRejectedOriginThrottle', () => {
  it('logs an origin at most once per interval and says how many rejections went unlogged', () => {
    const throttle = createRejectedOriginThrottle({ intervalMs: 1_000, maxOrigins: 10 })
    expect(throttle.admit('https://a.test', 0)).toEqual({ suppressed: 0 })
    expect(throttle.admit('https://a.test', 500)).toBeUndefined()
    expect(throttle.admit('https://a.test', 999)).toBeUndefined()
    expect(throttle.admit('https://b.test', 999)).toEqual({ suppressed: 2 })
    expect(throttle.admit('https://a.test', 1_000)).toEqual({ suppressed: 0 })
    // A clock that went back (it should not) never silences an origin for longer than the interval.
    expect(throttle.admit('https://a.test', 400)).toEqual({ suppressed: 0 })
  })

  it('stays bounded: when every remembered origin is fresh, new ones are counted, not logged', () => {
    const throttle = createRejectedOriginThrottle({ intervalMs: 1_000, maxOrigins: 3 })
    for (const o of ['a', 'b', 'c']) expect(throttle.admit(o, 0)).toBeDefined()
    expect(throttle.admit('d', 10)).toBeUndefined()
    expect(throttle.admit('e', 10)).toBeUndefined()
    expect(throttle.size).toBe(3)
    // Once entries expire they make room.
    expect(throttle.admit('d', 1_000)).toEqual({ suppressed: 2 })
    expect(throttle.size).toBeLessThanOrEqual(3)
    for (let i = 0; i < 1_000; i++) throttle.admit(`flood-${i}`, 2_000 + i)
    expect(throttle.size).toBe(3)
  })

  it('keys on the truncated origin, so long random tails cannot grow memory past the bound', () => {
    const throttle = createRejectedOriginThrottle({ intervalMs: 1_000, maxOrigins: 5 })
    const prefix = 'x'.repeat(LOGGED_HEADER_MAX_CHARS)
    expect(throttle.admit(`${prefix}1`, 0)).toBeDefined()
    expect(throttle.admit(`${prefix}2`, 0)).toBeUndefined()
  })
})

describe('CORS for browser sessions in the cookie', () => {
  it("with CORS_ALLOW_CREDENTIALS=true, a credentialed refresh's preflight and answer allow the exact origin", async () => {
    const origin = uniqueOrigin()
    const { fetch } = gateway({ origins: [origin], credentials: true })
    const pre = await fetch('/auth/refresh', preflight(origin, 'POST', 'content-type'))
    expect(pre.status).toBe(204)
    expect(pre.headers.get('access-control-allow-origin')).toBe(origin)
    expect(pre.headers.get('access-control-allow-credentials')).toBe('true')
    expect(pre.headers.get('access-control-allow-headers')).toContain('Content-Type')
    // The refresh itself: no cookie here, so the usual 401, readable by the page (ACAO + ACAC).
    const res = await fetch('/auth/refresh', {
      method: 'POST',
      headers: { origin, 'content-type': 'application/json' },
    })
    expect(res.headers.get('access-control-allow-origin')).toBe(origin)
    expect(res.headers.get('access-control-allow-credentials')).toBe('true')
    await expectProblem(res, 401, 'invalid_refresh_token')
  })

  it('never pairs credentials with a wildcard: CORS_ORIGINS=* is refused at start-up', async () => {
    logs = captureLogs()
    const { fetch } = gateway({ origins: ['*'], credentials: true })
    await expectProblem(
      await fetch('/health/live', { headers: { origin: 'https://evil.example' } }),
      500,
      'internal_error',
    )
    expect(logs.lines.join('\n')).toContain('wildcard')
  })
})

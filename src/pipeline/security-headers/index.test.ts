import { env, exports } from 'cloudflare:workers'
import { Hono } from 'hono'
import { secureHeaders } from 'hono/secure-headers'
import { describe, expect, it } from 'vitest'
import { SECURE_HEADERS_OPTIONS, SECURITY_HEADERS } from '../../lib/security-headers'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'

const EXPECTED = {
  'strict-transport-security': 'max-age=31536000; includeSubDomains',
  'x-frame-options': 'DENY',
  'content-security-policy': "default-src 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'cross-origin-resource-policy': 'same-origin',
  'x-xss-protection': '0',
}

function expectSecurityHeaders(res: Response) {
  for (const [name, value] of Object.entries(EXPECTED)) expect(res.headers.get(name), name).toBe(value)
  expect(res.headers.get('x-powered-by')).toBeNull()
  expect(res.headers.get('server')).toBeNull()
  const maxAge = Number(/max-age=(\d+)/.exec(res.headers.get('strict-transport-security') ?? '')?.[1])
  expect(maxAge).toBeGreaterThanOrEqual(31_536_000)
}

describe('security headers (R-HDR-1, R-HDR-3, R-HDR-4, R-HDR-5)', () => {
  it.each([
    ['a 200', '/health', 'GET'],
    ['a 404 problem', '/nope', 'GET'],
    ['a 405 problem', '/health', 'DELETE'],
    ['a 401 problem', '/auth/me', 'GET'],
  ])('are on %s', async (_, path, method) => {
    expectSecurityHeaders(await exports.default.fetch(`https://gw.test${path}`, { method }))
  })

  it('are on the 500 of an invalid configuration too', async () => {
    const broken = { ...env, ENVIRONMENT: 'production' }
    const res = await testApp().fetch(new Request('https://gw.test/health'), broken, ctx)
    expect(res.status).toBe(500)
    expectSecurityHeaders(res)
  })

  it('are on an unknown error', async () => {
    const app = testApp({
      extend: (app) => {
        app.get('/boom', () => {
          throw new Error('boom')
        })
      },
    })
    const res = await app.fetch(new Request('https://gw.test/boom'), env, ctx)
    expect(res.status).toBe(500)
    expectSecurityHeaders(res)
  })
})

describe('the security header set', () => {
  it("is exactly what hono's secureHeaders sets with the gateway's options", async () => {
    const app = new Hono()
    app.use(secureHeaders(SECURE_HEADERS_OPTIONS))
    app.get('/', () => new Response(null, { headers: { 'x-powered-by': 'php' } }))
    const res = await app.request('/')
    expect(Object.fromEntries(res.headers)).toEqual(Object.fromEntries(SECURITY_HEADERS))
    expect(SECURITY_HEADERS.every(([name]) => name === name.toLowerCase())).toBe(true)
  })

  it("replaces a route's own values and removes X-Powered-By", async () => {
    const app = testApp({
      extend: (app) => {
        app.get(
          '/weak',
          () => new Response('ok', { headers: { 'x-frame-options': 'ALLOWALL', 'x-powered-by': 'php' } }),
        )
      },
    })
    const res = await app.fetch(new Request('https://gw.test/weak'), env, ctx)
    expectSecurityHeaders(res)
    expect(res.headers.get('x-frame-options')).toBe('DENY')
  })
})

describe('Cache-Control on token-bearing paths (R-HDR-2)', () => {
  it('is no-store on every /auth/* response, success or error', async () => {
    const app = testApp({
      extend: (app) => {
        app.get('/auth/plain-test', (c) => c.text('ok'))
      },
    })
    for (const path of ['/auth/plain-test', '/auth/me', '/auth/unknown']) {
      const res = await app.fetch(new Request(`https://gw.test${path}`), env, ctx)
      expect(res.headers.get('cache-control'), path).toBe('no-store')
    }
  })
})

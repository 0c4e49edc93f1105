/**
 * The proxy end to end: testApp() in workerd → the real echo upstream (scripts/echo-upstream.ts) over HTTP, with
 * real Redis behind the revocation check. The echo's request log is the origin's view: what it received, and
 * whether it was reached at all.
 */
import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../test/conformance/upstash-cases'
import { CORS_EXPOSE_HEADERS } from '../pipeline/cors'
import { compileRoutes } from '../routing/table'
import { testApp } from '../test-support/app'
import { testExecutionContext as ctx } from '../test-support/context'
import { countingD1 } from '../test-support/d1'
import { received, THIRD_PARTY_URL } from '../test-support/echo'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'
import { authHeader, mintTestToken } from '../test-support/tokens'
import { verifyGatewayRequest } from '../upstream/verify-origin'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const unique = (prefix: string) => `${prefix}/${crypto.randomUUID()}`

function gw(path: string, init: RequestInit = {}) {
  return exports.default.fetch(`https://gw.test${path}`, init)
}

async function tokenWith(scopes: string[] = [], sub = `user-${crypto.randomUUID()}`) {
  const minted = await mintTestToken({ sub, scopes, sid: `sid-${crypto.randomUUID()}` })
  return { ...minted, sub }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes)
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

describe('proxy: forwarding with a signed identity', () => {
  it('forwards method, path, query and body, with identity headers whose signature the origin verifies', async () => {
    const { token, sub } = await tokenWith(['items:read', 'a'])
    const path = unique('/api/things')
    const res = await gw(`${path}?page=2&sort=name`, {
      method: 'PATCH',
      headers: {
        ...authHeader(token),
        'content-type': 'application/json',
        'cf-connecting-ip': '203.0.113.9',
        'x-request-id': 'req-proxy-000001',
      },
      body: '{"name":"x"}',
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('x-request-id')).toBe('req-proxy-000001')
    const [seen] = await received(path)
    expect(seen).toMatchObject({ method: 'PATCH', path: `${path}?page=2&sort=name`, body: '{"name":"x"}' })
    const headers = seen?.headers ?? {}
    expect(headers['x-gateway-user']).toBe(sub)
    expect(headers['x-gateway-scopes']).toBe('a items%3Aread')
    expect(headers['x-request-id']).toBe('req-proxy-000001')
    expect(headers['x-forwarded-for']).toBe('203.0.113.9')
    expect(headers['x-forwarded-proto']).toBe('https')
    expect(headers['x-forwarded-host']).toBe('gw.test')
    expect(headers.authorization).toBeUndefined()
    expect(JSON.stringify(seen)).not.toContain(token)

    const verified = await verifyGatewayRequest(
      { method: seen?.method ?? '', url: seen?.path ?? '', headers },
      { secrets: [env.UPSTREAM_SIGNING_SECRET] },
    )
    expect(verified).toMatchObject({
      ok: true,
      user: sub,
      scopes: ['a', 'items:read'],
      session: expect.stringMatching(/^sid-/),
      requestId: 'req-proxy-000001',
    })
    // The same headers do not verify for another path, another method, or with another secret.
    for (const [request, secret] of [
      [{ method: 'PATCH', url: `${path}?page=3&sort=name`, headers }, env.UPSTREAM_SIGNING_SECRET],
      [{ method: 'DELETE', url: seen?.path ?? '', headers }, env.UPSTREAM_SIGNING_SECRET],
      [{ method: 'PATCH', url: seen?.path ?? '', headers }, 'another-secret-of-at-least-32-bytes-123456'],
    ] as const) {
      expect((await verifyGatewayRequest(request, { secrets: [secret] })).ok).toBe(false)
    }
  })

  it('never lets client-supplied X-Gateway-* or forwarding headers reach the origin', async () => {
    const { token, sub } = await tokenWith()
    const path = unique('/api/spoof')
    const spoofed = {
      'X-Gateway-User': 'admin',
      'x-gateway-scopes': 'admin',
      'X-Gateway-Session': 'forged',
      'x-gateway-signature': 'v1=forged',
      'x-gateway-timestamp': '1',
      'x-gateway-extra': 'anything',
      'x-forwarded-for': '10.0.0.1',
      'x-forwarded-host': 'evil.example',
      forwarded: 'for=10.0.0.1',
      'x-real-ip': '10.0.0.1',
      'x-http-method-override': 'DELETE',
      connection: 'x-keep-me',
      'x-keep-me': 'hop',
    }
    expect(
      (await gw(path, { headers: { ...authHeader(token), ...spoofed, 'cf-connecting-ip': '198.51.100.7' } })).status,
    ).toBe(200)
    // A public route is signed too: the origin can tell "anonymous, through the gateway" from a forgery.
    const publicPath = unique('/api/public/spoof')
    expect((await gw(publicPath, { headers: spoofed })).status).toBe(200)

    const [authed] = await received(path)
    const [anonymous] = await received(publicPath)
    expect(authed?.headers['x-gateway-user']).toBe(sub)
    expect(authed?.headers['x-gateway-scopes']).toBeUndefined()
    expect(authed?.headers['x-forwarded-for']).toBe('198.51.100.7')
    expect(anonymous?.headers['x-gateway-user']).toBeUndefined()
    expect(anonymous?.headers['x-gateway-session']).toBeUndefined()
    for (const seen of [authed, anonymous]) {
      const names = (seen?.rawHeaders ?? []).map(([name]) => name.toLowerCase())
      expect(names.filter((n) => n === 'x-gateway-user')).toHaveLength(seen === authed ? 1 : 0)
      expect(names).not.toContain('x-gateway-extra')
      expect(names).not.toContain('forwarded')
      expect(names).not.toContain('x-real-ip')
      expect(names).not.toContain('x-http-method-override')
      expect(names).not.toContain('x-keep-me')
      expect(seen?.headers['x-forwarded-host']).toBe('gw.test')
      expect(seen?.headers['x-gateway-signature']).not.toBe('v1=forged')
      const verified = await verifyGatewayRequest(
        { method: 'GET', url: seen?.path ?? '', headers: seen?.headers ?? {} },
        { secrets: [env.UPSTREAM_SIGNING_SECRET] },
      )
      expect(verified.ok).toBe(true)
    }
  })

  it('sends the origin only allow-listed headers: no spelling of an identity or forwarding header gets through', async () => {
    const { token, sub } = await tokenWith()
    const smuggled = {
      X_Gateway_User: 'admin',
      X_Gateway_Scopes: 'admin',
      X_Forwarded_For: '10.0.0.1',
      X_Forwarded_Host: 'internal.example',
      'Client-IP': '10.0.0.2',
      'X-Cluster-Client-IP': '10.0.0.3',
      'X-Original-Host': 'internal.example',
      'X-Host': 'internal.example',
      'X-Client-IP': '10.0.0.4',
      'X-Api-Key': 'sk_live_client_secret',
      'X-Custom': 'anything',
    }
    const allowed = {
      accept: 'application/json',
      'accept-language': 'de',
      'if-none-match': '"v1"',
      'idempotency-key': 'k-123',
      traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01',
      'user-agent': 'edgeward-test/1',
      cookie: 'session=abc',
    }
    const path = unique('/api/allow-list')
    const publicPath = unique('/api/public/allow-list')
    const ip = { 'cf-connecting-ip': '198.51.100.8' }
    expect((await gw(path, { headers: { ...authHeader(token), ...smuggled, ...allowed, ...ip } })).status).toBe(200)
    expect((await gw(publicPath, { headers: { ...smuggled, ...allowed, ...ip } })).status).toBe(200)
    for (const [seen, user] of [
      [(await received(path))[0], sub],
      [(await received(publicPath))[0], undefined],
    ] as const) {
      const names = (seen?.rawHeaders ?? []).map(([name]) => name.toLowerCase())
      for (const name of Object.keys(smuggled)) expect(names).not.toContain(name.toLowerCase())
      expect(names.filter((n) => n.includes('_'))).toEqual([])
      for (const [name, value] of Object.entries(allowed)) expect(seen?.headers[name]).toBe(value)
      expect(seen?.headers['x-gateway-user']).toBe(user)
      expect(seen?.headers['x-forwarded-for']).toBe('198.51.100.8')
      expect(seen?.headers['x-forwarded-host']).toBe('gw.test')
      expect(JSON.stringify(seen)).not.toContain('sk_live_client_secret')
    }
  })

  it("adds a route's forwardHeaders for that route only", async () => {
    const app = testApp({
      routes: compileRoutes([{ pattern: '/api/tenants/*', forwardHeaders: ['X-Tenant-Id'] }]),
    })
    const { token } = await tokenWith()
    const send = (path: string) =>
      app.fetch(
        new Request(`https://gw.test${path}`, {
          headers: { ...authHeader(token), 'x-tenant-id': 't-42', x_tenant_id: 'spoof' },
        }),
        env,
        ctx,
      )
    const tenant = unique('/api/tenants')
    const other = unique('/api/others')
    expect((await send(tenant)).status).toBe(200)
    expect((await send(other)).status).toBe(200)
    expect((await received(tenant))[0]?.headers['x-tenant-id']).toBe('t-42')
    expect((await received(other))[0]?.headers['x-tenant-id']).toBeUndefined()
    expect((await received(tenant))[0]?.headers.x_tenant_id).toBeUndefined()
  })

  it("passes the origin's response through: status, body, every Set-Cookie; strips Server and X-Powered-By", async () => {
    const { token } = await tokenWith()
    const res = await gw(unique('/__echo/set-cookie'), {
      headers: { ...authHeader(token), origin: 'http://localhost:3000' },
    })
    expect(res.status).toBe(200)
    expect(res.headers.getSetCookie().length).toBeGreaterThanOrEqual(2)
    expect(res.headers.get('server')).toBeNull()
    expect(res.headers.get('x-powered-by')).toBeNull()
    // The gateway's own headers apply to proxied responses too.
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=31536000/)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    // The origin's weaker values are replaced, not kept.
    expect(res.headers.get('x-frame-options')).toBe('DENY')
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; frame-ancestors 'none'")
    // CORS is the gateway's alone: the origin's permissive Access-Control-* fields never reach the client.
    const cors = (r: Response) => [...r.headers].filter(([name]) => name.startsWith('access-control-'))
    expect(cors(res)).toEqual([
      ['access-control-allow-origin', 'http://localhost:3000'],
      ['access-control-expose-headers', CORS_EXPOSE_HEADERS.join(',')],
    ])
    for (const origin of [undefined, 'https://evil.test']) {
      const other = await gw(unique('/__echo/set-cookie'), {
        headers: { ...authHeader(token), ...(origin === undefined ? {} : { origin }) },
      })
      expect(other.status).toBe(200)
      expect(cors(other)).toEqual([])
      expect(other.headers.get('vary')).toMatch(/\bOrigin\b/)
    }
  })

  it("keeps the hop's fields, the signed identity and host-wide policies in the origin's answer from the client", async () => {
    const { token } = await tokenWith()
    const path = unique('/__echo/leaky')
    const res = await gw(path, { headers: { ...authHeader(token), 'cf-connecting-ip': '203.0.113.9' } })
    expect(res.status).toBe(200)
    // The origin did send them: the signed identity among them.
    expect((await received(path))[0]?.headers['x-gateway-signature']).toBeDefined()
    const names = [...res.headers.keys()]
    expect(names.filter((name) => name.startsWith('x-gateway-') || name.startsWith('x-forwarded-'))).toEqual([])
    for (const name of ['via', 'forwarded', 'alt-svc', 'nel', 'report-to', 'service-worker-allowed']) {
      expect(res.headers.get(name), name).toBeNull()
    }
    // The origin may clear what is its own, never the gateway's cookie.
    expect(res.headers.get('clear-site-data')).toBe('"cache", "storage"')
    expect(res.headers.get('reporting-endpoints')).toBe('x="https://collector.example/r"')
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=31536000/)
  })

  it("passes the origin's own errors through unchanged (not rewritten as problems)", async () => {
    const { token } = await tokenWith()
    for (const status of [404, 409, 500]) {
      const res = await gw(unique(`/__echo/status/${status}`), { headers: authHeader(token) })
      expect(res.status).toBe(status)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/)
      expect(((await res.json()) as { path: string }).path).toContain(`/__echo/status/${status}`)
    }
  })

  it('streams a large body through intact (8 MiB, chunked, under a raised limit)', async () => {
    const { token } = await tokenWith()
    const path = unique('/api/upload')
    const bytes = crypto.getRandomValues(new Uint8Array(64 * 1024))
    const chunks = 128 // 8 MiB
    const full = new Uint8Array(bytes.byteLength * chunks)
    for (let i = 0; i < chunks; i++) full.set(bytes, i * bytes.byteLength)
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === chunks) return controller.close()
        sent++
        controller.enqueue(bytes)
      },
    })
    const res = await testApp().fetch(
      new Request(`https://gw.test${path}`, {
        method: 'PUT',
        headers: { ...authHeader(token), 'content-type': 'application/octet-stream' },
        body: stream,
        duplex: 'half',
      } as RequestInit),
      { ...env, BODY_LIMIT_BYTES: String(16 * 1024 * 1024) },
      ctx,
    )
    expect(res.status).toBe(200)
    const [seen] = await received(path)
    expect(seen?.bodyBytes).toBe(full.byteLength)
    expect(seen?.bodySha256).toBe(await sha256Hex(full))
  })

  it('refuses a chunked body over the limit with 413, and the origin never gets a request', async () => {
    const { token } = await tokenWith()
    const path = unique('/api/upload-too-big')
    const chunk = new Uint8Array(64 * 1024)
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 40) return controller.close() // 2.5 MiB against the 1 MiB default
        sent++
        controller.enqueue(chunk)
      },
    })
    const res = await gw(path, {
      method: 'POST',
      headers: { ...authHeader(token), 'content-type': 'application/octet-stream' },
      body: stream,
      duplex: 'half',
    } as RequestInit)
    await expectProblem(res, 413, 'payload_too_large')
    expect(await received(path)).toEqual([])
  })
})

describe('proxy: origin redirects are never followed', () => {
  it.each([301, 302, 303, 307, 308])(
    'passes a %i to the client with its Location; the third party it names receives nothing',
    async (status) => {
      const { token } = await tokenWith(['admin'])
      const marker = crypto.randomUUID()
      const target = `${THIRD_PARTY_URL}/collect/${marker}?from=origin`
      const path = unique(`/__echo/redirect/${status}`)
      const res = await gw(`${path}?to=${encodeURIComponent(target)}`, {
        redirect: 'manual', // the test's own client must not follow either: it would hide what the gateway did
        method: status === 307 || status === 308 ? 'POST' : 'GET',
        headers: {
          ...authHeader(token),
          cookie: 'session=client-cookie-value',
          'cf-connecting-ip': '203.0.113.77',
          'content-type': 'application/json',
        },
        ...(status === 307 || status === 308 ? { body: '{"card":"4111"}' } : {}),
      })
      expect(res.status).toBe(status)
      expect(res.headers.get('location')).toBe(target)
      // The origin's own 3xx body, not the third party's page served under the gateway's origin.
      expect(((await res.json()) as { path: string }).path).toContain(path)
      expect(await received(path)).toHaveLength(1)
      expect(await received(`/collect/${marker}`, THIRD_PARTY_URL)).toEqual([])
    },
  )

  it('does not follow on a public route either, nor a redirect back to another origin path', async () => {
    const marker = crypto.randomUUID()
    const external = `${THIRD_PARTY_URL}/public-leak/${marker}`
    const path = unique('/api/public/__echo/redirect/302')
    const res = await gw(`${path}?to=${encodeURIComponent(external)}`, {
      redirect: 'manual',
      headers: { cookie: 'a=b' },
    })
    expect(res.status).toBe(302)
    expect(await received(`/public-leak/${marker}`, THIRD_PARTY_URL)).toEqual([])

    const { token } = await tokenWith()
    const internal = `/api/admin/${marker}`
    const again = await gw(`${unique('/__echo/redirect/302')}?to=${encodeURIComponent(internal)}`, {
      redirect: 'manual',
      headers: authHeader(token),
    })
    expect(again.status).toBe(302)
    expect(again.headers.get('location')).toBe(internal)
    expect(await received(internal)).toEqual([])
    expect(await received(`/admin/${marker}`)).toEqual([])
  })
})

describe('proxy: route policies', () => {
  it('requires a token by default, and the origin is not reached without one', async () => {
    const path = unique('/api/private')
    const res = await gw(path)
    await expectProblem(res, 401, 'unauthenticated')
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeward"')
    expect(await received(path)).toEqual([])
  })

  it('lets anyone through on a public route', async () => {
    const path = unique('/api/public/catalogue')
    expect((await gw(path)).status).toBe(200)
    expect(await received(path)).toHaveLength(1)
  })

  it('answers 403 insufficient_scope when the route needs a scope the token lacks; the origin is not reached', async () => {
    logs = captureLogs()
    const { token } = await tokenWith(['items:write'])
    const id = crypto.randomUUID()
    const res = await gw(`/api/admin/reports/${id}`, { headers: authHeader(token) })
    await expectProblem(res, 403, 'insufficient_scope')
    expect(res.headers.get('www-authenticate')).toBe(
      'Bearer realm="edgeward", error="insufficient_scope", scope="admin"',
    )
    expect(await received(`/admin/reports/${id}`)).toEqual([])
    expect(await received(`/api/admin/reports/${id}`)).toEqual([])
    expect(logs.events('authz_fail')).toHaveLength(1)
    expect(logs.lines.join('\n')).not.toContain(token)
  })

  it('forwards a scoped route when the scope is there, with the path rewritten for the origin', async () => {
    const { token } = await tokenWith(['admin'])
    const id = crypto.randomUUID()
    expect((await gw(`/api/admin/reports/${id}?full=1`, { headers: authHeader(token) })).status).toBe(200)
    expect((await received(`/admin/reports/${id}`)).map((r) => r.path)).toEqual([`/admin/reports/${id}?full=1`])
  })

  it("puts a route marked rateLimit: 'strict' under the per-IP auth policy too", async () => {
    const app = testApp()
    const bindings = { ...env, RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '2/15m' }
    const { token } = await tokenWith(['admin'])
    const ip = `10.${Math.floor(Math.random() * 250)}.${Math.floor(Math.random() * 250)}.7`
    const send = (path: string) =>
      app.fetch(
        new Request(`https://gw.test${path}`, { headers: { ...authHeader(token), 'cf-connecting-ip': ip } }),
        bindings,
        ctx,
      )
    const admin = unique('/api/admin/strict')
    expect((await send(admin)).status).toBe(200)
    expect((await send(admin)).status).toBe(200)
    const limited = await send(admin)
    const body = await expectProblem(limited, 429, 'rate_limited')
    expect(body['violated-policies']).toEqual(['auth'])
    expect(await received(admin.replace('/api/admin', '/admin'))).toHaveLength(2)
    // A default route from the same IP is not under the auth policy.
    expect((await send(unique('/api/things'))).status).toBe(200)
  })

  it('answers 405 with Allow for a method the matching route does not list, without falling through', async () => {
    const { token } = await tokenWith(['admin', 'items:write'])
    const res = await gw('/api/public/x', { method: 'DELETE', headers: authHeader(token) })
    await expectProblem(res, 405, 'method_not_allowed')
    expect(res.headers.get('allow')).toBe('GET, HEAD')
  })

  it('validates the JSON body of a route with a schema before forwarding; the valid body is forwarded byte for byte', async () => {
    const { token } = await tokenWith(['items:write'])
    const headers = { ...authHeader(token), 'content-type': 'application/json' }
    const before = (await received('/api/items')).length
    for (const body of [
      '{"name":"x","quantity":1,"role":"admin"}',
      '{"name":"x"}',
      '{"name":"x","quantity":1,"name":"y"}',
      '{',
    ]) {
      const res = await gw('/api/items', { method: 'POST', headers, body })
      expect([400]).toContain(res.status)
      expect(((await res.json()) as { code: string }).code).toMatch(/^(validation_failed|invalid_json)$/)
    }
    expect(await gw('/api/items', { method: 'POST', headers: authHeader(token), body: '{}' })).toHaveProperty(
      'status',
      415,
    )
    expect((await received('/api/items')).length).toBe(before)

    const body = `{"name":"widget ${crypto.randomUUID()}",  "quantity": 3}`
    expect((await gw('/api/items', { method: 'POST', headers, body })).status).toBe(200)
    const forwarded = (await received('/api/items')).filter((r) => r.body === body)
    expect(forwarded).toHaveLength(1)
  })

  it('needs the route scope for the write and none for the read of the same path', async () => {
    const { token } = await tokenWith()
    expect((await gw('/api/items', { headers: authHeader(token) })).status).toBe(200)
    const res = await gw('/api/items', {
      method: 'POST',
      headers: { ...authHeader(token), 'content-type': 'application/json' },
      body: '{"name":"x","quantity":1}',
    })
    await expectProblem(res, 403, 'insufficient_scope')
  })
})

describe('proxy: path normalization cannot reach a weaker policy', () => {
  it.each([
    '/API/ADMIN/reports/1',
    '/api/admin/reports/1/',
    '//api/admin/reports/1',
    '/api//admin/reports/1',
    '/api/public/../admin/reports/1',
    '/api/public/%2e%2e/admin/reports/1',
    '/api/public/%2E%2E/admin/reports/1',
    '/api/./admin/reports/1',
    '/api/%61dmin/reports/1',
    // WHATWG URL parsing turns `\` into `/` for https: URLs before the gateway sees the path; it still resolves
    // to the admin route, never to the public one it started in.
    '/api/public/..\\admin/reports/1',
  ])('%s is the admin route: 403 for a token without the scope, origin not reached', async (path) => {
    const { token } = await tokenWith()
    const before = (await received('/admin/reports/1')).length + (await received('/api/public')).length
    const res = await gw(path, { headers: authHeader(token) })
    await expectProblem(res, 403, 'insufficient_scope')
    expect((await received('/admin/reports/1')).length + (await received('/api/public')).length).toBe(before)
  })

  it.each([
    ['/api/public/..%2fadmin/reports/1', 'an encoded slash'],
    ['/api/public/%2E%2E%2Fadmin', 'an encoded dot-dot-slash'],
    ['/api/public/%00/x', 'an encoded NUL'],
    ['/api/public/%zz', 'broken percent-encoding'],
    ['/api/public/%252e%252e/admin', 'double encoding'],
    ['/api/admin%3Bx/reports/1', 'an encoded semicolon'],
    ['/api/admin;x/reports/1', 'a path parameter (Tomcat, Spring and Jetty drop it)'],
    ['/api/admin./reports/1', 'a trailing dot (IIS trims it)'],
    ['/api/admin%2e/reports/1', 'an encoded trailing dot'],
    ['/api/admin%2E%2E/reports/1', 'encoded dots'],
    ['/api/admin%20/reports/1', 'a trailing space (IIS and trimming frameworks drop it)'],
    ['/api/admin%09/reports/1', 'a trailing tab'],
    ['/api/admin..;/reports/1', 'dots and a path parameter (Tomcat)'],
    ['/api/public/..;/admin/reports/1', 'a dot segment with a parameter'],
    ['/api/adm%C4%B1n/reports/1', 'a dotless i (Java equalsIgnoreCase reads admin)'],
    ['/api/%EF%BD%81dmin/reports/1', 'a fullwidth letter (NFKC and IIS best fit read admin)'],
    ['/api/admin%C0%AE/reports/1', 'an overlong UTF-8 dot'],
  ])('%s (%s) is refused with 400 invalid_path before anything else', async (path) => {
    logs = captureLogs()
    const { token } = await tokenWith()
    const before = (await received('/api/')).length + (await received('/admin/')).length
    const res = await gw(path, { headers: authHeader(token) })
    await expectProblem(res, 400, 'invalid_path')
    expect((await received('/api/')).length + (await received('/admin/')).length).toBe(before)
    expect(logs.events('input_validation_fail')).toHaveLength(1)
    expect(logs.lines.join('\n')).not.toContain(token)
  })

  it.each([
    ['GET', '/admin/users/1'],
    ['DELETE', '/admin/users/1'],
    ['POST', '/Admin/users'],
    ['GET', '/admin'],
    ['GET', '//admin/./users/../users/1'],
  ])(
    "%s %s, the admin route's rewrite target, is a 404 for any token and never reaches the origin",
    async (method, path) => {
      logs = captureLogs()
      const { token } = await tokenWith(['items:write'])
      const before = (await received('/admin')).length
      const res = await gw(path, {
        method,
        headers: { ...authHeader(token), 'content-type': 'application/json' },
        ...(method === 'POST' ? { body: '{}' } : {}),
      })
      await expectProblem(res, 404, 'not_found')
      expect((await received('/admin')).length).toBe(before)
      expect(logs.events('authz_fail')).toMatchObject([{ reason: 'rewrite_target', outcome: 'denied' }])
      // Even the scope the rewriting entry requires does not open the direct path: the target has one way in.
      const admin = await tokenWith(['admin'])
      await expectProblem(await gw(path, { method, headers: authHeader(admin.token) }), 404, 'not_found')
      expect((await received('/admin')).length).toBe(before)
    },
  )

  it('refuses method overrides: `_method` in any query, and POST forms where methods differ in policy', async () => {
    logs = captureLogs()
    const app = testApp({
      routes: compileRoutes([
        { pattern: '/api/posts/:id', methods: ['GET', 'POST'] },
        { pattern: '/api/posts/:id', methods: ['DELETE'], scopes: ['moderator'] },
      ]),
    })
    const { token } = await tokenWith()
    const send = (p: string, init: RequestInit = {}) =>
      app.fetch(
        new Request(`https://gw.test${p}`, { ...init, headers: { ...authHeader(token), ...init.headers } }),
        env,
        ctx,
      )
    const id = crypto.randomUUID()
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    for (const [path, init] of [
      [`/api/posts/${id}?_method=DELETE`, { method: 'POST' }],
      [`/api/posts/${id}?_METHOD=delete`, { method: 'POST' }],
      [`/api/posts/${id}?%5Fmethod=DELETE`, { method: 'GET' }],
      [`/api/posts/${id}`, { method: 'POST', headers: form, body: '_method=DELETE' }],
      [`/api/posts/${id}`, { method: 'POST', headers: form, body: 'title=x' }],
      [
        `/api/posts/${id}`,
        { method: 'POST', headers: { 'content-type': 'multipart/form-data; boundary=b' }, body: '--b--' },
      ],
    ] as const) {
      await expectProblem(await send(path, init as RequestInit), 400, 'method_override')
    }
    expect(await received(`/api/posts/${id}`)).toEqual([])
    expect(logs.events('input_validation_fail')).toHaveLength(6)
    // JSON POSTs without `_method` pass; so do forms on paths whose methods share one policy (here the default
    // route). src/routes/method-override.test.ts has the other spellings.
    expect(
      (await send(`/api/posts/${id}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' }))
        .status,
    ).toBe(200)
    expect((await send(`/api/other/${id}`, { method: 'POST', headers: form, body: 'a=1' })).status).toBe(200)
  })

  it('refuses a trailing slash that its entry and the wildcard below it would govern differently', async () => {
    logs = captureLogs()
    const app = testApp({
      routes: compileRoutes([
        { pattern: '/api/files', methods: ['GET'], auth: 'public' },
        { pattern: '/api/files/*', scopes: ['files:read'] },
      ]),
    })
    const send = (p: string) => app.fetch(new Request(`https://gw.test${p}`), env, ctx)
    const before = (await received('/api/files')).length
    for (const spelling of ['/api/files/', '/api/files/.', '/API/Files//']) {
      await expectProblem(await send(spelling), 400, 'invalid_path')
    }
    expect((await received('/api/files')).length).toBe(before)
    expect(logs.events('input_validation_fail').map((e) => e.reason)).toEqual(Array(3).fill('path_trailing_slash'))
    expect((await send('/api/files')).status).toBe(200)
    await expectProblem(await send('/api/files/x'), 401, 'unauthenticated')
  })

  it.each(['/AUTH/login', '/auth/login/', '//auth/login', '/Auth/Me', '/.WELL-KNOWN/jwks.json', '/api/../auth/me'])(
    '%s is a gateway path: never proxied',
    async (path) => {
      const before = (await received('/auth')).length + (await received('/.well-known')).length
      const res = await gw(path, { method: 'POST' })
      expect([404, 405]).toContain(res.status)
      expect((await received('/auth')).length + (await received('/.well-known')).length).toBe(before)
    },
  )
})

describe('proxy: resilience', () => {
  /** A gateway with its own configuration object (and so its own breaker), on a fresh Upstash lane. */
  function gateway(vars: Record<string, string>) {
    const app = testApp()
    const bindings = { ...env, ...vars }
    return (path: string, init: RequestInit = {}) =>
      app.fetch(new Request(`https://gw.test${path}`, init), bindings, ctx)
  }

  it('answers 504 upstream_timeout when the origin does not answer in time', async () => {
    const send = gateway({ UPSTREAM_TIMEOUT_MS: '300' })
    const { token } = await tokenWith()
    const started = Date.now()
    const res = await send(unique('/__echo/slow/3000'), { headers: authHeader(token) })
    await expectProblem(res, 504, 'upstream_timeout')
    expect(Date.now() - started).toBeLessThan(2_000)
  })

  it('retries a GET once on a 503, never a POST, and passes the last 503 through', async () => {
    const send = gateway({ UPSTREAM_BREAKER_THRESHOLD: '10' })
    const { token } = await tokenWith()
    const get = unique('/__echo/status/503')
    const getRes = await send(get, { headers: authHeader(token) })
    expect(getRes.status).toBe(503)
    expect(await received(get)).toHaveLength(2)

    const post = unique('/__echo/status/503')
    const postRes = await send(post, { method: 'POST', headers: authHeader(token), body: 'x' })
    expect(postRes.status).toBe(503)
    expect(await received(post)).toHaveLength(1)

    const noRetry = gateway({ UPSTREAM_RETRIES: '0', UPSTREAM_BREAKER_THRESHOLD: '10' })
    const once = unique('/__echo/status/502')
    expect((await noRetry(once, { headers: authHeader(token) })).status).toBe(502)
    expect(await received(once)).toHaveLength(1)
  })

  /** A breaker that opens after three timeouts of 150 ms from three client networks, with no retries. */
  const TIMEOUT_BREAKER = {
    UPSTREAM_RETRIES: '0',
    UPSTREAM_TIMEOUT_MS: '150',
    UPSTREAM_BREAKER_THRESHOLD: '3',
    UPSTREAM_BREAKER_MIN_CLIENTS: '3',
  }
  const from = (ip: string, token: string) => ({ headers: { ...authHeader(token), 'cf-connecting-ip': ip } })

  it("one client's burst to a 503 path, or to a path that times out, leaves every other client served", async () => {
    logs = captureLogs()
    const send = gateway({ UPSTREAM_BREAKER_THRESHOLD: '2', UPSTREAM_TIMEOUT_MS: '150' })
    const { token } = await tokenWith()
    const attacker = '203.0.113.66'
    for (let i = 0; i < 6; i++) {
      const res = await send(unique('/__echo/status/503'), from(attacker, token))
      expect(res.status).toBe(503)
      expect(res.headers.get('content-type')).toMatch(/^application\/json/) // the origin's own 503, unchanged
    }
    for (let i = 0; i < 4; i++) {
      await expectProblem(await send(unique('/__echo/slow/2000'), from(attacker, token)), 504, 'upstream_timeout')
    }
    const victim = unique('/api/victim')
    expect((await send(victim, from('198.51.100.20', token))).status).toBe(200)
    expect(
      (await send(unique('/api/public/anonymous'), { headers: { 'cf-connecting-ip': '192.0.2.99' } })).status,
    ).toBe(200)
    expect(await received(victim)).toHaveLength(1)
    expect(logs.events('upstream_circuit_opened')).toEqual([])
  })

  it("counts one network once, and a client's slow upload as the client's fault (408), never the origin's", async () => {
    logs = captureLogs()
    const send = gateway(TIMEOUT_BREAKER)
    const { token } = await tokenWith()
    // /64s and /48s of one /32 (a tunnel broker hands out /48s for free), or addresses of one /24: one network,
    // one source each, so one subscriber with an IPv4 address and two tunnels is two sources, not three.
    for (const ip of [
      '2001:db8:aa:1::1',
      '2001:db8:aa:2::1',
      '2001:db8:ab::1',
      '2001:db8:ac::1',
      '203.0.113.5',
      '203.0.113.6',
    ]) {
      await expectProblem(await send(unique('/__echo/slow/2000'), from(ip, token)), 504, 'upstream_timeout')
    }
    // Slow uploads from three networks: one byte, then nothing.
    for (const ip of ['2001:db8:bb::1', '2001:db8:cc::1', '192.0.2.7']) {
      const path = unique('/api/slow-upload')
      const body = new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(new Uint8Array([1]))
        },
      })
      const res = await send(path, {
        method: 'POST',
        headers: { ...authHeader(token), 'cf-connecting-ip': ip, 'content-type': 'application/octet-stream' },
        body,
        duplex: 'half',
      } as RequestInit)
      await expectProblem(res, 408, 'request_timeout')
      expect(await received(path)).toEqual([])
    }
    const victim = unique('/api/victim')
    expect((await send(victim, from('198.51.100.30', token))).status).toBe(200)
    expect(logs.events('upstream_circuit_opened')).toEqual([])
  })

  it('opens when the origin times out for several clients, fails fast for everyone, then a probe closes it', async () => {
    logs = captureLogs()
    const send = gateway({ ...TIMEOUT_BREAKER, UPSTREAM_BREAKER_COOLDOWN_SECONDS: '1' })
    const { token } = await tokenWith()
    for (const ip of ['203.0.113.1', '198.51.100.1', '2001:db8:1::1']) {
      await expectProblem(await send(unique('/__echo/slow/2000'), from(ip, token)), 504, 'upstream_timeout')
    }
    const blocked = unique('/api/blocked')
    const started = Date.now()
    const res = await send(blocked, from('192.0.2.200', token))
    await expectProblem(res, 503, 'upstream_unavailable')
    expect(res.headers.get('retry-after')).toBe('1')
    expect(Date.now() - started).toBeLessThan(200)
    expect(await received(blocked)).toEqual([])
    expect(logs.events('upstream_circuit_opened')).toMatchObject([{ breaker: new URL(env.UPSTREAM_URL).host }])

    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const probe = unique('/api/probe')
    expect((await send(probe, from('198.51.100.1', token))).status).toBe(200)
    expect(await received(probe)).toHaveLength(1)
    expect(logs.events('upstream_circuit_closed')).toHaveLength(1)
    expect((await send(unique('/api/after'), from('198.51.100.2', token))).status).toBe(200)
  })

  it('answers 502 bad_gateway when the origin cannot be reached', async () => {
    const send = gateway({ UPSTREAM_URL: 'http://127.0.0.1:1', UPSTREAM_RETRIES: '0' })
    const { token } = await tokenWith()
    const res = await send('/api/anything', { headers: authHeader(token) })
    const body = await expectProblem(res, 502, 'bad_gateway')
    expect(JSON.stringify(body)).not.toContain('127.0.0.1')
  })
})

describe('proxy: hot-path budget', () => {
  it('an authenticated proxied request reads no D1 and sends its Upstash work together', async () => {
    const lane = `lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const { db, calls: countD1 } = countingD1(env.DB)
    const bindings = {
      ...env,
      DB: db,
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      RATE_LIMIT_GLOBAL: '100/15m',
      RATE_LIMIT_USER: '100/15m',
    }
    const app = testApp()
    const { token } = await tokenWith()
    const send = () =>
      app.fetch(
        new Request(`https://gw.test${unique('/api/hot')}`, {
          headers: { ...authHeader(token), 'cf-connecting-ip': '192.0.2.44' },
        }),
        bindings,
        ctx,
      )
    expect((await send()).status).toBe(200) // loads the rate-limit scripts
    await control.setFault('slow', 10_000, lane) // every Upstash request answers 250 ms late
    try {
      const started = Date.now()
      const res = await send()
      const elapsed = Date.now() - started
      expect(res.status).toBe(200)
      expect(elapsed).toBeGreaterThanOrEqual(240)
      expect(elapsed).toBeLessThan(480) // two sequential Upstash round trips would take ≥ 500 ms
    } finally {
      await control.setFault('none', undefined, lane)
    }
    expect(countD1()).toBe(0)
  })
})

import { env, exports } from 'cloudflare:workers'
import type { Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { AppEnv } from '../env'
import { PROBLEM_TYPES } from '../errors/gateway-error'
import { testApp } from '../test-support/app'
import { uniqueIpv4 } from '../test-support/clients'
import { testExecutionContext as ctx } from '../test-support/context'
import { expectProblem } from '../test-support/problem'
import { buildOpenApiDocument, openApiPath } from './generate'
import committed from './openapi.json'
import { OPERATIONS } from './operations'

type Document = {
  paths: Record<string, Record<string, { security: Record<string, string[]>[]; responses: Record<string, unknown> }>>
  components: { schemas: Record<string, Record<string, unknown>> }
}

describe('the OpenAPI document', () => {
  // Regenerate with `npm run openapi` after changing a route, a schema or the problem catalogue.
  it('is what the generator makes of the routes, their zod schemas and the problem catalogue', async () => {
    await expect(`${JSON.stringify(buildOpenApiDocument(), null, 2)}\n`).toMatchFileSnapshot('./openapi.json')
  })

  it("lists every route of the app, and only those (the proxy's fallback is not a route)", () => {
    let app: Hono<AppEnv> | undefined
    testApp({ extend: (built) => (app = built) }).gateway()
    const registered = new Set(
      (app?.routes ?? []).filter((r) => r.method !== 'ALL').map((r) => `${r.method} ${openApiPath(r.path)}`),
    )
    const documented = new Set(
      Object.entries((committed as Document).paths).flatMap(([path, item]) =>
        Object.keys(item).map((method) => `${method.toUpperCase()} ${path}`),
      ),
    )
    expect(registered.size).toBeGreaterThan(20)
    expect([...documented].sort()).toEqual([...registered].sort())
  })

  it('holds each operation once, with a unique operationId', () => {
    const ids = OPERATIONS.map((op) => op.operationId)
    expect(new Set(ids).size).toBe(ids.length)
    const keys = OPERATIONS.map((op) => `${op.method} ${op.path}`)
    expect(new Set(keys).size).toBe(keys.length)
  })

  it('takes the request bodies from the schemas the routes validate with', () => {
    const { schemas } = (committed as Document).components
    expect(schemas.LoginBody).toEqual({
      type: 'object',
      properties: {
        email: expect.objectContaining({ type: 'string', maxLength: 254 }),
        password: expect.objectContaining({ type: 'string', minLength: 1 }),
        refresh_transport: expect.objectContaining({ enum: ['body', 'cookie'], default: 'body' }),
      },
      required: ['email', 'password'],
      additionalProperties: false,
    })
    expect(schemas.LogoutBody?.required).toBeUndefined()
  })

  it('names every code of the problem catalogue, with its status', () => {
    const entries = (committed as Document).components.schemas.ProblemCode?.oneOf as {
      const: keyof typeof PROBLEM_TYPES
      title: string
    }[]
    expect(entries.map((entry) => entry.const).sort()).toEqual(Object.keys(PROBLEM_TYPES).sort())
    for (const entry of entries) expect(entry.title.startsWith(`${PROBLEM_TYPES[entry.const].status} `)).toBe(true)
  })

  it('asks for the admin scope on every admin route, and for a token where the app authenticates', () => {
    const { paths } = committed as Document
    for (const [path, item] of Object.entries(paths)) {
      for (const operation of Object.values(item)) {
        if (path.startsWith('/auth/admin/')) {
          expect(operation.security).toEqual([{ bearer: ['edgeward:admin'] }])
          expect(operation.responses['403']).toBeDefined()
        }
      }
    }
    expect(paths['/auth/me']?.get?.security).toEqual([{ bearer: [] }])
    expect(paths['/auth/logout']?.post?.security).toEqual([{ bearer: [] }, {}])
    expect(paths['/health']?.get?.security).toEqual([])
  })
})

describe('GET /openapi.json', () => {
  it('answers the document as cacheable JSON, without a token, through the whole pipeline', async () => {
    const origin = 'https://docs.example.com'
    const bindings = { ...env, CORS_ORIGINS: origin }
    const res = await testApp().fetch(
      new Request('https://gw.test/openapi.json', { headers: { origin } }),
      bindings,
      ctx,
    )
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(res.headers.get('cache-control')).toBe('public, max-age=300')
    expect(res.headers.get('access-control-allow-origin')).toBe(origin)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('strict-transport-security')).toMatch(/max-age=/)
    expect(res.headers.get('content-security-policy')).toBeTruthy()
    expect(res.headers.get('x-request-id')).toMatch(/^[A-Za-z0-9-]{8,64}$/)
    expect(await res.json()).toEqual(committed)
  })

  it('is served by the deployed entry point, and HEAD answers without a body', async () => {
    const get = await exports.default.fetch('https://gw.test/openapi.json')
    expect(get.status).toBe(200)
    expect(((await get.json()) as { openapi: string }).openapi).toMatch(/^3\.1\./)
    const head = await exports.default.fetch('https://gw.test/openapi.json', { method: 'HEAD' })
    expect(head.status).toBe(200)
    expect(await head.text()).toBe('')
  })

  it('counts under the global rate limit, as its document says', async () => {
    const lane = `lane-${crypto.randomUUID()}`
    const limited = {
      ...env,
      UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
      RATE_LIMIT_GLOBAL: '1/15m',
    }
    const app = testApp()
    const headers = { 'cf-connecting-ip': uniqueIpv4() }
    const send = () => app.fetch(new Request('https://gw.test/openapi.json', { headers }), limited, ctx)
    expect((await send()).status).toBe(200)
    await expectProblem(await send(), 429, 'rate_limited')
    const documented = (committed as Document).paths['/openapi.json']?.get?.responses['429']
    expect(JSON.stringify(documented)).toContain('rate_limited')
  })

  it('is never proxied: another method is a 405 and another spelling a 404', async () => {
    const post = await exports.default.fetch('https://gw.test/openapi.json', { method: 'POST' })
    expect(post.status).toBe(405)
    expect(post.headers.get('allow')).toBe('GET, HEAD')
    for (const path of ['/openapi.json/', '/OPENAPI.json', '/openapi.json/x']) {
      const res = await exports.default.fetch(`https://gw.test${path}`)
      expect(res.status).toBe(404)
      expect(res.headers.get('content-type')).toBe('application/problem+json')
    }
  })
})

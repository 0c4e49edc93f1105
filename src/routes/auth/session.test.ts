import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { inspectRedis } from '../../stores/contract/backends'
import { revocationKey } from '../../stores/redis/revocation'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader, mintTestToken, testConfig } from '../../test-support/tokens'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const get = (path: string, headers: Record<string, string> = {}) =>
  exports.default.fetch(`https://gw.test${path}`, { headers })
const post = (path: string, headers: Record<string, string> = {}) =>
  exports.default.fetch(`https://gw.test${path}`, { method: 'POST', headers })

describe('GET /auth/me', () => {
  it('returns the principal of a valid token, uncached', async () => {
    const { token, exp } = await mintTestToken({ sub: 'alice', sid: 'sid-alice-1', scopes: ['read', 'write'] })
    const res = await get('/auth/me', authHeader(token))
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('no-store')
    expect(await res.json()).toEqual({
      sub: 'alice',
      sid: 'sid-alice-1',
      scopes: ['read', 'write'],
      expires_at: new Date(exp * 1000).toISOString(),
    })
  })

  it('asks for a token when there is none (401 unauthenticated, no error attribute)', async () => {
    const res = await get('/auth/me')
    await expectProblem(res, 401, 'unauthenticated')
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeward"')
  })

  it.each([
    ['a Basic credential', 'Basic YWxpY2U6cGFzcw=='],
    ['an empty Bearer', 'Bearer '],
    ['two tokens', 'Bearer a.b.c, Bearer d.e.f'],
  ])('rejects %s as invalid_token', async (_, authorization) => {
    const res = await get('/auth/me', { authorization })
    await expectProblem(res, 401, 'invalid_token')
    expect(res.headers.get('www-authenticate')).toBe('Bearer realm="edgeward", error="invalid_token"')
  })

  it('accepts the scheme in any case (RFC 9110 §11.1)', async () => {
    const { token } = await mintTestToken()
    expect((await get('/auth/me', { authorization: `bEaReR ${token}` })).status).toBe(200)
  })

  it('never accepts a token from the query string, even a valid one', async () => {
    logs = captureLogs()
    const { token } = await mintTestToken()
    const res = await get(`/auth/me?access_token=${token}`, authHeader(token))
    const text = await res.clone().text()
    await expectProblem(res, 401, 'invalid_token')
    expect(text).not.toContain(token)
    expect(logs.lines.join('\n')).not.toContain(token)
    expect(logs.events('authn_token_invalid')[0]).toMatchObject({ reason: 'authorization_malformed' })
  })
})

describe('POST /auth/logout', () => {
  it('revokes the token and its session: every later use is a 401, on every route', async () => {
    logs = captureLogs()
    const first = await mintTestToken({ sub: 'bob', sid: 'sid-bob-1' })
    const sibling = await mintTestToken({ sub: 'bob', sid: 'sid-bob-1' })
    const otherSession = await mintTestToken({ sub: 'bob', sid: 'sid-bob-2' })

    const res = await post('/auth/logout', authHeader(first.token))
    expect(res.status).toBe(204)
    expect(await res.text()).toBe('')

    for (const token of [first.token, sibling.token]) {
      const again = await get('/auth/me', authHeader(token))
      const text = await again.clone().text()
      await expectProblem(again, 401, 'invalid_token')
      expect(text).not.toContain(token)
    }
    await expectProblem(await post('/auth/logout', authHeader(first.token)), 401, 'invalid_token')
    expect((await get('/auth/me', authHeader(otherSession.token))).status).toBe(200)

    expect(logs.events('session_logout')).toHaveLength(1)
    expect(logs.events('authn_token_revoked').map((r) => r.scope)).toEqual(['token', 'session', 'token'])
    const all = logs.lines.join('\n')
    for (const t of [first.token, sibling.token, otherSession.token]) expect(all).not.toContain(t)
  })

  it('stores only hashed keys, each with a TTL bounded by the remaining lifetime plus skew', async () => {
    const config = testConfig()
    const minted = await mintTestToken({ sub: 'carol', sid: 'sid-carol-1' })
    expect((await post('/auth/logout', authHeader(minted.token))).status).toBe(204)
    const redis = inspectRedis()
    const jtiKey = await revocationKey('jti', minted.jti)
    const sidKey = await revocationKey('sid', 'sid-carol-1')
    expect(jtiKey).toMatch(/^rv:jti:[0-9a-f]{64}$/)
    expect(jtiKey).not.toContain(minted.jti)
    const now = Math.floor(Date.now() / 1000)
    const jtiTtl = await redis.ttl(jtiKey)
    expect(jtiTtl).toBeGreaterThan(0)
    expect(jtiTtl).toBeLessThanOrEqual(minted.exp - now + config.jwt.clockSkewSeconds + 1)
    const sidTtl = await redis.ttl(sidKey)
    expect(sidTtl).toBeGreaterThan(0)
    expect(sidTtl).toBeLessThanOrEqual(config.jwt.accessTtlSeconds + config.jwt.clockSkewSeconds)
  })

  it('answers 503 (fail closed) and writes nothing when Upstash is failing', async () => {
    logs = captureLogs()
    const lane = `lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const bindings = { ...env, UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}` }
    const minted = await mintTestToken({ sub: 'dave' })
    await control.setFault('error500', 10_000, lane)
    try {
      const res = await testApp().fetch(
        new Request('https://gw.test/auth/logout', { method: 'POST', headers: authHeader(minted.token) }),
        bindings,
        ctx,
      )
      await expectProblem(res, 503, 'revocation_unavailable')
      expect(res.headers.get('retry-after')).toBe('2')
    } finally {
      await control.setFault('none', undefined, lane)
    }
    expect(await inspectRedis().exists(await revocationKey('jti', minted.jti))).toBe(0)
    expect(logs.lines.join('\n')).not.toContain(minted.token)
  })
})

describe('GET /.well-known/jwks.json', () => {
  it('publishes the public signing key with kid, alg and cache headers, never the private part', async () => {
    const res = await get('/.well-known/jwks.json')
    expect(res.status).toBe(200)
    expect(res.headers.get('cache-control')).toBe('public, max-age=300')
    expect(res.headers.get('content-type')).toBe('application/jwk-set+json')
    const body = (await res.json()) as { keys: Record<string, string>[] }
    expect(body.keys).toHaveLength(1)
    expect(body.keys[0]).toEqual({
      kty: 'OKP',
      crv: 'Ed25519',
      x: JSON.parse(env.JWT_PRIVATE_KEY).x,
      kid: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      alg: 'EdDSA',
      use: 'sig',
    })
    expect(JSON.stringify(body)).not.toContain(JSON.parse(env.JWT_PRIVATE_KEY).d)
  })
})

describe('HS256 mode (JWT_SECRET instead of JWT_PRIVATE_KEY)', () => {
  const hs256 = {
    ...env,
    JWT_PRIVATE_KEY: undefined,
    JWT_SECRET: 'Zq8Vn2Lx9Kd4Rz7Wm3Ty6Hb1Pc5Jf0GsAeUiOoYrXw',
  } as unknown as Env
  const app = testApp()

  it('authenticates a token signed with the shared secret and refuses an EdDSA one', async () => {
    const config = testConfig(hs256)
    const minted = await mintTestToken({ sub: 'erin' }, config)
    const ok = await app.fetch(
      new Request('https://gw.test/auth/me', { headers: authHeader(minted.token) }),
      hs256,
      ctx,
    )
    expect(ok.status).toBe(200)
    const eddsa = await mintTestToken({ sub: 'erin' })
    const refused = await app.fetch(
      new Request('https://gw.test/auth/me', { headers: authHeader(eddsa.token) }),
      hs256,
      ctx,
    )
    await expectProblem(refused, 401, 'invalid_token')
  })

  it('publishes no JWKS: there is no public key', async () => {
    const res = await app.fetch(new Request('https://gw.test/.well-known/jwks.json'), hs256, ctx)
    await expectProblem(res, 404, 'not_found')
  })
})

describe('key rotation through JWT_PUBLIC_KEYS', () => {
  it('publishes the extra key and accepts tokens signed with it while it is listed', async () => {
    const { generateKeyPair, exportJWK } = await import('jose')
    const { privateKey } = await generateKeyPair('EdDSA', { extractable: true })
    const { kty, crv, x, d } = (await exportJWK(privateKey)) as Record<string, string>
    const current = JSON.parse(env.JWT_PRIVATE_KEY) as Record<string, string>
    // The next key is published first…
    const publishing = { ...env, JWT_PUBLIC_KEYS: JSON.stringify([{ kty, crv, x }]) }
    const app = testApp()
    const jwks = (await (
      await app.fetch(new Request('https://gw.test/.well-known/jwks.json'), publishing, ctx)
    ).json()) as {
      keys: { x: string }[]
    }
    expect(jwks.keys.map((k) => k.x)).toEqual([current.x, x])
    // …then signs, with the old key kept for verification.
    const rotated = {
      ...env,
      JWT_PRIVATE_KEY: JSON.stringify({ kty, crv, x, d }),
      JWT_PUBLIC_KEYS: JSON.stringify([{ kty: current.kty, crv: current.crv, x: current.x }]),
    }
    const oldToken = await mintTestToken({ sub: 'frank' })
    const newToken = await mintTestToken({ sub: 'frank' }, testConfig(rotated))
    for (const token of [oldToken.token, newToken.token]) {
      const res = await app.fetch(new Request('https://gw.test/auth/me', { headers: authHeader(token) }), rotated, ctx)
      expect(res.status).toBe(200)
    }
    // Once the old key is removed, its tokens are refused.
    const retired = { ...env, JWT_PRIVATE_KEY: rotated.JWT_PRIVATE_KEY }
    const res = await app.fetch(
      new Request('https://gw.test/auth/me', { headers: authHeader(oldToken.token) }),
      retired,
      ctx,
    )
    await expectProblem(res, 401, 'invalid_token')
  })
})

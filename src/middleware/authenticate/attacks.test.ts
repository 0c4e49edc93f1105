/**
 * Forged, expired, mistyped and revoked tokens, end to end through the gateway on `GET /auth/me` and
 * `POST /auth/logout`. Each request runs on its own Upstash lane with a D1 binding that counts calls, so every
 * denial can prove what it did not do: no Upstash request before the token verified, no D1 call, no handler,
 * and no trace of the presented token in the body or the logs.
 */
import { env } from 'cloudflare:workers'
import { base64url, exportSPKI, importJWK, type JWK, type JWTPayload } from 'jose'
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import type { ErrorCode } from '../../errors/gateway-error'
import { inspectRedis } from '../../stores/contract/backends'
import { revocationKey } from '../../stores/redis/revocation'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import {
  authHeader,
  mintTestToken,
  segment,
  signWith,
  signWithTestKey,
  testConfig,
  testKeyRing,
  validClaims,
} from '../../test-support/tokens'
import { verifyAccessToken } from '../../tokens/verify'
import { authenticate, requireScopes } from '.'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const redis = inspectRedis()
const INVALID_TOKEN_CHALLENGE = 'Bearer realm="edgeward", error="invalid_token"'
const ROUTES = [
  ['GET', '/auth/me'],
  ['POST', '/auth/logout'],
] as const

let logs: ReturnType<typeof captureLogs>
let fetchSpy: MockInstance<typeof fetch>
beforeEach(() => {
  logs = captureLogs()
  // A spy, not a stub: Upstash still answers. Rows that must make no subrequest at all assert on it.
  fetchSpy = vi.spyOn(globalThis, 'fetch')
})
afterEach(() => {
  vi.restoreAllMocks()
})

/**
 * A gateway on its own Upstash lane (faults and request counts touch nothing else) whose D1 binding counts
 * every method call. One bindings object per gateway: configuration is cached per bindings object.
 */
function laneGateway(vars: Record<string, string> = {}, app = testApp()) {
  const lane = `lane-${crypto.randomUUID()}`
  let d1Calls = 0
  const DB = new Proxy(env.DB, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target)
      if (typeof value !== 'function') return value
      return (...args: unknown[]) => {
        d1Calls++
        return (value as (...a: unknown[]) => unknown).apply(target, args)
      }
    },
  })
  const bindings = { ...env, DB, UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`, ...vars }
  return {
    lane,
    request: ([method, path]: readonly [method: string, path: string], token: string) =>
      app.fetch(new Request(`https://gw.test${path}`, { method, headers: authHeader(token) }), bindings, ctx),
    upstash: () => control.stats(lane),
    d1Calls: () => d1Calls,
    fault: (mode: 'hang' | 'refuse' | 'error500') => control.setFault(mode, 10_000, lane),
    heal: () => control.setFault('none', undefined, lane),
  }
}

/** No part of the token (the whole, its payload or its signature) in this text. */
function expectNoTrace(text: string, token: string) {
  expect(text).not.toContain(token)
  for (const part of token.split('.').slice(1)) if (part.length >= 16) expect(text).not.toContain(part)
}

/** What every denial is checked for: problem, headers, no token in body or logs, no handler, nothing written. */
async function expectDenied(
  res: Response,
  token: string,
  jti: string,
  status = 401,
  code: ErrorCode = 'invalid_token',
) {
  const text = await res.clone().text()
  await expectProblem(res, status, code)
  if (code === 'invalid_token') expect(res.headers.get('www-authenticate')).toBe(INVALID_TOKEN_CHALLENGE)
  expectNoTrace(text, token)
  expectNoTrace(logs.lines.join('\n'), token)
  expect(logs.events('session_logout')).toEqual([])
  expect(await redis.exists(await revocationKey('jti', jti))).toBe(0)
}

const now = () => Math.floor(Date.now() / 1000)
const withClaims = (changes: Record<string, unknown>): JWTPayload => {
  const claims: Record<string, unknown> = { ...validClaims(), ...changes }
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete claims[name]
  return claims as JWTPayload
}

async function publicKey(): Promise<{ jwk: JWK; key: CryptoKey }> {
  const jwk = (await testKeyRing()).publicJwks[0] as JWK
  const key = (await importJWK({ kty: jwk.kty, crv: jwk.crv, x: jwk.x }, 'EdDSA', { extractable: true })) as CryptoKey
  return { jwk, key }
}

async function attackerJwk(): Promise<JWK> {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  return (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JWK
}

/** Builds an attack token around `claims` (whose jti the row then checks was never written). */
type Forge = (claims: JWTPayload) => Promise<string>
const kid = async () => (await testKeyRing()).kid
const unsigned =
  (alg: string, signature: string): Forge =>
  async (claims) =>
    `${segment({ alg, typ: 'at+jwt', kid: await kid() })}.${segment(claims)}.${signature}`
const macWith =
  (secret: () => Promise<Uint8Array>): Forge =>
  async (claims) =>
    signWith(await secret(), 'HS256', claims, { kid: await kid() })
const garbage = base64url.encode(crypto.getRandomValues(new Uint8Array(64)))
const encode = (text: string) => new TextEncoder().encode(text)

// Every row is refused by verification, so the gateway must not have touched Upstash or D1 at all.
const ATTACKS: [string, Forge, string][] = [
  // alg none in four casings (R-JWT-1, R-JWT-2 in docs/requirements.md)
  ...['none', 'None', 'NONE', 'nOnE'].flatMap((alg): [string, Forge, string][] => [
    [`alg "${alg}" with an empty signature`, unsigned(alg, ''), 'alg_none'],
    [`alg "${alg}" with a garbage signature`, unsigned(alg, garbage), 'alg_none'],
  ]),
  // key confusion and keys named by the token (R-JWT-3, R-JWT-10)
  [
    'HS256 MAC’d with the public key as PEM text',
    macWith(async () => encode(await exportSPKI((await publicKey()).key))),
    'alg_not_allowed',
  ],
  [
    'HS256 MAC’d with the published JWK as JSON',
    macWith(async () => encode(JSON.stringify((await publicKey()).jwk))),
    'alg_not_allowed',
  ],
  [
    'HS256 MAC’d with the SPKI DER bytes',
    macWith(
      async () => new Uint8Array((await crypto.subtle.exportKey('spki', (await publicKey()).key)) as ArrayBuffer),
    ),
    'alg_not_allowed',
  ],
  [
    'an attacker key embedded as jwk',
    async (claims) => {
      const jwk = await attackerJwk()
      return signWith(jwk, 'EdDSA', claims, { jwk: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, kid: await kid() })
    },
    'embedded_key_material',
  ],
  [
    'a jku to an attacker URL',
    async (claims) => signWith(await attackerJwk(), 'EdDSA', claims, { jku: 'https://attacker.example/jwks.json' }),
    'embedded_key_material',
  ],
  [
    'an attacker Ed25519 key under the real kid',
    async (claims) => signWith(await attackerJwk(), 'EdDSA', claims, { kid: await kid() }),
    'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
  ],
  // claims, type and time (R-JWT-4, R-JWT-5, R-JWT-6), signed by the real key
  [
    'exp = now − 61 s',
    (claims) => signWithTestKey({ ...claims, exp: now() - 61, iat: now() - 361 }),
    'ERR_JWT_EXPIRED:exp',
  ],
  [
    'nbf = now + 61 s',
    (claims) => signWithTestKey({ ...claims, nbf: now() + 61 }),
    'ERR_JWT_CLAIM_VALIDATION_FAILED:nbf',
  ],
  [
    'iat = now + 61 s',
    (claims) => signWithTestKey({ ...claims, iat: now() + 61, exp: now() + 961 }),
    'ERR_JWT_CLAIM_VALIDATION_FAILED:iat',
  ],
  [
    'no exp',
    (claims) => signWithTestKey(withClaims({ ...claims, exp: undefined })),
    'ERR_JWT_CLAIM_VALIDATION_FAILED:exp',
  ],
  [
    'a wrong aud',
    (claims) => signWithTestKey({ ...claims, aud: 'another-service' }),
    'ERR_JWT_CLAIM_VALIDATION_FAILED:aud',
  ],
  [
    'a wrong iss',
    (claims) => signWithTestKey({ ...claims, iss: 'https://evil.example' }),
    'ERR_JWT_CLAIM_VALIDATION_FAILED:iss',
  ],
  ['typ "JWT"', (claims) => signWithTestKey(claims, { typ: 'JWT' }), 'ERR_JWT_CLAIM_VALIDATION_FAILED:typ'],
  // compact serialization only (R-JWT-13)
  [
    'a JSON-serialized JWS',
    async (claims) => {
      const [p, q, s] = (await signWithTestKey(claims)).split('.')
      return JSON.stringify({ protected: p, payload: q, signature: s })
    },
    'not_compact_jws',
  ],
]

describe('authenticate: forged, expired and mistyped tokens', () => {
  const rows = ATTACKS.flatMap(([attack, forge, reason]) =>
    ROUTES.map((route) => [`${route.join(' ')}: ${attack}`, route, forge, reason] as const),
  )
  // The time rows sit one second from a boundary, and the verifier reads the clock itself: stop the clock (Date
  // only, timers still run), or a second ticking between minting and verifying would flip the outcome.
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ['Date'] })
    vi.setSystemTime(Math.floor(Date.now() / 1000) * 1000 + 500)
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it.each(rows)('%s → 401 invalid_token, with no Upstash, D1 or outbound call', async (_, route, forge, reason) => {
    const claims = validClaims()
    const token = await forge(claims)
    const gw = laneGateway()
    fetchSpy.mockClear()
    const res = await gw.request(route, token)
    expect(fetchSpy).not.toHaveBeenCalled()
    await expectDenied(res, token, claims.jti as string)
    expect(await gw.upstash()).toEqual({ requests: 0, commands: 0 })
    expect(gw.d1Calls()).toBe(0)
    // Refused by the rule under attack, not by some later check it happened to trip.
    expect(logs.events('authn_token_invalid')).toMatchObject([{ reason, level: 'warn', outcome: 'denied' }])
  })

  it('accepts exp = now − 59 s (inside the 60 s skew), the boundary the rows above sit just past', async () => {
    const token = await signWithTestKey(withClaims({ exp: now() - 59, iat: now() - 359 }))
    expect((await laneGateway().request(ROUTES[0], token)).status).toBe(200)
  })
})

describe('authenticate: revoked token reuse (R-JWT-8, R-JWT-9)', () => {
  const replays = (['the logged-out token', 'another token of the logged-out session'] as const).flatMap((which) =>
    ROUTES.map((route) => [`replaying ${which} on ${route.join(' ')}`, which, route] as const),
  )

  it.each(replays)('%s → 401, after one Upstash read and no write', async (_, which, route) => {
    const gw = laneGateway()
    const session = { sub: `user-${crypto.randomUUID()}`, sid: `sid-${crypto.randomUUID()}` }
    const loggedOut = await mintTestToken(session)
    const sibling = await mintTestToken(session)
    expect((await gw.request(ROUTES[1], loggedOut.token)).status).toBe(204)
    const { token, jti } = which === 'the logged-out token' ? loggedOut : sibling
    await control.resetStats(gw.lane)
    logs.lines.length = 0

    const res = await gw.request(route, token)
    const text = await res.clone().text()
    await expectProblem(res, 401, 'invalid_token')
    expect(res.headers.get('www-authenticate')).toBe(INVALID_TOKEN_CHALLENGE)
    expectNoTrace(text, token)
    expectNoTrace(logs.lines.join('\n'), token)
    // The handler did not run: no second logout record, and the only Upstash command was the MGET.
    expect(logs.events('session_logout')).toEqual([])
    expect(await gw.upstash()).toEqual({ requests: 1, commands: 1 })
    const scope = token === loggedOut.token ? 'token' : 'session'
    expect(logs.events('authn_token_revoked')).toMatchObject([{ scope, jti }])
    if (scope === 'session') expect(await redis.exists(await revocationKey('jti', jti))).toBe(0)
  })

  it('a re-encoded signature (other base64url padding bits) still verifies, and is still revoked by jti', async () => {
    const config = testConfig()
    const ring = await testKeyRing(config)
    const gw = laneGateway()
    const { token, jti } = await mintTestToken({}, config)
    const variant = reencodeLastChar(token)
    expect(variant).not.toBe(token)
    // jose decodes base64url leniently: the unused low bits of the last character are ignored, so the variant is
    // a second, different string for the same signed token. A denylist keyed on a hash of the token would miss it.
    expect(await verifyAccessToken(variant, ring, config.jwt)).toMatchObject({ ok: true, claims: { jti } })

    expect((await gw.request(ROUTES[1], token)).status).toBe(204)
    for (const route of ROUTES) {
      const res = await gw.request(route, variant)
      const text = await res.clone().text()
      await expectProblem(res, 401, 'invalid_token')
      expect(res.headers.get('www-authenticate')).toBe(INVALID_TOKEN_CHALLENGE)
      expectNoTrace(text, variant)
      expectNoTrace(logs.lines.join('\n'), variant)
    }
    expect(logs.events('authn_token_revoked').map((r) => r.scope)).toEqual(['token', 'token'])
    expect(logs.events('session_logout')).toHaveLength(1)
  })

  it('logging out with the re-encoded variant revokes the original too', async () => {
    const gw = laneGateway()
    const { token } = await mintTestToken()
    expect((await gw.request(ROUTES[1], reencodeLastChar(token))).status).toBe(204)
    await expectProblem(await gw.request(ROUTES[0], token), 401, 'invalid_token')
  })

  const modes = ['refuse', 'hang', 'error500'] as const
  const outageRows = modes.flatMap((mode) =>
    ROUTES.map((route) => [`${route.join(' ')} while Upstash ${mode}s`, mode, route] as const),
  )

  it.each(outageRows)('replaying a revoked token on %s → 503, never 200', async (_, mode, route) => {
    const gw = laneGateway({ UPSTASH_TIMEOUT_MS: '200' })
    const { token, jti } = await mintTestToken()
    expect((await gw.request(ROUTES[1], token)).status).toBe(204)
    // Keep only the session entry, so that a jti entry found afterwards could only be a logout write.
    await redis.del(await revocationKey('jti', jti))
    logs.lines.length = 0
    await gw.fault(mode)
    let res: Response
    try {
      res = await gw.request(route, token)
    } finally {
      await gw.heal()
    }
    const text = await res.clone().text()
    await expectProblem(res, 503, 'revocation_unavailable')
    expect(res.headers.get('retry-after')).toBe('2')
    expect(res.headers.get('www-authenticate')).toBeNull()
    expectNoTrace(text, token)
    expectNoTrace(logs.lines.join('\n'), token)
    expect(logs.events('session_logout')).toEqual([])
    expect(logs.events('request_failed')).toMatchObject([
      { code: 'revocation_unavailable', reason: 'revocation_check_failed' },
    ])
    expect(await redis.exists(await revocationKey('jti', jti))).toBe(0)
    // Back up, the token is still refused: the outage changed nothing.
    await expectProblem(await gw.request(ROUTES[0], token), 401, 'invalid_token')
  })

  it('with REVOCATION_FAILURE_MODE=open, an outage lets a valid token through with one revocation_check_skipped warning', async () => {
    const gw = laneGateway({ REVOCATION_FAILURE_MODE: 'open', UPSTASH_TIMEOUT_MS: '200' })
    const { token, jti } = await mintTestToken({ sub: `open-${crypto.randomUUID()}` })
    await gw.fault('error500')
    try {
      expect((await gw.request(ROUTES[0], token)).status).toBe(200)
      expect(logs.events('revocation_check_skipped')).toMatchObject([
        { level: 'warn', jti, outcome: 'allowed', request_uri: '/auth/me' },
      ])
      // Logout still has to write: it answers 503 rather than pretend the token is dead.
      await expectProblem(await gw.request(ROUTES[1], token), 503, 'revocation_unavailable')
    } finally {
      await gw.heal()
    }
    expect(logs.events('session_logout')).toEqual([])
    expectNoTrace(logs.lines.join('\n'), token)
  })
})

describe('authenticate: one breaker for Upstash', () => {
  it.each([
    ['closed', 503],
    ['open', 200],
  ] as const)(
    'with REVOCATION_FAILURE_MODE=%s, a hanging Upstash is waited on until the breaker opens, then answered in < 100 ms',
    async (failureMode, status) => {
      const gw = laneGateway({
        REVOCATION_FAILURE_MODE: failureMode,
        UPSTASH_TIMEOUT_MS: '300',
        RATE_LIMIT_BREAKER_THRESHOLD: '2',
        RATE_LIMIT_BREAKER_COOLDOWN_SECONDS: '1',
      })
      const { token } = await mintTestToken({ sub: `hang-${crypto.randomUUID()}` })
      expect((await gw.request(ROUTES[0], token)).status).toBe(200) // healthy first
      await gw.fault('hang')
      try {
        for (let i = 0; i < 2; i++) {
          const started = Date.now()
          expect((await gw.request(ROUTES[0], token)).status).toBe(status)
          expect(Date.now() - started).toBeGreaterThanOrEqual(250) // waited for the timeout
        }
        const before = (await gw.upstash()).requests
        for (let i = 0; i < 5; i++) {
          const started = Date.now()
          const res = await gw.request(ROUTES[0], token)
          expect(res.status).toBe(status)
          if (status === 503) await expectProblem(res, 503, 'revocation_unavailable')
          expect(Date.now() - started).toBeLessThan(100)
        }
        expect((await gw.upstash()).requests).toBe(before) // the breaker kept them from Upstash
      } finally {
        await gw.heal()
      }
      // After the cooldown one request probes, finds Upstash back, and closes the breaker.
      await new Promise((resolve) => setTimeout(resolve, 1_100))
      expect((await gw.request(ROUTES[0], token)).status).toBe(200)
      expect((await gw.request(ROUTES[0], token)).status).toBe(200)
    },
  )
})

describe('authenticate: cost of a request', () => {
  it('makes exactly one Upstash request (the MGET) and no D1 call for a valid token', async () => {
    const gw = laneGateway()
    const { token } = await mintTestToken()
    expect((await gw.request(ROUTES[0], token)).status).toBe(200)
    expect(await gw.upstash()).toEqual({ requests: 1, commands: 1 })
    expect(gw.d1Calls()).toBe(0)
  })

  it.each([
    ['a token with a broken signature', async () => `${(await mintTestToken()).token.slice(0, -4)}AAAA`],
    ['an alg none token', () => unsigned('none', '')(validClaims())],
    ['garbage', async () => 'not-a-token'],
  ])('makes no Upstash or D1 call for %s', async (_, build) => {
    const gw = laneGateway()
    const res = await gw.request(ROUTES[0], await build())
    await expectProblem(res, 401, 'invalid_token')
    expect(await gw.upstash()).toEqual({ requests: 0, commands: 0 })
    expect(gw.d1Calls()).toBe(0)
  })
})

describe('requireScopes', () => {
  function scopedGateway(...required: string[]) {
    let reached = 0
    const app = testApp({
      extend: (app, gw) => {
        app.get('/scoped', authenticate(gw), requireScopes(...required), (c) => {
          reached++
          return c.text('ok')
        })
      },
    })
    return { gw: laneGateway({}, app), reached: () => reached }
  }

  // Two required scopes mean both: a token holding either one alone is refused, and the challenge names the pair.
  it.each([
    ['no scope', ['admin'], [], ['admin']],
    ['a longer scope that starts with it', ['admin'], ['admin:read'], ['admin']],
    ['a scope that contains it', ['admin'], ['administrator'], ['admin']],
    ['another casing', ['admin'], ['Admin'], ['admin']],
    ['unrelated scopes', ['admin'], ['read', 'write'], ['admin']],
    ['only the first of two required', ['items:read', 'items:write'], ['items:read'], ['items:write']],
    ['only the second of two required', ['items:read', 'items:write'], ['items:write'], ['items:read']],
  ] as const)(
    'refuses a token with %s: 403 insufficient_scope, handler not run',
    async (_, required, scopes, missing) => {
      const { gw, reached } = scopedGateway(...required)
      const { token, jti } = await mintTestToken({ scopes: [...scopes] })
      const res = await gw.request(['GET', '/scoped'], token)
      // RFC 6750 §3: the scope attribute is the space-delimited list of every scope the resource requires.
      expect(res.headers.get('www-authenticate')).toBe(
        `Bearer realm="edgeward", error="insufficient_scope", scope="${required.join(' ')}"`,
      )
      await expectDenied(res, token, jti, 403, 'insufficient_scope')
      expect(reached()).toBe(0)
      expect(logs.events('authz_fail')).toMatchObject([{ level: 'warn', required, missing, outcome: 'denied' }])
      // Authentication ran (one MGET) and nothing else touched Upstash.
      expect(await gw.upstash()).toEqual({ requests: 1, commands: 1 })
    },
  )

  it.each([
    ['one required scope, among others', ['admin'], ['read', 'admin']],
    ['both of two required scopes', ['items:read', 'items:write'], ['items:write', 'items:read']],
  ] as const)('runs the handler for a token that carries %s', async (_, required, scopes) => {
    const { gw, reached } = scopedGateway(...required)
    const { token } = await mintTestToken({ scopes: [...scopes] })
    const res = await gw.request(['GET', '/scoped'], token)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe('ok')
    expect(reached()).toBe(1)
    expect(logs.events('authz_fail')).toEqual([])
  })

  it('authenticates first: a revoked admin token is a 401, not a 403', async () => {
    const { gw, reached } = scopedGateway('admin')
    const { token, jti } = await mintTestToken({ scopes: ['admin'] })
    expect((await gw.request(ROUTES[1], token)).status).toBe(204)
    const res = await gw.request(['GET', '/scoped'], token)
    await expectProblem(res, 401, 'invalid_token')
    expect(reached()).toBe(0)
    expect(logs.events('authn_token_revoked')).toMatchObject([{ jti }])
  })
})

/**
 * The same token with another last signature character that decodes to the same bytes: a 64-byte signature is
 * 86 base64url characters, and the last one carries 2 bits of the signature and 4 unused bits.
 */
function reencodeLastChar(token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
  const index = alphabet.indexOf(token.at(-1) as string)
  return `${token.slice(0, -1)}${alphabet[index ^ 0b0001]}`
}

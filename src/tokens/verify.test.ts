/**
 * verifyAccessToken, as attack tables with a fixed clock (the R-JWT rules of docs/requirements.md). Every row asserts
 * the exact `reason`: it is the log contract (`authn_token_invalid.reason`), and it shows *which* rule refused the
 * token, so a row cannot pass because an unrelated, later check happened to fail.
 */
import { env } from 'cloudflare:workers'
import { base64url, exportSPKI, generateKeyPair, importJWK, type JWK, type JWTPayload } from 'jose'
import { afterEach, beforeAll, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import type { Config } from '../config/schema'
import { segment, signWith, signWithTestKey, testConfig, testKeyRing, validClaims } from '../test-support/tokens'
import { type KeyRing, loadKeyRing } from './keys'
import { mintAccessToken } from './mint'
import { MAX_TOKEN_BYTES, verifyAccessToken } from './verify'

/** The fixed instant every row is verified at (2027-01-15T08:00:00Z). */
const NOW = 1_800_000_000
const config = testConfig()
const SKEW = config.jwt.clockSkewSeconds
const TTL = config.jwt.accessTtlSeconds
let ring: KeyRing

function verify(token: string, keyRing: KeyRing = ring, cfg: Config = config) {
  return verifyAccessToken(token, keyRing, { ...cfg.jwt, now: new Date(NOW * 1000) })
}

async function expectRejected(token: string, reason: string, keyRing: KeyRing = ring, cfg: Config = config) {
  expect(await verify(token, keyRing, cfg)).toEqual({ ok: false, reason })
}

async function expectAccepted(token: string, keyRing: KeyRing = ring, cfg: Config = config) {
  const result = await verify(token, keyRing, cfg)
  expect(result).toMatchObject({ ok: true })
}

/** Valid claims at NOW with `changes` applied; a change of `undefined` removes the claim. */
function claims(changes: Record<string, unknown> = {}): JWTPayload {
  const out: Record<string, unknown> = { ...validClaims(config, NOW), ...changes }
  for (const [name, value] of Object.entries(changes)) if (value === undefined) delete out[name]
  return out as JWTPayload
}

/** A key ring whose `kid` lookups are recorded, to prove a rule fired before any key was selected. */
function watched(keyRing: KeyRing) {
  const lookups: string[] = []
  const keys = new Map(keyRing.verificationKeys)
  const get = keys.get.bind(keys)
  keys.get = (kid: string) => {
    lookups.push(kid)
    return get(kid)
  }
  return { ring: { ...keyRing, verificationKeys: keys }, lookups }
}

/** Signs any header with the real key by hand (jose refuses to sign with an algorithm name it does not know). */
async function signRaw(header: Record<string, unknown>, payload: JWTPayload): Promise<string> {
  const input = `${segment(header)}.${segment(payload)}`
  const signature = await crypto.subtle.sign('Ed25519', ring.signingKey as CryptoKey, new TextEncoder().encode(input))
  return `${input}.${base64url.encode(new Uint8Array(signature))}`
}

/** A random 256-bit HS256 secret that can never look like a placeholder (hex has no letters past f). */
function hexSecret(): string {
  return [...crypto.getRandomValues(new Uint8Array(32))].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** A fresh Ed25519 key pair as JWKs: an attacker's, or the next signing key in a rotation. */
async function ed25519Jwks() {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const { kty, crv, x, d } = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JsonWebKey
  return { privateJwk: { kty, crv, x, d } as JWK, publicJwk: { kty, crv, x } as JWK }
}

// verifyAccessToken is pure: no row may cause a subrequest, whatever its header names (R-JWT-10).
let fetchSpy: MockInstance<typeof fetch>
beforeAll(async () => {
  ring = await testKeyRing(config)
})
beforeEach(() => {
  fetchSpy = vi.spyOn(globalThis, 'fetch').mockRejectedValue(new Error('verifyAccessToken must not fetch'))
})
afterEach(() => {
  expect(fetchSpy).not.toHaveBeenCalled()
  vi.restoreAllMocks()
})

describe('verifyAccessToken: a valid token', () => {
  it('accepts a token from the gateway’s own minting code and returns its claims', async () => {
    const minted = await mintAccessToken(
      ring,
      { sub: 'alice', sid: 'sid-alice', scopes: ['read', 'write'] },
      { ...config.jwt, nowMs: NOW * 1000 },
    )
    expect(await verify(minted.token)).toEqual({
      ok: true,
      claims: { sub: 'alice', sid: 'sid-alice', jti: minted.jti, iat: NOW, exp: NOW + TTL, scopes: ['read', 'write'] },
    })
  })

  it.each([
    ['typ "application/at+jwt" (RFC 9068 §4 allows the full media type)', { typ: 'application/at+jwt' }],
    ['typ "AT+JWT" (media types are case-insensitive)', { typ: 'AT+JWT' }],
  ])('accepts %s', async (_, header) => {
    await expectAccepted(await signWithTestKey(claims(), header, config))
  })
})

describe('verifyAccessToken: alg none (R-JWT-2), refused before any key is looked up', () => {
  const garbage = base64url.encode(crypto.getRandomValues(new Uint8Array(64)))
  const rows = ['none', 'None', 'NONE', 'nOnE'].flatMap((alg) => [
    [`alg "${alg}" with an empty signature`, alg, ''] as const,
    [`alg "${alg}" with a garbage signature`, alg, garbage] as const,
  ])

  it.each(rows)('rejects %s', async (_, alg, signature) => {
    const token = `${segment({ alg, typ: 'at+jwt', kid: ring.kid })}.${segment(claims())}.${signature}`
    const probe = watched(ring)
    await expectRejected(token, 'alg_none', probe.ring)
    expect(probe.lookups).toEqual([])
  })

  it.each([
    ['no alg at all', {}],
    ['a non-string alg', { alg: ['EdDSA'] }],
  ])('rejects a header with %s as alg_none', async (_, header) => {
    const token = `${segment({ ...header, typ: 'at+jwt', kid: ring.kid })}.${segment(claims())}.`
    await expectRejected(token, 'alg_none')
  })
})

describe('verifyAccessToken: algorithm substitution (R-JWT-1)', () => {
  it.each([
    ['HS256', () => crypto.getRandomValues(new Uint8Array(32))],
    ['RS256', async () => (await generateKeyPair('RS256')).privateKey],
    ['ES384', async () => (await generateKeyPair('ES384')).privateKey],
    ['PS256', async () => (await generateKeyPair('PS256')).privateKey],
  ] as const)('rejects a validly signed %s token carrying the real kid', async (alg, key) => {
    const token = await signWith(await key(), alg, claims(), { kid: ring.kid })
    const probe = watched(ring)
    await expectRejected(token, 'alg_not_allowed', probe.ring)
    expect(probe.lookups).toEqual([])
  })

  it.each([
    ['"Ed25519" (the RFC 9864 name of the same algorithm)', 'Ed25519'],
    ['"eddsa" (another casing)', 'eddsa'],
  ])('rejects alg %s even when signed with the real key', async (_, alg) => {
    await expectRejected(await signRaw({ alg, typ: 'at+jwt', kid: ring.kid }, claims()), 'alg_not_allowed')
  })
})

describe('verifyAccessToken: key confusion (R-JWT-3)', () => {
  // What an attacker can fetch from /.well-known/jwks.json, in every form a naive verifier might feed to HMAC.
  const forms: [string, () => Promise<Uint8Array>][] = [
    ['the public key as PEM (SPKI) text', async () => new TextEncoder().encode(await exportSPKI(await publicKey()))],
    ['the published JWK as a JSON string', async () => new TextEncoder().encode(JSON.stringify(ring.publicJwks[0]))],
    [
      'the bare public JWK {kty,crv,x} as a JSON string',
      async () => {
        const { kty, crv, x } = ring.publicJwks[0] as JWK
        return new TextEncoder().encode(JSON.stringify({ kty, crv, x }))
      },
    ],
    [
      'the SPKI DER bytes',
      async () => new Uint8Array((await crypto.subtle.exportKey('spki', await publicKey())) as ArrayBuffer),
    ],
    ['the raw 32-byte public key (x)', async () => base64url.decode((ring.publicJwks[0] as JWK).x as string)],
  ]

  async function publicKey(): Promise<CryptoKey> {
    const { kty, crv, x } = ring.publicJwks[0] as JWK
    return (await importJWK({ kty, crv, x }, 'EdDSA', { extractable: true })) as CryptoKey
  }

  it.each(forms)('rejects an HS256 token MAC’d with %s', async (_, secret) => {
    const token = await signWith(await secret(), 'HS256', claims(), { kid: ring.kid })
    await expectRejected(token, 'alg_not_allowed')
  })
})

describe('verifyAccessToken: key selection (R-JWT-10)', () => {
  let attacker: Awaited<ReturnType<typeof ed25519Jwks>>
  beforeAll(async () => {
    attacker = await ed25519Jwks()
  })

  it.each([
    ['an embedded jwk (no kid)', () => ({ jwk: attacker.publicJwk, kid: undefined })],
    ['an embedded jwk and the real kid', () => ({ jwk: attacker.publicJwk, kid: ring.kid })],
    ['a jku pointing at an attacker URL', () => ({ jku: 'https://attacker.example/jwks.json', kid: ring.kid })],
    ['an x5u pointing at an attacker URL', () => ({ x5u: 'https://attacker.example/cert.pem', kid: ring.kid })],
    ['an x5c chain', () => ({ x5c: [base64url.encode(new Uint8Array(64)).replace(/[-_]/g, 'A')], kid: ring.kid })],
  ])('rejects an attacker-signed token with %s, and fetches nothing', async (_, header) => {
    const token = await signWith(attacker.privateJwk, 'EdDSA', claims(), header())
    const probe = watched(ring)
    await expectRejected(token, 'embedded_key_material', probe.ring)
    expect(probe.lookups).toEqual([])
  })

  it('rejects key material in the header even on a token the real key signed', async () => {
    const token = await signWithTestKey(claims(), { jku: 'https://attacker.example/jwks.json' }, config)
    await expectRejected(token, 'embedded_key_material')
  })

  it.each([
    ['no kid', { kid: undefined }, 'kid_missing'],
    ['a numeric kid', { kid: 1 }, 'kid_missing'],
    ['an unknown kid', { kid: base64url.encode(crypto.getRandomValues(new Uint8Array(32))) }, 'kid_unknown'],
    ['kid "__proto__"', { kid: '__proto__' }, 'kid_unknown'],
    ['kid "constructor"', { kid: 'constructor' }, 'kid_unknown'],
  ])('rejects a token signed by the real key with %s', async (_, header, reason) => {
    await expectRejected(await signWithTestKey(claims(), header, config), reason)
  })

  it('rejects an attacker-signed Ed25519 token that names the real kid', async () => {
    const token = await signWith(attacker.privateJwk, 'EdDSA', claims(), { kid: ring.kid })
    await expectRejected(token, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
  })

  it('rejects a valid token whose signature was swapped for another token’s', async () => {
    const [header, payload] = (await signWithTestKey(claims(), {}, config)).split('.')
    const signature = (await signWithTestKey(claims(), {}, config)).split('.')[2]
    await expectRejected(`${header}.${payload}.${signature}`, 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED')
  })
})

describe('verifyAccessToken: time claims with 60 s skew (R-JWT-6)', () => {
  it('runs with the default skew and lifetime', () => {
    expect([SKEW, TTL]).toEqual([60, 900])
  })

  it.each([
    ['exp = now − 61 (one second past the skew)', { exp: NOW - 61, iat: NOW - 361 }, 'ERR_JWT_EXPIRED:exp'],
    ['nbf = now + 61', { nbf: NOW + 61 }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:nbf'],
    ['iat = now + 61', { iat: NOW + 61, exp: NOW + 61 + TTL }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:iat'],
    [
      'iat older than the lifetime plus skew (maxTokenAge)',
      { iat: NOW - TTL - SKEW - 1, exp: NOW + 100 },
      'ERR_JWT_EXPIRED:iat',
    ],
    ['exp = iat (no lifetime)', { iat: NOW - 10, exp: NOW - 10 }, 'claim_time_invalid'],
    ['exp as a string', { exp: String(NOW + TTL) }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:exp'],
    ['iat as a string', { iat: String(NOW) }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:iat'],
  ])('rejects %s', async (_, changes, reason) => {
    await expectRejected(await signWithTestKey(claims(changes), {}, config), reason)
  })

  it.each([
    ['exp = now − 59 (inside the skew)', { exp: NOW - 59, iat: NOW - 359 }],
    ['nbf = now + 59', { nbf: NOW + 59 }],
    ['iat = now + 59', { iat: NOW + 59, exp: NOW + 59 + TTL }],
    ['iat exactly lifetime plus skew ago', { iat: NOW - TTL - SKEW, exp: NOW + 100 }],
  ])('accepts %s', async (_, changes) => {
    await expectAccepted(await signWithTestKey(claims(changes), {}, config))
  })
})

describe('verifyAccessToken: required claims, issuer, audience, typ (R-JWT-4, R-JWT-5)', () => {
  it.each(['exp', 'iat', 'jti', 'sub', 'sid', 'iss', 'aud'])('rejects a token without %s', async (claim) => {
    const token = await signWithTestKey(claims({ [claim]: undefined }), {}, config)
    await expectRejected(token, `ERR_JWT_CLAIM_VALIDATION_FAILED:${claim}`)
  })

  it.each([
    ['a wrong iss', { iss: 'https://evil.example' }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:iss'],
    ['an iss differing in case', { iss: config.jwt.issuer.toUpperCase() }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:iss'],
    ['a wrong aud', { aud: 'another-service' }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:aud'],
    ['an aud list without ours', { aud: ['a', 'b'] }, 'ERR_JWT_CLAIM_VALIDATION_FAILED:aud'],
    ['a 21-character jti (under 128 bits)', { jti: 'a'.repeat(21) }, 'claim_jti_invalid'],
    ['a numeric jti', { jti: 1e22 }, 'claim_jti_invalid'],
    ['an empty sub', { sub: '' }, 'claim_sub_invalid'],
    ['a numeric sub', { sub: 42 }, 'claim_sub_invalid'],
    ['an empty sid', { sid: '' }, 'claim_sid_invalid'],
    ['an array scope', { scope: ['admin'] }, 'claim_scope_invalid'],
    ['a numeric scope', { scope: 1 }, 'claim_scope_invalid'],
  ])('rejects %s', async (_, changes, reason) => {
    await expectRejected(await signWithTestKey(claims(changes), {}, config), reason)
  })

  it('accepts a 22-character jti (exactly 128 bits)', async () => {
    await expectAccepted(await signWithTestKey(claims({ jti: 'a'.repeat(22) }), {}, config))
  })

  it.each([
    ['typ "JWT"', { typ: 'JWT' }],
    ['a reset-token typ', { typ: 'reset+jwt' }],
    ['an ID-token typ', { typ: 'id_token+jwt' }],
    ['no typ', { typ: undefined }],
  ])('rejects a validly signed token with %s', async (_, header) => {
    await expectRejected(await signWithTestKey(claims(), header, config), 'ERR_JWT_CLAIM_VALIDATION_FAILED:typ')
  })
})

describe('verifyAccessToken: compact-format gate (R-JWT-13), before any decoding', () => {
  let valid: string
  let parse: MockInstance<typeof JSON.parse>
  beforeAll(async () => {
    valid = await signWithTestKey(claims(), {}, config)
  })
  beforeEach(() => {
    parse = vi.spyOn(JSON, 'parse')
  })

  /** The shortest token at least `length` characters long that is otherwise valid (padded with a claim). */
  async function paddedToken(length: number) {
    const base = claims()
    const sign = (pad: number) => signWithTestKey({ ...base, pad: 'p'.repeat(pad) }, {}, config)
    // Each pad character adds 4/3 of a base64url character: start a few short of the target and step up.
    let pad = Math.max(0, Math.floor(((length - (await sign(0)).length) * 3) / 4) - 3)
    for (let token = await sign(pad); ; token = await sign(++pad)) if (token.length >= length) return token
  }

  it.each([
    [
      'a JSON-serialized JWS',
      () =>
        JSON.stringify({
          protected: valid.split('.')[0],
          payload: valid.split('.')[1],
          signature: valid.split('.')[2],
        }),
    ],
    ['a value with "{"', () => `{${valid}`],
    ['a quoted token', () => `"${valid}"`],
    ['two segments', () => valid.split('.').slice(0, 2).join('.')],
    ['four segments', () => `${valid}.${valid.split('.')[2]}`],
    ['an empty payload segment', () => `${valid.split('.')[0]}..${valid.split('.')[2]}`],
    ['a trailing newline', () => `${valid}\n`],
    ['base64 padding', () => `${valid.split('.')[0]}=.${valid.split('.').slice(1).join('.')}`],
    ['the standard base64 alphabet', () => `${valid.split('.')[0]}+/.${valid.split('.').slice(1).join('.')}`],
    ['an empty string', () => ''],
  ])('rejects %s as not_compact_jws without parsing JSON', async (_, build) => {
    const token = build()
    parse.mockClear()
    await expectRejected(token, 'not_compact_jws')
    expect(parse).not.toHaveBeenCalled()
  })

  it('rejects an otherwise valid token over 4096 bytes as too_large, without parsing JSON', async () => {
    const token = await paddedToken(MAX_TOKEN_BYTES + 1)
    expect(token.length).toBeGreaterThan(MAX_TOKEN_BYTES)
    parse.mockClear()
    await expectRejected(token, 'too_large')
    expect(parse).not.toHaveBeenCalled()
  })

  it('accepts a valid token just under the limit', async () => {
    const token = await paddedToken(MAX_TOKEN_BYTES - 3)
    expect(token.length).toBeLessThanOrEqual(MAX_TOKEN_BYTES)
    await expectAccepted(token)
  })

  it('rejects a compact value whose header is not JSON as header_undecodable', async () => {
    await expectRejected(`${base64url.encode('not json')}.${valid.split('.')[1]}.`, 'header_undecodable')
  })
})

describe('verifyAccessToken: rotation (R-JWT-11)', () => {
  it('accepts a token of a key listed in JWT_PUBLIC_KEYS, and refuses it once the key is removed', async () => {
    const next = await ed25519Jwks()
    const { d: _, ...previousPublic } = JSON.parse(env.JWT_PRIVATE_KEY) as JWK
    const overlap = testConfig({
      ...env,
      JWT_PRIVATE_KEY: JSON.stringify(next.privateJwk),
      JWT_PUBLIC_KEYS: JSON.stringify([previousPublic]),
    })
    const after = testConfig({ ...env, JWT_PRIVATE_KEY: JSON.stringify(next.privateJwk) })
    const overlapRing = await loadKeyRing(overlap.jwt.signing)
    const afterRing = await loadKeyRing(after.jwt.signing)
    expect(overlapRing.kid).not.toBe(ring.kid)

    const old = await signWithTestKey(claims(), {}, config)
    await expectAccepted(old, overlapRing, overlap)
    await expectRejected(old, 'kid_unknown', afterRing, after)
    // The new key signs from the start, under its own kid, on both rings.
    const fresh = await mintAccessToken(
      afterRing,
      { sub: 'u', sid: 's', scopes: [] },
      { ...after.jwt, nowMs: NOW * 1000 },
    )
    await expectAccepted(fresh.token, overlapRing, overlap)
    await expectAccepted(fresh.token, afterRing, after)
  })
})

describe('verifyAccessToken: HS256 mode (R-JWT-12)', () => {
  const secret = hexSecret()
  const previous = hexSecret()
  const hsConfig = (bindings: Record<string, string>) => testConfig({ ...env, JWT_PRIVATE_KEY: undefined, ...bindings })
  const current = hsConfig({ JWT_SECRET: secret })
  const rotated = hsConfig({ JWT_SECRET: secret, JWT_PREVIOUS_SECRETS: previous })
  const retired = hsConfig({ JWT_SECRET: previous })
  let hsRing: KeyRing
  beforeAll(async () => {
    hsRing = await loadKeyRing(current.jwt.signing)
  })
  const mint = async (keyRing: KeyRing, cfg: Config) =>
    (await mintAccessToken(keyRing, { sub: 'u', sid: 's', scopes: ['a'] }, { ...cfg.jwt, nowMs: NOW * 1000 })).token

  it('accepts a valid HS256 token', async () => {
    expect(hsRing.alg).toBe('HS256')
    await expectAccepted(await mint(hsRing, current), hsRing, current)
  })

  it('refuses an EdDSA token, even one signed by the configured key pair', async () => {
    await expectRejected(await signWithTestKey(claims(), {}, config), 'alg_not_allowed', hsRing, current)
  })

  it.each([
    [
      'alg none',
      async () => `${segment({ alg: 'none', typ: 'at+jwt', kid: hsRing.kid })}.${segment(claims())}.`,
      'alg_none',
    ],
    [
      'HS384 with the right secret',
      async () => signWith(new TextEncoder().encode(secret), 'HS384', claims(), { kid: hsRing.kid }),
      'alg_not_allowed',
    ],
    [
      'HS256 under the current kid with another secret',
      async () => signWith(new TextEncoder().encode(hexSecret()), 'HS256', claims(), { kid: hsRing.kid }),
      'ERR_JWS_SIGNATURE_VERIFICATION_FAILED',
    ],
  ])('refuses %s', async (_, build, reason) => {
    await expectRejected(await build(), reason, hsRing, current)
  })

  it('accepts a token of a previous secret while it is listed, and refuses it once removed', async () => {
    const retiredRing = await loadKeyRing(retired.jwt.signing)
    const old = await mint(retiredRing, retired)
    await expectAccepted(old, await loadKeyRing(rotated.jwt.signing), rotated)
    await expectRejected(old, 'kid_unknown', hsRing, current)
  })
})

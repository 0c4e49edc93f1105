/**
 * Test tokens: valid ones minted by the gateway's own code, and arbitrary ones (any header, any claims, any key)
 * for attack tables. Keys come from the test bindings (a fresh Ed25519 key per run, see vitest.config.ts).
 */
import { env } from 'cloudflare:workers'
import { base64url, importJWK, type JWK, type JWTPayload, SignJWT } from 'jose'
import { type Config, parseConfig } from '../config/schema'
import { type KeyRing, loadKeyRing } from '../tokens/keys'
import { type AccessTokenSubject, mintAccessToken } from '../tokens/mint'

/** The parsed configuration of the test bindings (or of `bindings`). */
const configs = new WeakMap<object, Config>()

/** The parsed configuration of the test bindings (or of `bindings`), parsed once per bindings object. */
export function testConfig(bindings: object = env): Config {
  let config = configs.get(bindings)
  if (config === undefined) {
    const result = parseConfig(bindings as Record<string, unknown>)
    if (!result.ok) throw new Error(`test bindings are invalid: ${JSON.stringify(result.issues)}`)
    config = result.config
    configs.set(bindings, config)
  }
  return config
}

const rings = new WeakMap<Config['jwt']['signing'], Promise<KeyRing>>()

/** The key ring of `config` (imported once per signing configuration: tests mint many tokens). */
export function testKeyRing(config: Config = testConfig()): Promise<KeyRing> {
  let ring = rings.get(config.jwt.signing)
  if (ring === undefined) {
    ring = loadKeyRing(config.jwt.signing)
    rings.set(config.jwt.signing, ring)
  }
  return ring
}

/** A valid access token from the gateway's own minting code. */
export async function mintTestToken(
  subject: Partial<AccessTokenSubject> = {},
  config: Config = testConfig(),
  nowMs?: number,
) {
  return mintAccessToken(
    await testKeyRing(config),
    { sub: `user-${crypto.randomUUID()}`, sid: `sid-${crypto.randomUUID()}`, scopes: [], ...subject },
    { ...config.jwt, ...(nowMs === undefined ? {} : { nowMs }) },
  )
}

/** The claims a valid token carries, for building variants. */
export function validClaims(config: Config = testConfig(), nowSeconds = Math.floor(Date.now() / 1000)): JWTPayload {
  return {
    iss: config.jwt.issuer,
    aud: config.jwt.audience,
    sub: `user-${crypto.randomUUID()}`,
    sid: `sid-${crypto.randomUUID()}`,
    jti: base64url.encode(crypto.getRandomValues(new Uint8Array(18))),
    iat: nowSeconds,
    exp: nowSeconds + config.jwt.accessTtlSeconds,
    scope: '',
  }
}

/** Signs `claims` with the test signing key (EdDSA), under any protected header. */
export async function signWithTestKey(claims: JWTPayload, header: Record<string, unknown> = {}, config = testConfig()) {
  const ring = await testKeyRing(config)
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: ring.kid, ...header } as { alg: string })
    .sign(ring.signingKey)
}

/** Signs `claims` with an arbitrary key (an attacker's), e.g. an HMAC secret or a fresh Ed25519 JWK. */
export async function signWith(
  key: CryptoKey | Uint8Array | JWK,
  alg: string,
  claims: JWTPayload,
  header: Record<string, unknown> = {},
) {
  const material = key instanceof Uint8Array || key instanceof CryptoKey ? key : await importJWK(key, alg)
  return new SignJWT(claims).setProtectedHeader({ alg, typ: 'at+jwt', ...header } as { alg: string }).sign(material)
}

/** base64url(JSON) of a value: for hand-built tokens (alg none, malformed segments). */
export function segment(value: unknown): string {
  return base64url.encode(new TextEncoder().encode(JSON.stringify(value)))
}

export const authHeader = (token: string) => ({ authorization: `Bearer ${token}` })

/**
 * The key ring of an isolate: the current signing key, every key accepted for verification (selected by `kid` only,
 * each bound to exactly one algorithm: R-JWT-1, R-JWT-10 in docs/requirements.md), and the public JWK set the origin
 * can fetch. Importing keys is async: the gateway keeps the promise (`keyRingOnce`).
 */
import { base64url, calculateJwkThumbprint, importJWK, type JWK } from 'jose'
import type { Config, Ed25519PublicJwk } from '../config/schema'

export type SigningAlg = Config['jwt']['signing']['alg']

export interface KeyRing {
  alg: SigningAlg
  /** `kid` of the key new tokens are signed with. */
  kid: string
  signingKey: CryptoKey | Uint8Array
  /** Every key a token may name in `kid`: the current one first, then upcoming and retired ones. */
  verificationKeys: ReadonlyMap<string, CryptoKey | Uint8Array>
  /** Public JWKs to publish at /.well-known/jwks.json (EdDSA only; empty for HS256). */
  publicJwks: readonly JWK[]
}

/** Imports the keys of `signing` (async: Web Crypto imports). */
export function loadKeyRing(signing: Config['jwt']['signing']): Promise<KeyRing> {
  return buildKeyRing(signing)
}

/**
 * The key ring, imported on first use and kept; a failed import is not kept, so the next call tries again.
 * The gateway holds one per isolate (`createGateway`).
 */
export function keyRingOnce(signing: Config['jwt']['signing']): () => Promise<KeyRing> {
  let ring: Promise<KeyRing> | undefined
  return () => {
    if (ring === undefined) {
      const loading = buildKeyRing(signing)
      ring = loading
      loading.catch(() => {
        if (ring === loading) ring = undefined
      })
    }
    return ring
  }
}

async function buildKeyRing(signing: Config['jwt']['signing']): Promise<KeyRing> {
  if (signing.alg === 'EdDSA') {
    const { d, ...current } = signing.privateJwk
    const publics = dedupe([current, ...signing.publicJwks])
    const verificationKeys = new Map<string, CryptoKey>()
    const publicJwks: JWK[] = []
    for (const jwk of publics) {
      const kid = await calculateJwkThumbprint(jwk)
      verificationKeys.set(kid, (await importJWK({ ...jwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey)
      publicJwks.push({ ...jwk, kid, alg: 'EdDSA', use: 'sig' })
    }
    const kid = await calculateJwkThumbprint(current)
    const signingKey = (await importJWK({ ...signing.privateJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey
    return { alg: 'EdDSA', kid, signingKey, verificationKeys, publicJwks }
  }
  const secrets = [...new Set([signing.secret, ...signing.previousSecrets])]
  const verificationKeys = new Map<string, Uint8Array>()
  for (const secret of secrets) verificationKeys.set(await hmacKid(secret), new TextEncoder().encode(secret))
  const kid = await hmacKid(signing.secret)
  return { alg: 'HS256', kid, signingKey: verificationKeys.get(kid) as Uint8Array, verificationKeys, publicJwks: [] }
}

function dedupe(jwks: Ed25519PublicJwk[]): Ed25519PublicJwk[] {
  return [...new Map(jwks.map((jwk) => [jwk.x, jwk])).values()]
}

/**
 * A stable `kid` for an HMAC secret: a truncated, domain-separated SHA-256, so rotating the secret rotates the
 * kid without configuration. 96 bits of a hash of a 256-bit random secret reveal nothing usable.
 */
async function hmacKid(secret: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(`edgeward:hs256-kid:${secret}`))
  return `hs-${base64url.encode(new Uint8Array(digest).slice(0, 12))}`
}

/** Key material for edgeward, generated with Node's crypto: Ed25519 JWKs and HS256 secrets. */
import { generateKeyPairSync, randomBytes } from 'node:crypto'

export interface Ed25519Jwks {
  /** The private JWK (`kty`, `crv`, `x`, `d`): a secret, for JWT_PRIVATE_KEY. */
  privateJwk: { kty: string; crv: string; x: string; d: string }
  /** The public half (`kty`, `crv`, `x`): safe to publish, for JWT_PUBLIC_KEYS during rotation. */
  publicJwk: { kty: string; crv: string; x: string }
}

export function generateEd25519Jwks(): Ed25519Jwks {
  const { privateKey } = generateKeyPairSync('ed25519')
  const { kty, crv, x, d } = privateKey.export({ format: 'jwk' }) as Record<string, string>
  if (!kty || !crv || !x || !d) throw new Error('Node did not export a complete Ed25519 JWK')
  return { privateJwk: { kty, crv, x, d }, publicJwk: { kty, crv, x } }
}

/** A 256-bit random HS256 secret, base64url (43 characters). */
export function generateHmacSecret(): string {
  return randomBytes(32).toString('base64url')
}

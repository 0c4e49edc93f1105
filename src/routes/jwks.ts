/**
 * `GET /.well-known/jwks.json`: the public keys the origin (or anyone) can verify access tokens with — the current
 * signing key plus upcoming and retired ones (EdDSA mode). HS256 has nothing public to publish: 404.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../env'
import { GatewayError } from '../errors/gateway-error'
import type { Gateway } from '../gateway'

/**
 * How long verifiers may cache the set. Rotation publishes a new key at least this long before signing with it
 * (R-JWT-11 in docs/requirements.md; README "Key rotation").
 */
export const JWKS_MAX_AGE_SECONDS = 300

export async function jwks(c: Context<AppEnv>, { keyRing }: Pick<Gateway, 'keyRing'>): Promise<Response> {
  const ring = await keyRing()
  if (ring.alg !== 'EdDSA') throw new GatewayError('not_found')
  c.header('cache-control', `public, max-age=${JWKS_MAX_AGE_SECONDS}`)
  return c.json({ keys: ring.publicJwks }, 200, { 'content-type': 'application/jwk-set+json' })
}

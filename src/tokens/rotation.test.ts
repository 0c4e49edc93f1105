/**
 * The key rotations README describes ("Key rotation (EdDSA)", and HS256 below it), walked through the worker's own
 * configuration and key ring. Each step is a deploy or a secret change, and while one rolls out, isolates on the
 * previous version and on the new one serve side by side: each must accept every token the other mints, and the
 * JWKS either publishes must hold every key those tokens name (an origin may fetch it from either). Keep the steps
 * here as README writes them.
 */
import { env } from 'cloudflare:workers'
import { decodeProtectedHeader, type JWK } from 'jose'
import { describe, expect, it } from 'vitest'
import type { Config } from '../config/config'
import { parseConfig } from '../config/schema'
import { loadKeyRing } from './keys'
import { mintAccessToken } from './mint'
import { verifyAccessToken } from './verify'

async function ed25519() {
  const pair = (await crypto.subtle.generateKey({ name: 'Ed25519' }, true, ['sign', 'verify'])) as CryptoKeyPair
  const jwk = (await crypto.subtle.exportKey('jwk', pair.privateKey)) as JWK
  return {
    private: JSON.stringify({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d }),
    public: { kty: 'OKP', crv: 'Ed25519', x: jwk.x },
  }
}

const hmacSecret = () => btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(32))))

/** The configuration of one step: the test bindings with these signing variables instead of theirs. */
function configOf(vars: Record<string, string | undefined>): Config {
  const {
    JWT_PRIVATE_KEY: _,
    JWT_SECRET: __,
    JWT_PUBLIC_KEYS: ___,
    JWT_PREVIOUS_SECRETS: ____,
    ...rest
  } = env as unknown as Record<string, unknown>
  const result = parseConfig({ ...rest, ...vars })
  if (!result.ok) throw new Error(JSON.stringify(result.issues))
  return result.config
}

/** Checks each pair of consecutive steps as a rollout serves them: both ways, tokens and JWKS. */
async function expectSeamless(steps: [name: string, vars: Record<string, string | undefined>][]) {
  const versions = await Promise.all(
    steps.map(async ([name, vars]) => {
      const config = configOf(vars)
      const ring = await loadKeyRing(config.jwt.signing)
      const { token } = await mintAccessToken(ring, { sub: 'user-1', sid: 'sid-1', scopes: [] }, config.jwt)
      return { name, config, ring, token }
    }),
  )
  for (let i = 1; i < versions.length; i++) {
    const pair = [versions[i - 1], versions[i]] as const
    for (const minter of pair) {
      for (const verifier of pair) {
        const verified = await verifyAccessToken(minter.token, verifier.ring, verifier.config.jwt)
        expect(verified.ok, `${verifier.name} accepts a token minted at ${minter.name}`).toBe(true)
        if (verifier.ring.alg === 'EdDSA') {
          const kids = verifier.ring.publicJwks.map((jwk) => jwk.kid)
          expect(kids, `${verifier.name}'s JWKS names ${minter.name}'s key`).toContain(
            decodeProtectedHeader(minter.token).kid,
          )
        }
      }
    }
  }
}

describe('key rotation as README describes it', () => {
  it('EdDSA: every deploy and secret change of it is seamless while both versions serve', async () => {
    const [old, next] = await Promise.all([ed25519(), ed25519()])
    await expectSeamless([
      ['before', { JWT_PRIVATE_KEY: old.private }],
      ['2: publish the new key', { JWT_PRIVATE_KEY: old.private, JWT_PUBLIC_KEYS: JSON.stringify([next.public]) }],
      [
        '3: keep the old key as well',
        { JWT_PRIVATE_KEY: old.private, JWT_PUBLIC_KEYS: JSON.stringify([next.public, old.public]) },
      ],
      [
        '3: sign with the new key',
        { JWT_PRIVATE_KEY: next.private, JWT_PUBLIC_KEYS: JSON.stringify([next.public, old.public]) },
      ],
      // Tokens signed with the old key have expired by now (ACCESS_TOKEN_TTL_SECONDS + skew).
      ['4: drop the old key', { JWT_PRIVATE_KEY: next.private }],
    ])
  })

  it('HS256: every secret change of it is seamless while both versions serve', async () => {
    const [old, next] = [hmacSecret(), hmacSecret()]
    await expectSeamless([
      ['before', { JWT_SECRET: old }],
      ['1: accept the new secret', { JWT_SECRET: old, JWT_PREVIOUS_SECRETS: next }],
      ['2: sign with the new secret (one bulk change)', { JWT_SECRET: next, JWT_PREVIOUS_SECRETS: old }],
      ['3: drop the old secret', { JWT_SECRET: next }],
    ])
  })
})

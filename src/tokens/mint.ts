/**
 * Minting access tokens (R-JWT-5, R-JWT-7, R-JWT-8 in docs/requirements.md): `typ: at+jwt`, `kid`, every required
 * claim, 144-bit jti.
 */
import { base64url, SignJWT } from 'jose'
import type { KeyRing } from './keys'
import { ACCESS_TOKEN_TYP } from './verify'

export interface MintOptions {
  issuer: string
  audience: string
  accessTtlSeconds: number
  /** The clock, injectable for tests. @default Date.now() */
  nowMs?: number
}

export interface AccessTokenSubject {
  sub: string
  sid: string
  scopes: readonly string[]
}

export interface MintedAccessToken {
  token: string
  jti: string
  iat: number
  exp: number
  expiresIn: number
}

/** 18 random bytes: 144 bits, 24 base64url characters (at least the 128 bits R-JWT-8 asks for). */
const JTI_BYTES = 18

export async function mintAccessToken(
  ring: KeyRing,
  subject: AccessTokenSubject,
  options: MintOptions,
): Promise<MintedAccessToken> {
  const iat = Math.floor((options.nowMs ?? Date.now()) / 1000)
  const exp = iat + options.accessTtlSeconds
  const jti = base64url.encode(crypto.getRandomValues(new Uint8Array(JTI_BYTES)))
  const token = await new SignJWT({ sid: subject.sid, scope: subject.scopes.join(' ') })
    .setProtectedHeader({ alg: ring.alg, typ: ACCESS_TOKEN_TYP, kid: ring.kid })
    .setIssuer(options.issuer)
    .setAudience(options.audience)
    .setSubject(subject.sub)
    .setJti(jti)
    .setIssuedAt(iat)
    .setExpirationTime(exp)
    .sign(ring.signingKey)
  return { token, jti, iat, exp, expiresIn: options.accessTtlSeconds }
}

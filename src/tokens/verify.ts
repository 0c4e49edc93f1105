/**
 * Access-token verification: pure, no I/O, clock injected. Every rule that decides whether a bearer value is a valid
 * access token lives here (the R-JWT rules of docs/requirements.md but revocation). The result carries a reason for the
 * log; clients are only ever told `invalid_token`.
 */
import { decodeProtectedHeader, errors, type JWTPayload, jwtVerify } from 'jose'
import type { AccessTokenClaims, VerifyOptions } from './claims'
import type { KeyRing } from './keys'
import { recall, remember } from './verified-cache'

/** Compact JWS only (R-JWT-13): three base64url segments, checked before any decoding. */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/
export const MAX_TOKEN_BYTES = 4096
export const ACCESS_TOKEN_TYP = 'at+jwt'
/** 128 random bits, base64url: the shortest jti this gateway mints or accepts. */
const MIN_JTI_LENGTH = 22
/** Header parameters that name key material; trusting them would let a token choose its own key. */
const KEY_MATERIAL_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const

export type { AccessTokenClaims, VerifyOptions }

export type VerifyResult = { ok: true; claims: AccessTokenClaims } | { ok: false; reason: string }

export async function verifyAccessToken(token: string, ring: KeyRing, options: VerifyOptions): Promise<VerifyResult> {
  if (token.length > MAX_TOKEN_BYTES) return fail('too_large')
  const known = recall(ring, options, token)
  if (known !== undefined) return { ok: true, claims: known }
  if (!COMPACT_JWS.test(token)) return fail('not_compact_jws')

  let header: ReturnType<typeof decodeProtectedHeader>
  try {
    header = decodeProtectedHeader(token)
  } catch {
    return fail('header_undecodable')
  }
  // Before anything else: `none` in any casing (R-JWT-2), then the one algorithm of this ring (R-JWT-1).
  if (typeof header.alg !== 'string' || header.alg.toLowerCase() === 'none') return fail('alg_none')
  if (header.alg !== ring.alg) return fail('alg_not_allowed')
  if (KEY_MATERIAL_HEADERS.some((name) => name in header)) return fail('embedded_key_material')
  if (typeof header.kid !== 'string') return fail('kid_missing')
  const key = ring.verificationKeys.get(header.kid)
  if (key === undefined) return fail('kid_unknown')

  let payload: JWTPayload
  try {
    ;({ payload } = await jwtVerify(token, key, {
      algorithms: [ring.alg],
      typ: ACCESS_TOKEN_TYP,
      issuer: options.issuer,
      audience: options.audience,
      requiredClaims: ['exp', 'iat', 'jti', 'sub', 'sid'],
      maxTokenAge: options.accessTtlSeconds,
      clockTolerance: options.clockSkewSeconds,
      currentDate: options.now ?? new Date(),
    }))
  } catch (error) {
    if (error instanceof errors.JOSEError) {
      // JWTExpired is not a JWTClaimValidationFailed in jose 6, yet names its claim too: `exp`, or `iat` when the
      // token is older than maxTokenAge. Both are kept, so the log tells an expired token from an over-age one.
      const claim =
        error instanceof errors.JWTClaimValidationFailed || error instanceof errors.JWTExpired ? `:${error.claim}` : ''
      return fail(`${error.code}${claim}`)
    }
    throw error
  }
  const result = toClaims(payload)
  if (result.ok) remember(ring, options, token, result.claims)
  return result
}

function toClaims(payload: JWTPayload): VerifyResult {
  const { sub, jti, iat, exp } = payload
  const sid: unknown = payload.sid
  const scope: unknown = payload.scope ?? ''
  if (typeof sub !== 'string' || sub.length === 0) return fail('claim_sub_invalid')
  if (typeof sid !== 'string' || sid.length === 0) return fail('claim_sid_invalid')
  if (typeof jti !== 'string' || jti.length < MIN_JTI_LENGTH) return fail('claim_jti_invalid')
  if (typeof scope !== 'string') return fail('claim_scope_invalid')
  if (typeof iat !== 'number' || typeof exp !== 'number' || exp <= iat) return fail('claim_time_invalid')
  const tenant: unknown = payload.tenant
  if (tenant !== undefined && (typeof tenant !== 'string' || tenant.length === 0)) return fail('claim_tenant_invalid')
  const claims: AccessTokenClaims = { sub, sid, jti, iat, exp, scopes: scope.split(' ').filter(Boolean) }
  if (tenant !== undefined) claims.tenant = tenant
  return { ok: true, claims }
}

function fail(reason: string): VerifyResult {
  return { ok: false, reason }
}

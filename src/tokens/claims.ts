/** What verifying an access token takes and gives, shared by the verifier and its memory of verified tokens. */

export interface VerifyOptions {
  issuer: string
  audience: string
  clockSkewSeconds: number
  accessTtlSeconds: number
  /** The clock, injectable for tests. @default new Date() */
  now?: Date
}

export interface AccessTokenClaims {
  sub: string
  sid: string
  jti: string
  iat: number
  exp: number
  scopes: string[]
  /** Optional `tenant` claim: the per-tenant rate-limit key when present. */
  tenant?: string
}

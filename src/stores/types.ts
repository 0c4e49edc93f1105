/** The gateway's state behind small interfaces. Implementations are wired in app.ts only. */

/** What a revocation check needs from a verified access token. */
export interface RevocationSubject {
  jti: string
  sid: string
  sub: string
  /** Issued-at, seconds. */
  iat: number
}

export type RevocationStatus =
  | { status: 'ok' }
  | { status: 'revoked'; scope: 'token' | 'session' | 'user' }
  /** The store could not answer (error or timeout): the caller decides, and fails closed by default (R-JWT-9). */
  | { status: 'unavailable'; cause: unknown }

export interface RevocationStore {
  /** One read covering the token, its session and its user. Never throws. */
  check(subject: RevocationSubject): Promise<RevocationStatus>
  /**
   * Revokes one access token and, optionally, its whole session, in one write. Entries expire by themselves:
   * the token's after its remaining lifetime plus skew, the session's after the longest access-token lifetime
   * plus skew (no token of the session can outlive that). Throws if the write fails.
   */
  revoke(entry: { jti: string; exp: number; sid?: string }, nowSeconds: number): Promise<void>
  /**
   * Revokes every access token of `sub` whose `iat` is before `cutoffSeconds` (logout-all, password change).
   * `iat` has one-second resolution: to cover tokens minted earlier in the current second, pass
   * `Math.floor(now / 1000) + 1` (a token minted later in that same second is then refused too: fail safe).
   * The cutoff only ever moves forward. Throws if the write fails.
   */
  revokeUserBefore(sub: string, cutoffSeconds: number): Promise<void>
}

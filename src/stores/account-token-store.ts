/**
 * The interface of single-use account tokens (src/stores/d1/account-tokens.ts, src/stores/memory/account-tokens.ts),
 * kept apart from types.ts, which re-exports it: import it from there like every other store interface.
 */

/** What a single-use account token is for. A token of one purpose is never accepted for the other. */
export type AccountTokenPurpose = 'verify_email' | 'password_reset'

/** What a live account token grants: whose it is and, for `verify_email`, the password registered with it. */
export interface AccountTokenGrant {
  userId: string
  purpose: AccountTokenPurpose
  /** Set on `verify_email` tokens only. */
  pendingPasswordHash: string | null
  /** Unix seconds. */
  expiresAt: number
}

/**
 * Single-use tokens that prove control of an address (verification, password reset): 256 random bits, stored only
 * as SHA-256, short-lived. A token is live until it expires, is consumed, or is replaced: issuing one of a purpose
 * deletes the user's unconsumed ones of that purpose. Unknown, malformed, expired, consumed, replaced and
 * other-purpose tokens all read as null. D1 errors are thrown: the caller answers 503.
 */
export interface AccountTokenStore {
  /**
   * Issues a token and returns the raw value (never stored, never logged) with its expiry, unix seconds.
   * `pendingPasswordHash` is required for `verify_email` and refused for `password_reset` (RangeError), as is a
   * non-positive or fractional `ttlSeconds`. Throws for an unknown user.
   */
  issue(input: {
    userId: string
    purpose: AccountTokenPurpose
    ttlSeconds: number
    pendingPasswordHash?: string
  }): Promise<{ token: string; expiresAt: number }>
  /** The grant of a live token, without consuming it. */
  find(rawToken: string, purpose: AccountTokenPurpose): Promise<AccountTokenGrant | null>
  /**
   * Consumes a live token in one conditional write and returns its grant; of any number of concurrent calls with
   * one token, exactly one gets the grant.
   */
  consume(rawToken: string, purpose: AccountTokenPurpose): Promise<AccountTokenGrant | null>
  /** Deletes at most `limit` expired or consumed tokens; returns how many. */
  purgeExpired(nowSeconds: number, limit?: number): Promise<number>
  /**
   * Ends every unused token of the user, of both purposes (a password change, a disabled account): a link mailed
   * before then proves nothing after it. Returns how many.
   */
  revokeForUser(userId: string): Promise<number>
}

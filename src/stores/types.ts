/** The gateway's state behind small interfaces. Implementations are wired in app.ts only. */
import type { RateLimitPolicy } from '../lib/rate-limit-policies'

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
  /**
   * The store could not answer (error or timeout): the caller decides, and fails closed by default (R-JWT-9 in
   * docs/requirements.md).
   */
  | { status: 'unavailable'; cause: unknown }

export interface RevocationStore {
  /** One read covering the token, its session and its user. Never throws. */
  check(subject: RevocationSubject): Promise<RevocationStatus>
  /**
   * Revokes one access token and, optionally, its whole session, in one write. Entries expire by themselves (S-BL-1):
   * the token's after its remaining lifetime plus skew, the session's after the longest access-token lifetime
   * plus skew (no token of the session can outlive that). Throws if the write fails.
   */
  revoke(entry: { jti: string; exp: number; sid?: string }, nowSeconds: number): Promise<void>
  /**
   * Revokes every access token of one session (a refresh family: refresh-token reuse, logout by refresh token).
   * The entry lives as long as the longest access-token lifetime plus skew. Throws if the write fails.
   */
  revokeSession(sid: string): Promise<void>
  /**
   * Revokes every access token of `sub` whose `iat` is before `cutoffSeconds` (logout-all, password change).
   * `iat` has one-second resolution: to cover tokens minted earlier in the current second, pass
   * `Math.floor(now / 1000) + 1` (a token minted later in that same second is then refused too: fail safe).
   * The cutoff only ever moves forward. Throws if the write fails.
   */
  revokeUserBefore(sub: string, cutoffSeconds: number): Promise<void>
}

/** An account row. Times are unix seconds. */
export interface User {
  id: string
  /** Normalized (NFC, trimmed, lower-cased): `normalizeEmail`. */
  email: string
  passwordHash: string
  scopes: string[]
  createdAt: number
  updatedAt: number
  disabledAt: number | null
  /** When the owner proved the address; null while it is pending (such an account cannot sign in). */
  emailVerifiedAt: number | null
}

export type CreateUserResult = { created: true; user: User } | { created: false }

/**
 * Accounts in D1. Emails are normalized by the store and unique case-insensitively. D1 errors (unavailable,
 * overloaded) are thrown: the caller answers 503.
 */
export interface UserStore {
  /**
   * Inserts a user. A duplicate email (after normalization, any case) is `{ created: false }`, never an error.
   * Throws a `RangeError` for an email `normalizeEmail` rejects or a scope containing whitespace. `verified: false`
   * creates a pending account (`emailVerifiedAt` null); by default the address counts as verified at creation.
   */
  create(input: {
    email: string
    passwordHash: string
    scopes?: readonly string[]
    verified?: boolean
  }): Promise<CreateUserResult>
  /** Normalizes `email` first; an unacceptable email is simply not found. */
  findByEmail(email: string): Promise<User | null>
  findById(id: string): Promise<User | null>
  /**
   * Replaces the hash and bumps `updated_at`. With `expected`, only while the stored hash is still that one (a
   * re-hash must not undo a reset or change that landed since it verified the password). False when no such user,
   * or when the stored hash is no longer `expected`.
   */
  setPasswordHash(id: string, passwordHash: string, expected?: string): Promise<boolean>
  /**
   * Disables the account from `disabledAt` (unix seconds), or enables it again (null), without touching
   * `updatedAt`. A disabled account cannot log in or refresh. False when no such user.
   */
  setDisabled(id: string, disabledAt: number | null): Promise<boolean>
  /**
   * Replaces the scopes (they go into the access tokens minted from now on) and bumps `updated_at`. Throws a
   * `RangeError`, as `create` does, for an empty scope or one containing whitespace. False when no such user.
   */
  setScopes(id: string, scopes: readonly string[]): Promise<boolean>
  /** Deletes the account with its refresh families and tokens (ON DELETE CASCADE). False when no such user. */
  delete(id: string): Promise<boolean>
  /**
   * Marks a pending address verified and sets the password registered with the verification, bumping
   * `updated_at`. False, changing nothing, when no such user, or it is verified already or disabled.
   */
  verifyEmail(id: string, passwordHash: string): Promise<boolean>
}

/** Single-use verification and password-reset tokens: in a file of their own, named here with the others. */
export type { AccountTokenGrant, AccountTokenPurpose, AccountTokenStore } from './account-token-store'

export interface IssuedRefreshToken {
  /** The raw opaque token: returned once, never stored or logged. */
  token: string
  familyId: string
  userId: string
  /** When this token stops working unless rotated (idle timeout, capped by the family's absolute lifetime), unix s. */
  expiresAt: number
}

/** A live session (refresh family) as its owner sees it. Times are unix seconds. */
export interface FamilySummary {
  id: string
  /** The audience the family was issued for. */
  client: string
  createdAt: number
  /** The last rotation, or the login when it never rotated. */
  lastUsedAt: number
  /** The idle expiry: when the session ends unless it is used (never later than its absolute expiry). */
  expiresAt: number
}

/**
 * Outcome of presenting a refresh token: rotation, the grace window or reuse. `invalid` covers unknown, expired (idle
 * or absolute, R-RT-10), revoked, other-client and disabled-user tokens alike, so the caller cannot tell them apart;
 * `reuse` has already revoked the family (reason `reuse`) and the caller should revoke its `sid` and log
 * `authn_token_reuse`.
 */
export type RotateResult =
  | ({ kind: 'rotated' } & IssuedRefreshToken)
  /** The immediate parent presented again inside the grace window: the same current child as the winner got. */
  | ({ kind: 'grace' } & IssuedRefreshToken)
  | { kind: 'reuse'; familyId: string; userId: string }
  | { kind: 'invalid' }

/**
 * Refresh-token families and rotation in D1. D1 has no interactive transactions: rotation is one conditional UPDATE
 * plus the child INSERT in one `db.batch` (a batch is a transaction), checked via `meta.changes`, so parallel refreshes
 * never create two live tokens (R-RT-5). D1 errors are thrown: the caller answers 503, never "invalid".
 */
export interface RefreshTokenStore {
  /** Starts a family (one per login) and returns its first token. */
  issue(
    userId: string,
    options: { client: string; absoluteTtlSeconds: number; idleTtlSeconds: number },
  ): Promise<IssuedRefreshToken>
  /**
   * Rotates `rawToken`. `graceSeconds` is the window (≤ 60 s, from config) in which the immediate parent gets the
   * current child back; `client`, when given, must match the family's (a family serves only the audience it was
   * issued to, R-RT-12), or the result is `invalid`.
   */
  rotate(rawToken: string, options: { graceSeconds: number; client?: string }): Promise<RotateResult>
  /**
   * The family and user of a presented token, whatever its state (logout by refresh token). Null for anything
   * that is not a stored token.
   */
  findFamily(rawToken: string): Promise<{ familyId: string; userId: string } | null>
  /**
   * Whether the family exists and is not revoked (expiry aside): a refresh asks it after its rotation, so a revocation
   * that landed in between (a reset, a logout-all) refuses the refresh instead of answering tokens already dead.
   */
  isFamilyLive(familyId: string): Promise<boolean>
  /** Revokes the family and its active tokens. False if it was unknown or already revoked. */
  revokeFamily(familyId: string, reason: string): Promise<boolean>
  /**
   * The user's live families (not revoked, idle expiry after `nowSeconds`), newest first, at most
   * `MAX_LISTED_FAMILIES` (100): a user with more sees the 100 most recent logins.
   */
  listFamilies(userId: string, nowSeconds: number): Promise<FamilySummary[]>
  /**
   * Revokes the family and its active tokens, as `revokeFamily`, only if it belongs to `userId` and is live (not
   * revoked, idle expiry not passed), checked and written in one atomic step: `revoked`. A family of `userId` that
   * was revoked before (and not yet purged) is `already_revoked`, so a caller whose follow-up write failed can finish
   * it on a retry. Anything else (unknown, another user's, expired) is `not_found`. Only `revoked` wrote anything.
   */
  revokeFamilyOf(userId: string, familyId: string, reason: string): Promise<'revoked' | 'already_revoked' | 'not_found'>
  /** Revokes every live family of the user (logout-all, password change, disable). Returns the families revoked. */
  revokeAllForUser(userId: string, reason: string): Promise<number>
  /**
   * Revokes every live family of the user except `keepFamilyId` (a password change keeps the caller's session), and
   * returns the ids of the families it revoked, so their sessions can be revoked in Upstash too.
   */
  revokeOtherFamilies(userId: string, keepFamilyId: string, reason: string): Promise<string[]>
  /**
   * Deletes at most `limit` dead families (idle or absolute expiry passed) with their tokens, and clears grace
   * ciphertexts older than the longest grace window. Returns the rows deleted (tokens + families).
   */
  purgeExpired(nowSeconds: number, limit?: number): Promise<number>
}

/** What `LockoutStore.begin` decided for one login attempt. */
export type LockoutDecision =
  /**
   * The attempt may check the password; it has already been counted as a failure (`failures` includes it).
   * `lastAttempt`: if this one fails too, the identifier is locked from now on.
   */
  | { status: 'allowed'; failures: number; lastAttempt: boolean }
  /** Refused without checking the password, whether or not the account exists or the password is right. */
  | { status: 'locked'; retryAfterSeconds: number; by: 'consecutive_failures' | 'hourly_ceiling' }

/** What `LockoutStore.status` reads: whether `begin` would refuse the identifier now. */
export type LockoutStatus =
  /** `failures`: the consecutive failures counted so far (below the threshold). */
  | { locked: false; failures: number }
  | { locked: true; retryAfterSeconds: number; by: 'consecutive_failures' | 'hourly_ceiling' }

/**
 * Per-identifier login failure counting (S-LO-1, S-LO-2, R-BF-1). Every method throws when the store cannot be
 * reached: login then fails closed (503), because a lockout that silently stopped counting protects nobody.
 */
export interface LockoutStore {
  /** Checks the lock and, if not locked, reserves this attempt by counting it as a failure (one atomic step). */
  begin(identifier: string): Promise<LockoutDecision>
  /** The password was right: resets the consecutive count and returns the reserved hourly slot. */
  succeeded(identifier: string): Promise<void>
  /** The attempt was never decided (the user store failed): returns both reservations. */
  release(identifier: string): Promise<void>
  /** Whether the identifier is locked now, read without counting, reserving or extending anything. */
  status(identifier: string): Promise<LockoutStatus>
  /** Forgets every failure of the identifier, consecutive and hourly: the next login starts from zero. */
  unlock(identifier: string): Promise<void>
}

/** The rate-limit policies: one counter namespace each, so one identifier is counted apart per policy. */
export type { RateLimitPolicy }

/** What one rate-limit check of an admission answered. */
export interface RateLimitOutcome {
  /** The limit admits the request. It was counted only if every limit of the admission admitted it. */
  success: boolean
  /** Admissions left in the window after this request (or, when it was not counted, before it), never negative. */
  remaining: number
  /** Epoch ms, on the store's clock, when more quota is available. */
  resetMs: number
}

/** One rate-limit check of an admission. */
export interface AdmissionLimit {
  policy: RateLimitPolicy
  /** An opaque key the caller has already made safe to store; each policy counts its identifiers apart. */
  identifier: string
  limit: number
  windowSeconds: number
}

export interface AdmissionQuery {
  /** Checked together, in this order; an empty list only checks the revocation. */
  limits: AdmissionLimit[]
  /**
   * The verified access token of the request, checked for revocation with the limits. A revoked token no longer
   * speaks for its user: the `user` limit is then neither checked against it nor counted (the IP limits are).
   */
  revocation?: RevocationSubject
}

export interface Admission {
  /** One outcome per limit, in the query's order. */
  limits: RateLimitOutcome[]
  /** Present when the query asked for a revocation check. */
  revocation?: Exclude<RevocationStatus, { status: 'unavailable' }>
}

/**
 * The per-request decision of the rate-limit policies and the revocation check, without the breaker, fallback and
 * metrics around it. All or nothing: the request is counted against every limit only if every limit admits it; a
 * refused request costs no quota, under any policy. `auth` is exact: never more than `limit` admissions in any
 * interval of one window, a place freed when the oldest admission leaves. `global` and `user` may approximate (the
 * Redis store weighs fixed buckets), so for them a caller can rely only on: a fresh identifier gets `limit`
 * admissions, more arriving at once are refused, and an identifier left alone for two windows starts afresh.
 * Throws when the store cannot answer; never admits instead.
 */
export interface AdmissionStore {
  /**
   * Decides `query` at once. `nowMs` is the caller's clock; a store with a clock of its own (Redis) may decide on
   * that one instead.
   */
  admit(query: AdmissionQuery, nowMs: number): Promise<Admission>
}

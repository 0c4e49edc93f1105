/**
 * Single-use account tokens in D1 (migrations/0004): address verification and password reset. Only SHA-256 hex of
 * a token is stored; the raw token leaves this module once, in the result of `issue`, and is never logged.
 *
 * Single use without transactions: `consume` is one conditional UPDATE (`consumed_at IS NULL AND expires_at > now`)
 * whose `meta.changes` says whether this call won; of two concurrent calls with one token, one changes the row and
 * the other changes nothing. As with refresh tokens, lookups go by hash through the primary key, so no
 * constant-time comparison is needed.
 */
import { base64url } from 'jose'
import { sha256Hex } from '../../lib/crypto'
import type { AccountTokenGrant, AccountTokenPurpose, AccountTokenStore } from '../types'

/** 256 random bits: 43 base64url characters. */
const TOKEN_BYTES = 32
export const ACCOUNT_TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
const DEFAULT_PURGE_LIMIT = 500
const PURPOSES: readonly AccountTokenPurpose[] = ['verify_email', 'password_reset']

export function newAccountToken(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)))
}

/**
 * The rules `issue` checks in every implementation before any write: a known purpose, a positive whole lifetime,
 * and a pending password hash exactly on verification tokens. Throws a RangeError otherwise.
 */
export function checkIssue(purpose: AccountTokenPurpose, ttlSeconds: number, pendingPasswordHash?: string): void {
  if (!PURPOSES.includes(purpose)) throw new RangeError('unknown account token purpose')
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0)
    throw new RangeError('ttlSeconds must be a positive integer')
  if ((purpose === 'verify_email') !== (pendingPasswordHash !== undefined && pendingPasswordHash !== '')) {
    throw new RangeError('a verify_email token needs a pending password hash; a password_reset token takes none')
  }
}

/** The limit `purgeExpired` uses: 500 unless told, between 1 and 5,000. */
export function purgeBound(limit = DEFAULT_PURGE_LIMIT): number {
  return Math.min(Math.max(1, Math.floor(limit)), 5000)
}

interface GrantRow {
  user_id: string
  purpose: AccountTokenPurpose
  pending_password_hash: string | null
  expires_at: number
}

function toGrant(row: GrantRow): AccountTokenGrant {
  return {
    userId: row.user_id,
    purpose: row.purpose,
    pendingPasswordHash: row.pending_password_hash,
    expiresAt: row.expires_at,
  }
}

const GRANT_COLUMNS = 'user_id, purpose, pending_password_hash, expires_at'

/**
 * @param clock epoch milliseconds; tests pass a controllable one.
 * @example
 * const tokens = createD1AccountTokenStore(env.DB)
 * const { token } = await tokens.issue({ userId, purpose: 'password_reset', ttlSeconds: 1800 })
 * const grant = await tokens.consume(token, 'password_reset') // null the second time
 */
export function createD1AccountTokenStore(db: D1Database, options: { clock?: () => number } = {}): AccountTokenStore {
  const clock = options.clock ?? Date.now
  const nowSeconds = () => Math.floor(clock() / 1000)

  return {
    async issue({ userId, purpose, ttlSeconds, pendingPasswordHash }) {
      checkIssue(purpose, ttlSeconds, pendingPasswordHash)
      const now = nowSeconds()
      const token = newAccountToken()
      const expiresAt = now + ttlSeconds
      // One batch is one transaction: the older tokens go exactly when the new one arrives. The foreign key refuses
      // an unknown user, and then nothing is deleted either.
      await db.batch([
        db
          .prepare('DELETE FROM account_tokens WHERE user_id = ?1 AND purpose = ?2 AND consumed_at IS NULL')
          .bind(userId, purpose),
        db
          .prepare(
            `INSERT INTO account_tokens (token_hash, user_id, purpose, created_at, expires_at, pending_password_hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)`,
          )
          .bind(await sha256Hex(token), userId, purpose, now, expiresAt, pendingPasswordHash ?? null),
      ])
      return { token, expiresAt }
    },

    async find(rawToken, purpose) {
      if (typeof rawToken !== 'string' || !ACCOUNT_TOKEN_SHAPE.test(rawToken)) return null
      const row = await db
        .prepare(
          `SELECT ${GRANT_COLUMNS} FROM account_tokens
           WHERE token_hash = ?1 AND purpose = ?2 AND consumed_at IS NULL AND expires_at > ?3`,
        )
        .bind(await sha256Hex(rawToken), purpose, nowSeconds())
        .first<GrantRow>()
      return row === null ? null : toGrant(row)
    },

    async consume(rawToken, purpose) {
      if (typeof rawToken !== 'string' || !ACCOUNT_TOKEN_SHAPE.test(rawToken)) return null
      const result = await db
        .prepare(
          `UPDATE account_tokens SET consumed_at = ?3
           WHERE token_hash = ?1 AND purpose = ?2 AND consumed_at IS NULL AND expires_at > ?3
           RETURNING ${GRANT_COLUMNS}`,
        )
        .bind(await sha256Hex(rawToken), purpose, nowSeconds())
        .run<GrantRow>()
      const row = result.results[0]
      return result.meta.changes === 1 && row !== undefined ? toGrant(row) : null
    },

    async revokeForUser(userId) {
      const result = await db
        .prepare('DELETE FROM account_tokens WHERE user_id = ?1 AND consumed_at IS NULL')
        .bind(userId)
        .run()
      return result.meta.changes ?? 0
    },

    async purgeExpired(now, limit) {
      const result = await db
        .prepare(
          `DELETE FROM account_tokens WHERE token_hash IN (
             SELECT token_hash FROM account_tokens WHERE expires_at <= ?1 OR consumed_at IS NOT NULL LIMIT ?2)`,
        )
        .bind(now, purgeBound(limit))
        .run()
      return result.meta.changes
    },
  }
}

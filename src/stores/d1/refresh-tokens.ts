/**
 * Refresh-token families and rotation in D1: the rotation rules must hold under parallel requests, so they live
 * next to the SQL that enforces them (R-RT-2, R-RT-3 in docs/requirements.md). D1 stores only SHA-256 hex of a
 * token; the raw token leaves this module once, in the result of `issue` or `rotate`, and is never logged.
 *
 * Lookups go by `token_hash` through the unique index, so no constant-time comparison is needed: the timing of
 * an index lookup can at most reveal something about the SHA-256 of the presented guess, and a hash prefix of
 * a guess brings an attacker no closer to a preimage of a 256-bit random token.
 *
 * Grace window: the immediate parent presented again within `graceSeconds` of its rotation gets the SAME current
 * child back. The child is kept on the parent's row, sealed under the parent's raw token (`grace_ciphertext`, see
 * grace-seal.ts); the rotation batch below clears a grandparent's ciphertext, and `purgeExpired` every ciphertext
 * older than the longest grace window.
 */
import { base64url } from 'jose'
import { sha256Hex } from '../../lib/crypto'
import type { IssuedRefreshToken, RefreshTokenStore, RotateResult } from '../types'
import { openChild, sealChild } from './grace-seal'
import { type PresentedRow, SELECT_PRESENTED, type TokenRow } from './refresh-rows'

/** 256 random bits (R-RT-1): 43 base64url characters. */
const TOKEN_BYTES = 32
const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
/** Config caps REFRESH_GRACE at 60 s (R-RT-4); the store enforces the same ceiling. */
export const MAX_GRACE_SECONDS = 60
const DEFAULT_PURGE_LIMIT = 500
/** `listFamilies` answers at most this many sessions, the most recent. */
export const MAX_LISTED_FAMILIES = 100

function newRawToken(): string {
  return base64url.encode(crypto.getRandomValues(new Uint8Array(TOKEN_BYTES)))
}

function positiveSeconds(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer`)
  return value
}

const INVALID: RotateResult = { kind: 'invalid' }

/**
 * @param clock epoch milliseconds; tests pass a controllable one (Workers freeze `Date.now()` between I/O).
 * @example
 * const refresh = createD1RefreshTokenStore(env.DB)
 * const { token } = await refresh.issue(user.id, { client: 'web', absoluteTtlSeconds: 2592000, idleTtlSeconds: 604800 })
 * const result = await refresh.rotate(token, { graceSeconds: 10 })
 */
export function createD1RefreshTokenStore(db: D1Database, options: { clock?: () => number } = {}): RefreshTokenStore {
  const clock = options.clock ?? Date.now
  const nowSeconds = () => Math.floor(clock() / 1000)

  /**
   * Revokes the families that match every id given (one family, all of a user's, or both: one family if it is the
   * user's) and are not revoked yet, with `live` only those whose idle expiry has not passed; then the active tokens
   * and grace ciphertexts of revoked families among them. One batch, so one transaction: a family the first
   * statement leaves alone keeps its tokens. Returns how many families were revoked by this call.
   */
  const revokeWhere = async (
    match: { familyId?: string; userId?: string; live?: boolean },
    reason: string,
    now: number,
  ): Promise<number> => {
    // ?1 is the time, then the ids, numbered alike in both statements: [family column, token column, value].
    const ids: [string, string, string][] = []
    if (match.familyId !== undefined) ids.push(['id', 'family_id', match.familyId])
    if (match.userId !== undefined) ids.push(['user_id', 'user_id', match.userId])
    const where = (column: 0 | 1) => ids.map((id, i) => `${id[column]} = ?${i + 2}`).join(' AND ')
    const values = ids.map(([, , value]) => value)
    const [families] = await db.batch([
      db
        .prepare(
          `UPDATE refresh_token_families SET revoked_at = ?1, revoked_reason = ?${values.length + 2}
           WHERE ${where(0)} AND revoked_at IS NULL${match.live === true ? ' AND idle_expires_at > ?1' : ''}`,
        )
        .bind(now, ...values, reason),
      db
        .prepare(
          `UPDATE refresh_tokens
           SET status = CASE status WHEN 'active' THEN 'revoked' ELSE status END,
               revoked_at = CASE status WHEN 'active' THEN ?1 ELSE revoked_at END,
               grace_ciphertext = NULL
           WHERE ${where(1)} AND (status = 'active' OR grace_ciphertext IS NOT NULL) AND EXISTS (
             SELECT 1 FROM refresh_token_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NOT NULL)`,
        )
        .bind(now, ...values),
    ])
    return families?.meta.changes ?? 0
  }
  const revokeFamily = async (familyId: string, reason: string, now: number): Promise<boolean> =>
    (await revokeWhere({ familyId }, reason, now)) === 1

  /** A rotated token presented again: the same current child inside the window, otherwise reuse (R-RT-3/4). */
  const presentRotated = async (raw: string, row: PresentedRow, graceSeconds: number, now: number) => {
    const grace = Math.min(Math.max(0, Math.floor(graceSeconds)), MAX_GRACE_SECONDS)
    const inWindow = grace > 0 && row.rotated_at !== null && now - row.rotated_at <= grace
    if (inWindow && row.child_id !== null && row.grace_ciphertext !== null) {
      const child = await db
        .prepare('SELECT id, token_hash, status, expires_at FROM refresh_tokens WHERE id = ?1')
        .bind(row.child_id)
        .first<TokenRow>()
      // Only the immediate parent of the active token qualifies; a grandparent falls through to reuse (R-RT-4).
      if (child !== null && child.status === 'active') {
        if (child.expires_at <= now) return INVALID
        const token = await openChild(raw, `${row.id}:${child.id}`, row.grace_ciphertext)
        if (token === null || (await sha256Hex(token)) !== child.token_hash) return INVALID
        return {
          kind: 'grace',
          token,
          familyId: row.family_id,
          userId: row.user_id,
          expiresAt: child.expires_at,
        } satisfies RotateResult
      }
    }
    await revokeFamily(row.family_id, 'reuse', now)
    return { kind: 'reuse', familyId: row.family_id, userId: row.user_id } satisfies RotateResult
  }

  return {
    async issue(userId, { client, absoluteTtlSeconds, idleTtlSeconds }) {
      const now = nowSeconds()
      const absoluteExpiresAt = now + positiveSeconds('absoluteTtlSeconds', absoluteTtlSeconds)
      const expiresAt = Math.min(now + positiveSeconds('idleTtlSeconds', idleTtlSeconds), absoluteExpiresAt)
      const familyId = crypto.randomUUID()
      const token = newRawToken()
      await db.batch([
        db
          .prepare(
            `INSERT INTO refresh_token_families
               (id, user_id, client, created_at, idle_ttl_seconds, idle_expires_at, absolute_expires_at, last_used_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?4)`,
          )
          .bind(familyId, userId, client, now, idleTtlSeconds, expiresAt, absoluteExpiresAt),
        db
          .prepare(
            `INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, status, created_at, expires_at)
             VALUES (?1, ?2, ?3, ?4, 'active', ?5, ?6)`,
          )
          .bind(crypto.randomUUID(), familyId, userId, await sha256Hex(token), now, expiresAt),
      ])
      return { token, familyId, userId, expiresAt } satisfies IssuedRefreshToken
    },

    async rotate(rawToken, { graceSeconds, client }) {
      // Anything that cannot be one of our tokens costs no query.
      if (typeof rawToken !== 'string' || !TOKEN_SHAPE.test(rawToken)) return INVALID
      const hash = await sha256Hex(rawToken)
      const now = nowSeconds()
      // Two passes at most: a lost compare-and-set re-reads the row, which is then `rotated` (or revoked).
      for (let pass = 0; pass < 2; pass++) {
        const row = await db.prepare(SELECT_PRESENTED).bind(hash).first<PresentedRow>()
        if (row === null) return INVALID
        if (row.family_revoked_at !== null || row.status === 'revoked') return INVALID
        if (row.absolute_expires_at <= now || row.idle_expires_at <= now) return INVALID
        if (row.user_disabled_at !== null) return INVALID
        if (client !== undefined && client !== row.client) return INVALID
        if (row.status === 'rotated') return presentRotated(rawToken, row, graceSeconds, now)
        if (row.expires_at <= now) return INVALID

        const childId = crypto.randomUUID()
        const child = newRawToken()
        const sealed = await sealChild(rawToken, `${row.id}:${childId}`, child)
        const expiresAt = Math.min(now + row.idle_ttl_seconds, row.absolute_expires_at)
        // One batch is one transaction (R-RT-5). Statement 1 is the compare-and-set; 2–4 run only for the winner,
        // because they require `child_id` to be this call's child. The unique index on parent_id backs this up.
        const statements = [
          db
            .prepare(
              `UPDATE refresh_tokens SET status = 'rotated', rotated_at = ?2, child_id = ?3, grace_ciphertext = ?4
               WHERE id = ?1 AND status = 'active' AND EXISTS (
                 SELECT 1 FROM refresh_token_families f WHERE f.id = refresh_tokens.family_id AND f.revoked_at IS NULL)`,
            )
            .bind(row.id, now, childId, sealed),
          db
            .prepare(
              `INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, parent_id, status, created_at, expires_at)
               SELECT ?1, family_id, user_id, ?2, id, 'active', ?3, ?4 FROM refresh_tokens WHERE id = ?5 AND child_id = ?1`,
            )
            .bind(childId, await sha256Hex(child), now, expiresAt, row.id),
          db
            .prepare(
              `UPDATE refresh_token_families SET last_used_at = ?2, idle_expires_at = ?3
               WHERE id = ?1 AND EXISTS (SELECT 1 FROM refresh_tokens WHERE id = ?4)`,
            )
            .bind(row.family_id, now, expiresAt, childId),
        ]
        if (row.parent_id !== null) {
          // The parent of the presented token becomes a grandparent: its window is over, drop its ciphertext.
          statements.push(
            db
              .prepare(
                `UPDATE refresh_tokens SET grace_ciphertext = NULL
                 WHERE id = ?1 AND EXISTS (SELECT 1 FROM refresh_tokens WHERE id = ?2)`,
              )
              .bind(row.parent_id, childId),
          )
        }
        const [swap] = await db.batch(statements)
        if (swap?.meta.changes === 1) {
          return { kind: 'rotated', token: child, familyId: row.family_id, userId: row.user_id, expiresAt }
        }
      }
      return INVALID
    },

    async findFamily(rawToken) {
      if (typeof rawToken !== 'string' || !TOKEN_SHAPE.test(rawToken)) return null
      const row = await db
        .prepare('SELECT family_id, user_id FROM refresh_tokens WHERE token_hash = ?1')
        .bind(await sha256Hex(rawToken))
        .first<{ family_id: string; user_id: string }>()
      return row === null ? null : { familyId: row.family_id, userId: row.user_id }
    },

    async isFamilyLive(familyId) {
      const row = await db
        .prepare('SELECT 1 AS live FROM refresh_token_families WHERE id = ?1 AND revoked_at IS NULL')
        .bind(familyId)
        .first<{ live: number }>()
      return row !== null
    },

    revokeFamily(familyId, reason) {
      return revokeFamily(familyId, reason, nowSeconds())
    },

    async listFamilies(userId, now) {
      // rowid orders the logins of one second as they were made.
      const { results } = await db
        .prepare(
          `SELECT id, client, created_at, last_used_at, idle_expires_at FROM refresh_token_families
           WHERE user_id = ?1 AND revoked_at IS NULL AND idle_expires_at > ?2
           ORDER BY created_at DESC, rowid DESC LIMIT ?3`,
        )
        .bind(userId, now, MAX_LISTED_FAMILIES)
        .all<{ id: string; client: string; created_at: number; last_used_at: number; idle_expires_at: number }>()
      return results.map((row) => ({
        id: row.id,
        client: row.client,
        createdAt: row.created_at,
        lastUsedAt: row.last_used_at,
        expiresAt: row.idle_expires_at,
      }))
    },

    async revokeFamilyOf(userId, familyId, reason) {
      if ((await revokeWhere({ familyId, userId, live: true }, reason, nowSeconds())) === 1) return 'revoked'
      const revoked = await db
        .prepare('SELECT 1 FROM refresh_token_families WHERE id = ?1 AND user_id = ?2 AND revoked_at IS NOT NULL')
        .bind(familyId, userId)
        .first()
      return revoked === null ? 'not_found' : 'already_revoked'
    },

    revokeAllForUser(userId, reason) {
      return revokeWhere({ userId }, reason, nowSeconds())
    },

    async revokeOtherFamilies(userId, keepFamilyId, reason) {
      const now = nowSeconds()
      // As revokeWhere, for every family of the user but one; RETURNING names the families this call revoked.
      const [families] = await db.batch([
        db
          .prepare(
            `UPDATE refresh_token_families SET revoked_at = ?3, revoked_reason = ?4
             WHERE user_id = ?1 AND id <> ?2 AND revoked_at IS NULL RETURNING id`,
          )
          .bind(userId, keepFamilyId, now, reason),
        db
          .prepare(
            `UPDATE refresh_tokens
             SET status = CASE status WHEN 'active' THEN 'revoked' ELSE status END,
                 revoked_at = CASE status WHEN 'active' THEN ?3 ELSE revoked_at END, grace_ciphertext = NULL
             WHERE user_id = ?1 AND family_id <> ?2 AND (status = 'active' OR grace_ciphertext IS NOT NULL)`,
          )
          .bind(userId, keepFamilyId, now),
      ])
      return ((families?.results ?? []) as { id: string }[]).map((row) => row.id)
    },

    async purgeExpired(now, limit = DEFAULT_PURGE_LIMIT) {
      const bound = Math.min(Math.max(1, Math.floor(limit)), 5000)
      // A family is dead once its idle expiry passes (never later than its absolute expiry): revoked families are
      // kept until then for the audit trail. Rotated tokens stay while their family lives, so a stolen old token
      // still triggers reuse detection instead of looking merely unknown.
      const dead = `SELECT id FROM refresh_token_families WHERE idle_expires_at <= ?1 ORDER BY idle_expires_at LIMIT ?2`
      const [tokens, families] = await db.batch([
        db.prepare(`DELETE FROM refresh_tokens WHERE family_id IN (${dead})`).bind(now, bound),
        db.prepare(`DELETE FROM refresh_token_families WHERE id IN (${dead})`).bind(now, bound),
        db
          .prepare(
            'UPDATE refresh_tokens SET grace_ciphertext = NULL WHERE grace_ciphertext IS NOT NULL AND rotated_at < ?1',
          )
          .bind(now - MAX_GRACE_SECONDS),
      ])
      return (tokens?.meta.changes ?? 0) + (families?.meta.changes ?? 0)
    },
  }
}

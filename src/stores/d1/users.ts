/**
 * Accounts in D1, the store of record for users. SQL lives here; `users` rows map through `toUser` only. Emails are
 * normalized before every read and write, and the unique index is `COLLATE NOCASE` as a second line (migrations/0002).
 */
import type { CreateUserResult, User, UserStore } from '../types'

const MAX_EMAIL_BYTES = 254

/** C0, DEL, C1 and the Unicode line/paragraph separators: never part of an address, often part of an injection. */
function hasControlChar(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i)
    if (code <= 0x1f || (code >= 0x7f && code <= 0x9f) || code === 0x2028 || code === 0x2029) return true
  }
  return false
}
const WHITESPACE = /\s/u

/**
 * The normalized address for a new account, checked with its scopes the same way by every user store: a
 * RangeError for an unacceptable address or a scope that is empty or contains white space.
 */
export function checkNewUser(email: string, scopes: readonly string[]): string {
  const normalized = normalizeEmail(email)
  if (normalized === null) throw new RangeError('unacceptable email')
  checkScopes(scopes)
  return normalized
}

/** Scopes as every user store stores them (space-separated): a RangeError for one that is empty or has white space. */
export function checkScopes(scopes: readonly string[]): void {
  if (scopes.some((scope) => scope === '' || WHITESPACE.test(scope))) {
    throw new RangeError('a scope is empty or contains whitespace')
  }
}

/**
 * The canonical form of an email: NFC, trimmed, lower case, and normalizing it again changes nothing. Lower-casing
 * can leave a sequence NFC composes (`J` + combining caron becomes `j` + caron, which is `ǰ`), so both steps repeat
 * until the string is stable (at most three more rounds; no character needs more than one): case, composition and white-space variants share one account and one lockout
 * counter (lower-casing is not case folding: a word-final `Σ` becomes `ς`, which stays apart from `σ`). Null for
 * text that is not well-formed Unicode (a lone surrogate), an empty address, one with control characters, or one
 * longer than 254 UTF-8 bytes (RFC 5321 §4.5.3.1.3). No further syntax check: the route's schema owns that.
 * @example normalizeEmail('  Alice@Example.COM ') // 'alice@example.com'
 */
export function normalizeEmail(raw: string): string | null {
  if (!raw.isWellFormed()) return null
  let email = raw.normalize('NFC').trim().toLowerCase()
  for (let round = 0; round < 3; round++) {
    const again = email.normalize('NFC').toLowerCase()
    if (again === email) break
    email = again
  }
  if (email.length === 0 || hasControlChar(email)) return null
  if (new TextEncoder().encode(email).byteLength > MAX_EMAIL_BYTES) return null
  return email
}

interface UserRow {
  id: string
  email: string
  password_hash: string
  scopes: string
  created_at: number
  updated_at: number
  disabled_at: number | null
  email_verified_at: number | null
}

function toUser(row: UserRow): User {
  return {
    id: row.id,
    email: row.email,
    passwordHash: row.password_hash,
    scopes: row.scopes === '' ? [] : row.scopes.split(' '),
    createdAt: row.created_at,
    updatedAt: row.updated_at,
    disabledAt: row.disabled_at,
    emailVerifiedAt: row.email_verified_at,
  }
}

const COLUMNS = 'id, email, password_hash, scopes, created_at, updated_at, disabled_at, email_verified_at'

/**
 * @param clock epoch milliseconds; tests pass a fixed instant.
 * @example const users = createD1UserStore(env.DB)
 */
export function createD1UserStore(db: D1Database, options: { clock?: () => number } = {}): UserStore {
  const clock = options.clock ?? Date.now
  return {
    async create({ email, passwordHash, scopes = [], verified = true }): Promise<CreateUserResult> {
      const normalized = checkNewUser(email, scopes)
      const now = Math.floor(clock() / 1000)
      // ON CONFLICT DO NOTHING: a duplicate is an empty result, not a constraint error carrying SQL text.
      const row = await db
        .prepare(
          `INSERT INTO users (id, email, password_hash, scopes, created_at, updated_at, email_verified_at)
           VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)
           ON CONFLICT DO NOTHING
           RETURNING ${COLUMNS}`,
        )
        .bind(crypto.randomUUID(), normalized, passwordHash, scopes.join(' '), now, verified ? now : null)
        .first<UserRow>()
      return row === null ? { created: false } : { created: true, user: toUser(row) }
    },

    async findByEmail(email) {
      const normalized = normalizeEmail(email)
      if (normalized === null) return null
      const row = await db.prepare(`SELECT ${COLUMNS} FROM users WHERE email = ?1`).bind(normalized).first<UserRow>()
      return row === null ? null : toUser(row)
    },

    async findById(id) {
      const row = await db.prepare(`SELECT ${COLUMNS} FROM users WHERE id = ?1`).bind(id).first<UserRow>()
      return row === null ? null : toUser(row)
    },

    async setPasswordHash(id, passwordHash, expected) {
      const now = Math.floor(clock() / 1000)
      const statement =
        expected === undefined
          ? db.prepare('UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1').bind(id, passwordHash, now)
          : db
              .prepare('UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1 AND password_hash = ?4')
              .bind(id, passwordHash, now, expected)
      const result = await statement.run()
      return result.meta.changes === 1
    },

    async setDisabled(id, disabledAt) {
      const result = await db.prepare('UPDATE users SET disabled_at = ?2 WHERE id = ?1').bind(id, disabledAt).run()
      return result.meta.changes === 1
    },

    async setScopes(id, scopes) {
      checkScopes(scopes)
      const result = await db
        .prepare('UPDATE users SET scopes = ?2, updated_at = ?3 WHERE id = ?1')
        .bind(id, scopes.join(' '), Math.floor(clock() / 1000))
        .run()
      return result.meta.changes === 1
    },

    async delete(id) {
      const result = await db.prepare('DELETE FROM users WHERE id = ?1').bind(id).run()
      return result.meta.changes === 1
    },

    async verifyEmail(id, passwordHash) {
      const result = await db
        .prepare(
          `UPDATE users SET password_hash = ?2, email_verified_at = ?3, updated_at = ?3
           WHERE id = ?1 AND email_verified_at IS NULL AND disabled_at IS NULL`,
        )
        .bind(id, passwordHash, Math.floor(clock() / 1000))
        .run()
      return result.meta.changes === 1
    },
  }
}

/**
 * Accounts in memory, with the D1 store's rules: emails normalized by `normalizeEmail` before every read and
 * write and unique after normalization, scopes without whitespace, times in unix seconds from the clock. Every
 * read returns a fresh copy, as a database row would be: a caller mutating a user changes nothing stored.
 */
import { checkNewUser, checkScopes, normalizeEmail } from '../d1/users'
import type { CreateUserResult, User, UserStore } from '../types'

export interface MemoryUserOptions {
  /** Epoch milliseconds; tests pass a fixed instant. */
  clock?: () => number
}

const copy = (user: User): User => ({ ...user, scopes: [...user.scopes] })

/** @example const users = createMemoryUserStore({ clock: () => 1_800_000_000_000 }) */
export function createMemoryUserStore(options: MemoryUserOptions = {}): UserStore {
  const clock = options.clock ?? Date.now
  const byId = new Map<string, User>()
  /** normalized email → id */
  const byEmail = new Map<string, string>()

  return {
    async create({ email, passwordHash, scopes = [], verified = true }): Promise<CreateUserResult> {
      const normalized = checkNewUser(email, scopes)
      if (byEmail.has(normalized)) return { created: false }
      const now = Math.floor(clock() / 1000)
      const user: User = {
        id: crypto.randomUUID(),
        email: normalized,
        passwordHash,
        scopes: [...scopes],
        createdAt: now,
        updatedAt: now,
        disabledAt: null,
        emailVerifiedAt: verified ? now : null,
      }
      byId.set(user.id, user)
      byEmail.set(normalized, user.id)
      return { created: true, user: copy(user) }
    },

    async findByEmail(email) {
      const normalized = normalizeEmail(email)
      const id = normalized === null ? undefined : byEmail.get(normalized)
      const user = id === undefined ? undefined : byId.get(id)
      return user === undefined ? null : copy(user)
    },

    async findById(id) {
      const user = byId.get(id)
      return user === undefined ? null : copy(user)
    },

    async setPasswordHash(id, passwordHash, expected) {
      const user = byId.get(id)
      if (user === undefined || (expected !== undefined && user.passwordHash !== expected)) return false
      user.passwordHash = passwordHash
      user.updatedAt = Math.floor(clock() / 1000)
      return true
    },

    async verifyEmail(id, passwordHash) {
      const user = byId.get(id)
      if (user === undefined || user.emailVerifiedAt !== null || user.disabledAt !== null) return false
      const now = Math.floor(clock() / 1000)
      Object.assign(user, { passwordHash, emailVerifiedAt: now, updatedAt: now })
      return true
    },

    async setDisabled(id, disabledAt) {
      const user = byId.get(id)
      if (user === undefined) return false
      user.disabledAt = disabledAt
      return true
    },

    async setScopes(id, scopes) {
      checkScopes(scopes)
      const user = byId.get(id)
      if (user === undefined) return false
      user.scopes = [...scopes]
      user.updatedAt = Math.floor(clock() / 1000)
      return true
    },

    async delete(id) {
      const user = byId.get(id)
      if (user === undefined) return false
      byId.delete(id)
      byEmail.delete(user.email)
      return true
    },
  }
}

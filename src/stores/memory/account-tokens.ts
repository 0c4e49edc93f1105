/**
 * Single-use account tokens in memory, with the D1 store's rules: found by SHA-256, live until expiry, consumption
 * or replacement by a newer token of the same purpose for the same user, and kept after consumption until
 * `purgeExpired` drops them (which is what bounds memory here, as the daily cron bounds D1). Every decision runs
 * synchronously after the last `await`, so concurrent consumptions of one token are serialized exactly as the D1
 * conditional UPDATE serializes them.
 */
import { sha256Hex } from '../../lib/crypto'
import { ACCOUNT_TOKEN_SHAPE, checkIssue, newAccountToken, purgeBound } from '../d1/account-tokens'
import type { AccountTokenGrant, AccountTokenPurpose, AccountTokenStore, UserStore } from '../types'

interface StoredToken extends AccountTokenGrant {
  consumedAt: number | null
}

export interface MemoryAccountTokenOptions {
  /** Where users live: issuing for an unknown user throws, as the D1 foreign key does. */
  users: Pick<UserStore, 'findById'>
  /** Epoch milliseconds; tests pass a clock they move by hand. */
  clock?: () => number
}

const grantOf = ({ userId, purpose, pendingPasswordHash, expiresAt }: StoredToken): AccountTokenGrant => ({
  userId,
  purpose,
  pendingPasswordHash,
  expiresAt,
})

/**
 * @example
 * const users = createMemoryUserStore()
 * const tokens = createMemoryAccountTokenStore({ users })
 */
export function createMemoryAccountTokenStore(options: MemoryAccountTokenOptions): AccountTokenStore {
  const { users } = options
  const clock = options.clock ?? Date.now
  const nowSeconds = () => Math.floor(clock() / 1000)
  /** SHA-256 hex → token. */
  const tokens = new Map<string, StoredToken>()

  /** The live token for `hash` and `purpose`, read synchronously. */
  const live = (hash: string, purpose: AccountTokenPurpose): StoredToken | undefined => {
    const token = tokens.get(hash)
    if (token === undefined || token.purpose !== purpose) return undefined
    return token.consumedAt === null && token.expiresAt > nowSeconds() ? token : undefined
  }

  const hashOf = async (rawToken: string): Promise<string | undefined> =>
    typeof rawToken === 'string' && ACCOUNT_TOKEN_SHAPE.test(rawToken) ? sha256Hex(rawToken) : undefined

  return {
    async issue({ userId, purpose, ttlSeconds, pendingPasswordHash }) {
      checkIssue(purpose, ttlSeconds, pendingPasswordHash)
      if ((await users.findById(userId)) === null) throw new Error('account token for an unknown user')
      const token = newAccountToken()
      const hash = await sha256Hex(token)
      const now = nowSeconds()
      for (const [key, older] of tokens) {
        if (older.userId === userId && older.purpose === purpose && older.consumedAt === null) tokens.delete(key)
      }
      const expiresAt = now + ttlSeconds
      tokens.set(hash, {
        userId,
        purpose,
        pendingPasswordHash: pendingPasswordHash ?? null,
        expiresAt,
        consumedAt: null,
      })
      return { token, expiresAt }
    },

    async find(rawToken, purpose) {
      const hash = await hashOf(rawToken)
      const token = hash === undefined ? undefined : live(hash, purpose)
      return token === undefined ? null : grantOf(token)
    },

    async consume(rawToken, purpose) {
      const hash = await hashOf(rawToken)
      const token = hash === undefined ? undefined : live(hash, purpose)
      if (token === undefined) return null
      token.consumedAt = nowSeconds()
      return grantOf(token)
    },

    async revokeForUser(userId) {
      let revoked = 0
      for (const [key, token] of tokens) {
        if (token.userId === userId && token.consumedAt === null && tokens.delete(key)) revoked++
      }
      return revoked
    },

    async purgeExpired(now, limit) {
      const bound = purgeBound(limit)
      let deleted = 0
      for (const [key, token] of tokens) {
        if (deleted >= bound) break
        if (token.expiresAt <= now || token.consumedAt !== null) {
          tokens.delete(key)
          deleted++
        }
      }
      return deleted
    },
  }
}

/**
 * Refresh-token families and rotation in memory, with the D1 store's rules: idle and absolute expiry, one
 * rotation per token (the first presenter wins, the others inside the grace window get the same child), reuse
 * of a rotated token outside the window revokes the family, and revoked or dead families are kept, so their
 * tokens still answer `findFamily`, until `purgeExpired` drops them. `purgeExpired` is what bounds memory here,
 * as the daily cron bounds D1.
 *
 * Tokens are found by SHA-256, as in D1. The D1 store keeps a parent's child encrypted under a key derived from
 * the parent, because a database can be dumped; this store keeps the child itself on the parent for the same
 * time (cleared when the child rotates, on revocation and by `purgeExpired`): process memory is not a dump.
 *
 * Every decision runs synchronously after the last `await`, so concurrent rotations of one token are serialized
 * exactly as the D1 compare-and-set serializes them.
 */
import { sha256Hex } from '../../lib/crypto'
import { MAX_GRACE_SECONDS, MAX_LISTED_FAMILIES } from '../d1/refresh-tokens'
import type { IssuedRefreshToken, RefreshTokenStore, RotateResult, User, UserStore } from '../types'

const TOKEN_SHAPE = /^[A-Za-z0-9_-]{43}$/
const DEFAULT_PURGE_LIMIT = 500
const INVALID: RotateResult = { kind: 'invalid' }

interface Family {
  id: string
  userId: string
  client: string
  createdAt: number
  /** The last rotation, or the login. */
  lastUsedAt: number
  idleTtlSeconds: number
  /** min(last use + idle TTL, absolute expiry), unix s. */
  idleExpiresAt: number
  absoluteExpiresAt: number
  revokedAt: number | null
  revokedReason: string | null
  tokens: Token[]
}

interface Token {
  id: string
  family: Family
  hash: string
  parentId: string | null
  childId: string | null
  status: 'active' | 'rotated' | 'revoked'
  expiresAt: number
  rotatedAt: number | null
  /** The raw child while the parent's grace window may be open; null otherwise. */
  graceChild: string | null
}

/** 256 random bits, base64url: the same shape as the D1 store's tokens. */
function newRawToken(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(32))
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

function positiveSeconds(name: string, value: number): number {
  if (!Number.isSafeInteger(value) || value <= 0) throw new RangeError(`${name} must be a positive integer`)
  return value
}

export interface MemoryRefreshTokenOptions {
  /** Where users live: issuing for an unknown user throws, and a disabled or missing user's tokens are invalid. */
  users: Pick<UserStore, 'findById'>
  /** Epoch milliseconds; tests pass a clock they move by hand. */
  clock?: () => number
}

/**
 * @example
 * const users = createMemoryUserStore()
 * const refresh = createMemoryRefreshTokenStore({ users })
 */
export function createMemoryRefreshTokenStore(options: MemoryRefreshTokenOptions): RefreshTokenStore {
  const { users } = options
  const clock = options.clock ?? Date.now
  const nowSeconds = () => Math.floor(clock() / 1000)
  const families = new Map<string, Family>()
  const byHash = new Map<string, Token>()
  const byId = new Map<string, Token>()

  const addToken = (family: Family, token: Omit<Token, 'family'>): Token => {
    const stored = { ...token, family }
    family.tokens.push(stored)
    byHash.set(stored.hash, stored)
    byId.set(stored.id, stored)
    return stored
  }

  const revoke = (family: Family, reason: string, now: number): boolean => {
    if (family.revokedAt !== null) return false
    family.revokedAt = now
    family.revokedReason = reason
    for (const token of family.tokens) {
      if (token.status === 'active') token.status = 'revoked'
      token.graceChild = null
    }
    return true
  }

  /** A rotated token presented again: the same current child inside the window, otherwise reuse. */
  const presentRotated = (token: Token, graceSeconds: number, now: number): RotateResult => {
    const { family } = token
    const grace = Math.min(Math.max(0, Math.floor(graceSeconds)), MAX_GRACE_SECONDS)
    const inWindow = grace > 0 && token.rotatedAt !== null && now - token.rotatedAt <= grace
    const child = token.childId === null ? undefined : byId.get(token.childId)
    // Only the immediate parent of the active token qualifies: a grandparent's child has rotated already.
    if (inWindow && token.graceChild !== null && child?.status === 'active') {
      if (child.expiresAt <= now) return INVALID
      const { id: familyId, userId } = family
      return { kind: 'grace', token: token.graceChild, familyId, userId, expiresAt: child.expiresAt }
    }
    revoke(family, 'reuse', now)
    return { kind: 'reuse', familyId: family.id, userId: family.userId }
  }

  const decide = (
    hash: string,
    user: User | null,
    next: { raw: string; hash: string },
    { graceSeconds, client }: { graceSeconds: number; client?: string },
  ): RotateResult => {
    const now = nowSeconds()
    const token = byHash.get(hash)
    if (token === undefined) return INVALID
    const { family } = token
    if (family.revokedAt !== null || token.status === 'revoked') return INVALID
    if (family.absoluteExpiresAt <= now || family.idleExpiresAt <= now) return INVALID
    if (user === null || user.disabledAt !== null) return INVALID
    if (client !== undefined && client !== family.client) return INVALID
    if (token.status === 'rotated') return presentRotated(token, graceSeconds, now)
    if (token.expiresAt <= now) return INVALID

    const expiresAt = Math.min(now + family.idleTtlSeconds, family.absoluteExpiresAt)
    const child = addToken(family, {
      id: crypto.randomUUID(),
      hash: next.hash,
      parentId: token.id,
      childId: null,
      status: 'active',
      expiresAt,
      rotatedAt: null,
      graceChild: null,
    })
    Object.assign(token, { status: 'rotated', rotatedAt: now, childId: child.id, graceChild: next.raw })
    family.idleExpiresAt = expiresAt
    family.lastUsedAt = now
    // The presented token's parent is now a grandparent: its grace window is over.
    const parent = token.parentId === null ? undefined : byId.get(token.parentId)
    if (parent !== undefined) parent.graceChild = null
    return { kind: 'rotated', token: next.raw, familyId: family.id, userId: family.userId, expiresAt }
  }

  return {
    async issue(userId, { client, absoluteTtlSeconds, idleTtlSeconds }) {
      const now = nowSeconds()
      const absoluteExpiresAt = now + positiveSeconds('absoluteTtlSeconds', absoluteTtlSeconds)
      const expiresAt = Math.min(now + positiveSeconds('idleTtlSeconds', idleTtlSeconds), absoluteExpiresAt)
      // D1 refuses a family of an unknown user through its foreign key.
      if ((await users.findById(userId)) === null) throw new Error('refresh family for an unknown user')
      const token = newRawToken()
      const hash = await sha256Hex(token)
      const family: Family = {
        id: crypto.randomUUID(),
        userId,
        client,
        createdAt: now,
        lastUsedAt: now,
        idleTtlSeconds,
        idleExpiresAt: expiresAt,
        absoluteExpiresAt,
        revokedAt: null,
        revokedReason: null,
        tokens: [],
      }
      families.set(family.id, family)
      const first = { id: crypto.randomUUID(), hash, parentId: null, childId: null, graceChild: null }
      addToken(family, { ...first, status: 'active', expiresAt, rotatedAt: null })
      return { token, familyId: family.id, userId, expiresAt } satisfies IssuedRefreshToken
    },

    async rotate(rawToken, options) {
      if (typeof rawToken !== 'string' || !TOKEN_SHAPE.test(rawToken)) return INVALID
      const hash = await sha256Hex(rawToken)
      const presented = byHash.get(hash)
      if (presented === undefined) return INVALID
      // Every await happens before the decision, which then reads the state as it is by then.
      const user = await users.findById(presented.family.userId)
      const raw = newRawToken()
      return decide(hash, user, { raw, hash: await sha256Hex(raw) }, options)
    },

    async findFamily(rawToken) {
      if (typeof rawToken !== 'string' || !TOKEN_SHAPE.test(rawToken)) return null
      const token = byHash.get(await sha256Hex(rawToken))
      return token === undefined ? null : { familyId: token.family.id, userId: token.family.userId }
    },

    async isFamilyLive(familyId) {
      return families.get(familyId)?.revokedAt === null
    },

    async revokeFamily(familyId, reason) {
      const family = families.get(familyId)
      return family !== undefined && revoke(family, reason, nowSeconds())
    },

    async listFamilies(userId, now) {
      // Newest first; the map keeps insertion order, which orders the logins of one second.
      return [...families.values()]
        .filter((family) => family.userId === userId && family.revokedAt === null && family.idleExpiresAt > now)
        .reverse()
        .sort((a, b) => b.createdAt - a.createdAt)
        .slice(0, MAX_LISTED_FAMILIES)
        .map(({ id, client, createdAt, lastUsedAt, idleExpiresAt }) => ({
          id,
          client,
          createdAt,
          lastUsedAt,
          expiresAt: idleExpiresAt,
        }))
    },

    async revokeFamilyOf(userId, familyId, reason) {
      const family = families.get(familyId)
      const now = nowSeconds()
      if (family?.userId !== userId) return 'not_found'
      if (family.revokedAt !== null) return 'already_revoked'
      return family.idleExpiresAt > now && revoke(family, reason, now) ? 'revoked' : 'not_found'
    },

    async revokeAllForUser(userId, reason) {
      const now = nowSeconds()
      let revoked = 0
      for (const family of families.values()) if (family.userId === userId && revoke(family, reason, now)) revoked++
      return revoked
    },

    async revokeOtherFamilies(userId, keepFamilyId, reason) {
      const now = nowSeconds()
      return [...families.values()]
        .filter((family) => family.userId === userId && family.id !== keepFamilyId && revoke(family, reason, now))
        .map((family) => family.id)
    },

    async purgeExpired(now, limit = DEFAULT_PURGE_LIMIT) {
      const bound = Math.min(Math.max(1, Math.floor(limit)), 5000)
      const dead = [...families.values()]
        .filter((family) => family.idleExpiresAt <= now)
        .sort((a, b) => a.idleExpiresAt - b.idleExpiresAt)
        .slice(0, bound)
      let deleted = 0
      for (const family of dead) {
        for (const token of family.tokens) {
          byHash.delete(token.hash)
          byId.delete(token.id)
        }
        families.delete(family.id)
        deleted += family.tokens.length + 1
      }
      for (const token of byId.values()) {
        if (token.rotatedAt !== null && token.rotatedAt < now - MAX_GRACE_SECONDS) token.graceChild = null
      }
      return deleted
    },
  }
}

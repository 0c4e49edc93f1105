/**
 * The Redis key layout of the rate limits and the revocation entries (src/stores/STORAGE.md), in one place so the
 * admission script, the revocation writes and the tests agree on it.
 */
import { boundedMemo } from '../../lib/bounded-memo'
import { sha256Hex } from '../../lib/crypto'
import type { RateLimitPolicy, RevocationSubject } from '../types'

/** Key prefixes, one per rate-limit policy. */
export const RATE_LIMIT_PREFIXES: Record<RateLimitPolicy, string> = {
  global: 'rl:global',
  auth: 'rl:auth',
  user: 'rl:user',
  refresh: 'rl:refresh',
  password_reset: 'rl:password-reset',
  repeat_registration: 'rl:repeat-registration',
}

export const REVOCATION_KEY_PREFIX = 'rv'

/**
 * Ids are stored as SHA-256 hashes, never as they are: a dump of Redis names no token, session or user. A token
 * is presented many times in its life, so an isolate hashes each id once (up to 10,000 of each kind remembered).
 */
const hashedIds = {
  jti: boundedMemo(10_000, sha256Hex),
  sid: boundedMemo(10_000, sha256Hex),
  sub: boundedMemo(10_000, sha256Hex),
}

export async function revocationKey(kind: 'jti' | 'sid' | 'sub', id: string): Promise<string> {
  return `${REVOCATION_KEY_PREFIX}:${kind}:${await hashedIds[kind](id)}`
}

/** The token's, its session's and its user's revocation keys, in that order. */
export function revocationKeys(subject: RevocationSubject): Promise<[string, string, string]> {
  return Promise.all([
    revocationKey('jti', subject.jti),
    revocationKey('sid', subject.sid),
    revocationKey('sub', subject.sub),
  ])
}

/** The sorted set of an exact sliding log (the `auth` policy). */
export function exactWindowKey(prefix: string, identifier: string): string {
  return `${prefix}:${identifier}`
}

/**
 * The current and the previous fixed bucket of a weighted sliding window (`global`, `user`), as @upstash/ratelimit's
 * `slidingWindow` names them, so keys written before and after the gateway took over the algorithm are the same.
 */
export function slidingWindowKeys(
  prefix: string,
  identifier: string,
  windowMs: number,
  nowMs: number,
): [string, string] {
  const bucket = Math.floor(nowMs / windowMs)
  return [`${prefix}:${identifier}:${bucket}`, `${prefix}:${identifier}:${bucket - 1}`]
}

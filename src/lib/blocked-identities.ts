/**
 * An isolate's memory of refused identities: "this key was refused until `untilMs`". It only ever refuses again
 * what was refused before; a miss means "ask the real limiter", never "admit". Bounded to `maxEntries` keys,
 * whatever the number of distinct identities refused (one per IPv6 /64 is cheap for an attacker to have).
 * Pure apart from its own map; the clock is passed in.
 */

export interface BlockedIdentitiesOptions {
  /** Keys kept at most. @default 10_000 */
  maxEntries?: number
}

export interface Block {
  /** Epoch ms until which the key stays refused. */
  untilMs: number
  /** The refusal came from a degraded (in-isolate fallback) decision, whose numbers are guesses. */
  degraded: boolean
}

export interface BlockedIdentities {
  /** Remembers `key` as refused until `untilMs`, replacing what was remembered; a non-finite `untilMs` forgets it. */
  block(key: string, untilMs: number, degraded?: boolean): void
  /** The block on `key` at `nowMs`, or undefined (never refused, expired, or evicted: ask). Forgets it if expired. */
  blocked(key: string, nowMs: number): Block | undefined
  /** When the block on `key` ends, or undefined. */
  blockedUntil(key: string, nowMs: number): number | undefined
  /** Keys currently held (never more than `maxEntries`). */
  readonly size: number
}

/**
 * @example
 * const blocked = createBlockedIdentities({ maxEntries: 10_000 })
 * blocked.block('auth|ip4:203.0.113.7', decision.resetMs)
 * if (blocked.blockedUntil('auth|ip4:203.0.113.7', Date.now()) !== undefined) refuse()
 */
export function createBlockedIdentities({ maxEntries = 10_000 }: BlockedIdentitiesOptions = {}): BlockedIdentities {
  if (!Number.isSafeInteger(maxEntries) || maxEntries < 1) {
    throw new TypeError(`blocked identities: maxEntries must be a positive integer, got ${maxEntries}`)
  }
  // Map order is insertion order, and a re-blocked key is re-inserted, so the first entry is the oldest block.
  // Full, the oldest block is evicted: O(1), where "soonest to expire" would need a heap or a scan per insert.
  // The two mostly agree (one policy's blocks last about one window each), and an evicted block costs only what
  // the memory saves: the next request of that identity asks Upstash, which refuses it again and re-blocks it.
  const blocks = new Map<string, Block>()

  const lookup = (key: string, nowMs: number): Block | undefined => {
    const block = blocks.get(key)
    if (block === undefined) return undefined
    if (block.untilMs > nowMs) return block
    blocks.delete(key)
    return undefined
  }

  return {
    block(key, untilMs, degraded = false) {
      blocks.delete(key)
      if (!Number.isFinite(untilMs)) return
      while (blocks.size >= maxEntries) {
        const oldest = blocks.keys().next().value
        if (oldest === undefined) break
        blocks.delete(oldest)
      }
      blocks.set(key, { untilMs, degraded })
    },
    blocked: lookup,
    blockedUntil: (key, nowMs) => lookup(key, nowMs)?.untilMs,
    get size() {
      return blocks.size
    },
  }
}

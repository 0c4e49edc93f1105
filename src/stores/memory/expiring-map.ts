/**
 * A map whose entries expire, the in-memory stand-in for Redis keys with a TTL. An expired entry is invisible at
 * once and physically dropped by a sweep that runs whenever the map has doubled since the last one: each sweep
 * costs O(size) but happens after as many inserts, so writes stay O(1) amortized and the map never holds more
 * than about twice its live entries.
 */

/** Below this size a sweep is not worth its pass over the map. */
const MIN_SWEEP_SIZE = 64

export interface ExpiringMap<V> {
  /** The live value, or undefined once `expiresAtMs` <= `nowMs`. */
  get(key: string, nowMs: number): V | undefined
  /** The live entry's expiry, epoch ms. */
  expiresAt(key: string, nowMs: number): number | undefined
  set(key: string, value: V, expiresAtMs: number, nowMs: number): void
  delete(key: string): void
  /** Entries held, expired ones not yet swept included. */
  size(): number
}

export function createExpiringMap<V>(): ExpiringMap<V> {
  const entries = new Map<string, { value: V; expiresAtMs: number }>()
  let sweepAt = MIN_SWEEP_SIZE

  const live = (key: string, nowMs: number) => {
    const entry = entries.get(key)
    if (entry === undefined) return undefined
    if (entry.expiresAtMs > nowMs) return entry
    entries.delete(key)
    return undefined
  }

  return {
    get: (key, nowMs) => live(key, nowMs)?.value,
    expiresAt: (key, nowMs) => live(key, nowMs)?.expiresAtMs,
    set(key, value, expiresAtMs, nowMs) {
      entries.set(key, { value, expiresAtMs })
      if (entries.size < sweepAt) return
      for (const [k, entry] of entries) if (entry.expiresAtMs <= nowMs) entries.delete(k)
      sweepAt = Math.max(MIN_SWEEP_SIZE, entries.size * 2)
    },
    delete(key) {
      entries.delete(key)
    },
    size: () => entries.size,
  }
}

/**
 * "Log this key at most once per interval", memory-bounded: for records an attacker could otherwise multiply
 * (rejected origins, rate-limited clients). When `maxKeys` keys were all logged within the interval, a new key is
 * not logged either; the next record that is logged carries the count of those left unlogged (`suppressed`).
 * Pure apart from its own map; the clock is passed in.
 */
export function createLogThrottle({ intervalMs, maxKeys }: { intervalMs: number; maxKeys: number }) {
  // Insertion order is last-logged order (an entry is re-inserted when logged), so expired entries come first.
  const lastLogged = new Map<string, number>()
  let suppressed = 0
  return {
    /** Whether to log `key` at `nowMs`; if so, how many records went unlogged before it. */
    admit(key: string, nowMs: number): { suppressed: number } | undefined {
      const last = lastLogged.get(key)
      // `nowMs >= last`: a clock that went back never silences a key for longer than the interval.
      if (last !== undefined && nowMs >= last && nowMs - last < intervalMs) {
        suppressed++
        return undefined
      }
      if (last === undefined && lastLogged.size >= maxKeys) {
        for (const [stale, at] of lastLogged) {
          if (nowMs - at < intervalMs) break
          lastLogged.delete(stale)
        }
        if (lastLogged.size >= maxKeys) {
          suppressed++
          return undefined
        }
      }
      lastLogged.delete(key)
      lastLogged.set(key, nowMs)
      const unlogged = suppressed
      suppressed = 0
      return { suppressed: unlogged }
    },
    /** How many keys are remembered (never more than `maxKeys`). */
    get size() {
      return lastLogged.size
    },
  }
}

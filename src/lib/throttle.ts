/**
 * "At most once per interval per key", memory-bounded: for log records an attacker could otherwise multiply.
 * Pure apart from its own map; the clock is passed in.
 */
export function createThrottle({ intervalMs, maxKeys }: { intervalMs: number; maxKeys: number }) {
  const last = new Map<string, number>()
  let suppressed = 0
  return {
    /** True when `key` may be logged now; otherwise counts it as suppressed. */
    allow(key: string, nowMs: number): boolean {
      const previous = last.get(key)
      if (previous !== undefined && nowMs - previous < intervalMs) {
        suppressed++
        return false
      }
      last.delete(key)
      if (last.size >= maxKeys) {
        const oldest = last.keys().next().value
        if (oldest !== undefined) last.delete(oldest)
      }
      last.set(key, nowMs)
      return true
    },
    /** How many were suppressed since the last call; resets the count. */
    takeSuppressed(): number {
      const n = suppressed
      suppressed = 0
      return n
    },
  }
}

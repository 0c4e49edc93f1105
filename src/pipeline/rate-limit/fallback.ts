/**
 * The in-isolate limiter used while Upstash is unavailable: an exact sliding log per key, in memory. Each isolate
 * counts alone, so a client spread over K isolates gets up to K × `tokens`; callers pass a fraction of the real
 * limit for that reason. Memory is bounded (`maxKeys` keys, least recently used evicted first); eviction forgets a
 * key's history, so a flood of fresh keys can reset an old one: acceptable for a degraded mode.
 */

export interface FallbackLimiterOptions {
  /** Keys kept at most; the least recently used is evicted beyond it. @default 10_000 */
  maxKeys?: number
}

export interface FallbackDecision {
  success: boolean
  /** Admissions left in the window after this call. */
  remaining: number
  /** Epoch ms (on the caller's clock) when more quota is available: the oldest admission leaves the window. */
  resetMs: number
}

export interface FallbackLimiter {
  /** Counts one request for `key` at `nowMs`: admitted iff fewer than `tokens` admissions in (nowMs − windowMs, nowMs]. */
  limit(key: string, tokens: number, windowMs: number, nowMs: number): FallbackDecision
  /** Keys currently held. */
  size(): number
}

/**
 * @param [options.maxKeys=10_000] - memory bound in keys
 * @example
 * const fallback = createFallbackLimiter({ maxKeys: 10_000 })
 * const { success } = fallback.limit(`global:${ip}`, Math.max(1, Math.floor(limit * 0.1)), 60_000, Date.now())
 */
export function createFallbackLimiter({ maxKeys = 10_000 }: FallbackLimiterOptions = {}): FallbackLimiter {
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    throw new TypeError(`fallback limiter: maxKeys must be a positive integer, got ${maxKeys}`)
  }
  /** key → admission times, ascending. Map order is recency: a touched key is re-inserted at the end. */
  const logs = new Map<string, number[]>()

  return {
    limit(key, tokens, windowMs, nowMs) {
      if (!Number.isSafeInteger(tokens) || tokens < 1) {
        throw new TypeError(`fallback limiter: tokens must be a positive integer, got ${tokens}`)
      }
      if (!Number.isFinite(windowMs) || windowMs <= 0) {
        throw new TypeError(`fallback limiter: windowMs must be positive, got ${windowMs}`)
      }
      let log = logs.get(key)
      if (log === undefined) {
        log = []
      } else {
        logs.delete(key) // re-inserted below: most recently used
        let expired = 0
        while (expired < log.length && (log[expired] as number) <= nowMs - windowMs) expired++
        if (expired > 0) log.splice(0, expired)
      }
      let success = false
      if (log.length < tokens) {
        // A clock that steps back must not reorder the log: record no earlier than the newest entry (conservative,
        // the entry then stays a little longer).
        log.push(Math.max(nowMs, log.at(-1) ?? nowMs))
        success = true
      }
      // The log is never empty here (admitted: it holds this request; denied: at least `tokens` entries).
      while (logs.size >= maxKeys) {
        const leastRecent = logs.keys().next().value
        if (leastRecent === undefined) break
        logs.delete(leastRecent)
      }
      logs.set(key, log)
      // Admitted: quota grows when the oldest entry leaves. Denied: a request fits once the
      // (length − tokens + 1)-th oldest leaves (the oldest, unless `tokens` shrank since).
      const next = success ? log[0] : log[log.length - tokens]
      return {
        success,
        remaining: Math.max(0, tokens - log.length),
        resetMs: (next ?? nowMs) + windowMs,
      }
    },

    size() {
      return logs.size
    },
  }
}

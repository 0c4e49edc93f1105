/**
 * Verified access tokens remembered per key ring, so a token presented again (an app's every request for up to
 * its lifetime) is not parsed and signature-checked again. Only successes are kept, keyed by the exact token
 * string: the same bytes under the same keys and options always verify the same way. What changes with time is
 * re-checked on every hit: an entry answers only between the instant it was verified and the moment the token
 * expires or grows older than the access-token lifetime (both with the clock-skew tolerance, as jose checks
 * them); outside that window the full verification runs again and names the failure. Revocation is not cached
 * here: it is checked on every request.
 */
import type { AccessTokenClaims, VerifyOptions } from './claims'

/** About 2 MB at most (a token and its claims are near 1 KB). */
export const MAX_VERIFIED_TOKENS = 2_000

interface Entry {
  claims: AccessTokenClaims
  /** Epoch seconds: the clock at verification; an earlier clock (tests travelling back) is not answered. */
  from: number
  /** Epoch seconds: the last second at which jose would still accept the token. */
  until: number
}

interface Cache {
  options: VerifyOptions
  entries: Map<string, Entry>
}

const caches = new WeakMap<object, Cache>()
const seconds = (options: VerifyOptions) => Math.floor((options.now ?? new Date()).getTime() / 1000)

function cacheFor(ring: object, options: VerifyOptions): Map<string, Entry> | undefined {
  let cache = caches.get(ring)
  if (cache === undefined) {
    cache = { options, entries: new Map() }
    caches.set(ring, cache)
  }
  // Other options (another audience, say) over the same ring: not this cache's answers.
  return cache.options === options ? cache.entries : undefined
}

/** The claims of `token` verified earlier under `ring` and `options`, if they still hold now. */
export function recall(ring: object, options: VerifyOptions, token: string): AccessTokenClaims | undefined {
  const entries = cacheFor(ring, options)
  const entry = entries?.get(token)
  if (entry === undefined) return undefined
  const now = seconds(options)
  if (now < entry.from || now > entry.until) return undefined
  return { ...entry.claims, scopes: [...entry.claims.scopes] }
}

/** Remembers the claims of a token that has just verified under `ring` and `options`. */
export function remember(ring: object, options: VerifyOptions, token: string, claims: AccessTokenClaims): void {
  const entries = cacheFor(ring, options)
  if (entries === undefined) return
  const skew = options.clockSkewSeconds
  // jose refuses once exp <= now - skew, or once iat < now - maxTokenAge - skew.
  const until = Math.min(claims.exp + skew - 1, claims.iat + options.accessTtlSeconds + skew)
  if (entries.size >= MAX_VERIFIED_TOKENS) entries.delete(entries.keys().next().value as string)
  entries.set(token, { claims: { ...claims, scopes: [...claims.scopes] }, from: seconds(options), until })
}

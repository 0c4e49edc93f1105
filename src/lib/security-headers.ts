/**
 * The security headers every response carries (R-HDR-1, R-HDR-3, R-HDR-4, R-HDR-5 in docs/requirements.md): the
 * fields hono's `secureHeaders` sets with {@link SECURE_HEADERS_OPTIONS} (its weaker defaults overridden: HSTS one
 * year, X-Frame-Options DENY, a deny-all CSP for an API), held equal to what that middleware sets by a test, and
 * applied by the gateway itself: hono's middleware asks the response for its headers once per field, a runtime call
 * in workerd, twelve per response; and the proxy builds its answers with the fields already in place, copied from one
 * prepared set, which costs the runtime less than half of setting them one by one (docs/COST.md).
 */

/** One year, the ASVS minimum (R-HDR-3). */
const HSTS_MAX_AGE_SECONDS = 31_536_000

/** The options of hono's `secureHeaders` these headers are (its defaults, and these overrides). */
export const SECURE_HEADERS_OPTIONS = {
  strictTransportSecurity: `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
  xFrameOptions: 'DENY',
  contentSecurityPolicy: { defaultSrc: ["'none'"] as string[], frameAncestors: ["'none'"] as string[] },
  referrerPolicy: 'no-referrer',
  crossOriginResourcePolicy: 'same-origin',
  xXssProtection: '0',
  xContentTypeOptions: 'nosniff',
  removePoweredBy: true,
} as const

/** The fields, lower-case, with their values. A response's own field of the same name is replaced. */
export const SECURITY_HEADERS: readonly (readonly [name: string, value: string])[] = [
  ['cross-origin-resource-policy', 'same-origin'],
  ['cross-origin-opener-policy', 'same-origin'],
  ['origin-agent-cluster', '?1'],
  ['referrer-policy', 'no-referrer'],
  ['strict-transport-security', SECURE_HEADERS_OPTIONS.strictTransportSecurity],
  ['x-content-type-options', 'nosniff'],
  ['x-dns-prefetch-control', 'off'],
  ['x-download-options', 'noopen'],
  ['x-frame-options', 'DENY'],
  ['x-permitted-cross-domain-policies', 'none'],
  ['x-xss-protection', '0'],
  ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
]

const NAMES: ReadonlySet<string> = new Set(SECURITY_HEADERS.map(([name]) => name))

/** Whether `name` (lower-case) is one of {@link SECURITY_HEADERS}: the gateway's value replaces any other. */
export const isSecurityHeader = (name: string): boolean => NAMES.has(name)

/** Headers that carry every one of {@link SECURITY_HEADERS} with its value, and no X-Powered-By. */
const secured = new WeakSet<Headers>()

/** Whether `headers` came from {@link securedResponse}, so the security stage need not set the fields again. */
export const isSecured = (headers: Headers): boolean => secured.has(headers)

/** Built once per isolate and only ever copied: a Response copies the Headers it is given. */
let prepared: Headers | undefined

/**
 * A response whose headers start as a copy of {@link SECURITY_HEADERS}; the caller adds the rest, never a
 * security header's name nor X-Powered-By, so the security stage can skip it.
 */
export function securedResponse(body: ReadableStream | null, init: { status: number; statusText: string }): Response {
  prepared ??= new Headers(SECURITY_HEADERS as [string, string][])
  const response = new Response(body, { ...init, headers: prepared })
  secured.add(response.headers)
  return response
}

/** Sets every one of {@link SECURITY_HEADERS} on `headers` and removes X-Powered-By, unless they are already there. */
export function applySecurityHeaders(headers: Headers): void {
  if (isSecured(headers)) return
  for (const [name, value] of SECURITY_HEADERS) headers.set(name, value)
  headers.delete('x-powered-by')
}

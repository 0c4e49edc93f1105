/**
 * Security headers (R-HDR-1, R-HDR-3, R-HDR-4, R-HDR-5 in docs/requirements.md): the fields hono's secureHeaders
 * sets with these options, overriding its defaults where they fall short: HSTS one year (hono: 180 days),
 * X-Frame-Options DENY (hono: SAMEORIGIN) and a deny-all CSP for an API. The fields are fixed, so they are listed
 * once here (a test holds the list equal to what hono's middleware sets with `SECURE_HEADERS_OPTIONS`) and set from
 * the list; a response built by `securedResponse` already has them and is left as it is.
 */
import { createMiddleware } from 'hono/factory'
import type { secureHeaders as honoSecureHeaders } from 'hono/secure-headers'

/** One year, the ASVS minimum (R-HDR-3). */
export const HSTS_MAX_AGE_SECONDS = 31_536_000

/** The options for hono's secureHeaders that {@link SECURITY_HEADERS} stands for. */
export const SECURE_HEADERS_OPTIONS: NonNullable<Parameters<typeof honoSecureHeaders>[0]> = {
  strictTransportSecurity: `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`,
  xFrameOptions: 'DENY',
  contentSecurityPolicy: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  referrerPolicy: 'no-referrer',
  crossOriginResourcePolicy: 'same-origin',
  xXssProtection: '0',
  xContentTypeOptions: 'nosniff',
  removePoweredBy: true,
}

/** Every response's security fields, lower-case names; each replaces a field of the same name. */
export const SECURITY_HEADERS: readonly (readonly [string, string])[] = [
  ['cross-origin-opener-policy', 'same-origin'],
  ['cross-origin-resource-policy', 'same-origin'],
  ['origin-agent-cluster', '?1'],
  ['referrer-policy', 'no-referrer'],
  ['strict-transport-security', `max-age=${HSTS_MAX_AGE_SECONDS}; includeSubDomains`],
  ['x-content-type-options', 'nosniff'],
  ['x-dns-prefetch-control', 'off'],
  ['x-download-options', 'noopen'],
  ['x-frame-options', 'DENY'],
  ['x-permitted-cross-domain-policies', 'none'],
  ['x-xss-protection', '0'],
  ['content-security-policy', "default-src 'none'; frame-ancestors 'none'"],
]
const SECURITY_HEADER_NAMES: ReadonlySet<string> = new Set(SECURITY_HEADERS.map(([name]) => name))

/** Responses built by {@link securedResponse}: their security fields are already in place. */
const secured = new WeakSet<Response>()

/**
 * A response whose header list is `headers` (lower-case names) with the security fields replacing any of the same
 * names, built in one construction: cheaper than setting each field on it afterwards, which the middleware then skips.
 */
export function securedResponse(
  body: BodyInit | null,
  init: { status: number; statusText: string },
  headers: [string, string][],
): Response {
  const list: [string, string][] = []
  for (const entry of headers) {
    if (!SECURITY_HEADER_NAMES.has(entry[0]) && entry[0] !== 'x-powered-by') list.push(entry)
  }
  for (const [name, value] of SECURITY_HEADERS) list.push([name, value])
  const response = new Response(body, { status: init.status, statusText: init.statusText, headers: list })
  secured.add(response)
  return response
}

export const securityHeaders = () =>
  createMiddleware(async function securityHeaders(c, next) {
    await next()
    if (secured.has(c.res)) return
    const { headers } = c.res
    for (const [name, value] of SECURITY_HEADERS) headers.set(name, value)
    headers.delete('x-powered-by')
  })

/**
 * `Cache-Control: no-store` on every response of a path that can carry tokens (R-HDR-2), unless the handler
 * chose a policy itself.
 */
export const noStore = () =>
  createMiddleware(async function noStore(c, next) {
    await next()
    if (!c.res.headers.has('cache-control')) c.res.headers.set('cache-control', 'no-store')
  })

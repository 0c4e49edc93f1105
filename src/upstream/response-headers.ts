/**
 * Header hygiene towards the client: the fields that name the origin's software (`Server`, `X-Powered-By`) or
 * describe the hop go, the gateway's own namespace (the signed identity) never comes back, and what is the whole
 * host's (CORS, reporting, alternative services, service worker scope, the gateway's cookies) stays the gateway's.
 * The origin's side is `headers.ts`.
 */
import { connectionListed, GATEWAY_COOKIES, HOP_BY_HOP } from './headers'

/**
 * Response fields the client never gets from the origin: its software (`Server`, `X-Powered-By`); the hop (`Via`,
 * `Forwarded`); and policies a browser applies to the whole host, which one path of the origin must not set for
 * the gateway's origin: alternative services (the edge's transport), network error logging and its `Report-To`
 * endpoints (where browsers send reports about every request to the host, for months), and a service worker scope
 * wider than its script. `Reporting-Endpoints` passes: it configures endpoints for the one document it comes with.
 */
export const UPSTREAM_ONLY_RESPONSE_HEADERS = [
  'server',
  'x-powered-by',
  'via',
  'forwarded',
  'alt-svc',
  'nel',
  'report-to',
  'service-worker-allowed',
] as const
const UPSTREAM_ONLY = new Set<string>(UPSTREAM_ONLY_RESPONSE_HEADERS)

/**
 * Response field prefixes dropped alike: the gateway's CORS (`Access-Control-*`), and the names it sends the origin
 * (`X-Gateway-*`, the signed identity, which an origin that reflects request headers would hand the client, and
 * `X-Forwarded-*`).
 */
export const UPSTREAM_ONLY_RESPONSE_PREFIXES = ['access-control-', 'x-gateway-', 'x-forwarded-'] as const

/**
 * Headers holding only {@link clientResponseFields}' fields (and whatever the caller adds that is not `Access-Control-*`):
 * the CORS stage need not look for stale ones, an iteration over every field of the response, as long as nothing
 * adds one in between (no stage between the proxy and CORS does; CORS writes its own).
 */
const corsFree = new WeakSet<Headers>()

/** Whether `headers` hold no `Access-Control-*` field, having been built from {@link clientResponseFields}. */
export const isCorsFree = (headers: Headers): boolean => corsFree.has(headers)

/** Marks `headers`, built from {@link clientResponseFields} plus fields that are not `Access-Control-*`, CORS-free. */
export const markCorsFree = (headers: Headers): void => {
  corsFree.add(headers)
}

/**
 * The origin's response fields the client may see, in one pass over them: hop-by-hop and Connection-listed fields,
 * {@link UPSTREAM_ONLY_RESPONSE_HEADERS} and {@link UPSTREAM_ONLY_RESPONSE_PREFIXES} removed; each `Set-Cookie`
 * kept as its own field, except one that would set a gateway cookie; `Clear-Site-Data` without its `"cookies"` and
 * `"*"` directives (which would delete the gateway's cookie), dropped if nothing else is left. All else is kept,
 * lower-case names, in the order the runtime iterates them.
 */
export function clientResponseFields(
  upstream: Headers,
  dropCookies: readonly string[] = GATEWAY_COOKIES,
): [name: string, value: string][] {
  // The pairs are read once: iterating a Headers costs the runtime as much per field as setting one, and the
  // Connection field, which decides what else goes, is only known once they are all read.
  const fields = [...upstream]
  const unlisted = connectionListed(fields)
  let drop: ReadonlySet<string> | undefined
  const kept: [name: string, value: string][] = []
  for (const field of fields) {
    const [name, value] = field
    if (HOP_BY_HOP.has(name) || UPSTREAM_ONLY.has(name) || unlisted.has(name) || droppedPrefix(name)) continue
    if (name === 'set-cookie') {
      drop ??= new Set(dropCookies.map((cookie) => cookie.toLowerCase()))
      if (!drop.has(setCookieName(value).toLowerCase())) kept.push(field)
    } else if (name === 'clear-site-data') {
      const rest = withoutCookieClearing(value)
      if (rest !== '') kept.push([name, rest])
    } else {
      kept.push(field)
    }
  }
  return kept
}

function droppedPrefix(name: string): boolean {
  for (const prefix of UPSTREAM_ONLY_RESPONSE_PREFIXES) if (name.startsWith(prefix)) return true
  return false
}

/**
 * A Clear-Site-Data value without the directives that clear cookies (`"cookies"`, `"*"`), compared without their
 * quotes and case, so no spelling a browser might accept clears the gateway's refresh cookie. The origin can still
 * clear its own cookies with Set-Cookie, and the cache and storage with this field.
 */
function withoutCookieClearing(value: string): string {
  return value
    .split(',')
    .map((directive) => directive.trim())
    .filter((directive) => {
      const bare = directive.replace(/^"|"$/g, '').trim().toLowerCase()
      return directive !== '' && bare !== 'cookies' && bare !== '*'
    })
    .join(', ')
}

/**
 * The name a browser would store a Set-Cookie under. A nameless cookie (`=__Host-rt=x`) is stored with an empty
 * name and sent back as `__Host-rt=x`, which the gateway would read as its own cookie: its name is taken from its
 * value. Compared case-insensitively by the caller, as browsers match the `__Host-` prefix.
 */
function setCookieName(setCookie: string): string {
  const pair = setCookie.split(';', 1)[0] ?? ''
  const name = pair.split('=', 1)[0]?.trim() ?? ''
  return name !== '' || !pair.includes('=') ? name : setCookieName(pair.slice(pair.indexOf('=') + 1))
}

/**
 * Header hygiene at both edges of the proxy. Towards the origin: an allow-list, so nothing the client says about
 * identity, routing or the connection survives, whatever its spelling; the gateway sets the few it vouches for.
 * Towards the client: the fields that name the origin's software (`Server`, `X-Powered-By`) or describe the hop go,
 * the gateway's own namespace (the signed identity) never comes back, and what is the whole host's (CORS, reporting,
 * alternative services, service worker scope, the gateway's cookies) stays the gateway's. Pure: Headers in, new
 * Headers out.
 */

/** Hop-by-hop fields (RFC 9110 §7.6.1), plus the legacy Proxy-Connection. Never forwarded in either direction. */
export const HOP_BY_HOP_HEADERS = [
  'connection',
  'keep-alive',
  'proxy-connection',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'proxy-authorization',
  'proxy-authenticate',
] as const

/**
 * The client request headers an origin API gets by default: content negotiation, the body's type and length,
 * conditional and range requests, caching hints, cookies (less the gateway's own), `Origin` for the origin's
 * CSRF checks, idempotency keys and W3C trace context. Everything else is dropped: identity and routing claims
 * (`X-Real-IP`, `Client-IP`, `X-Original-URL`, `X-Host`…), method overrides, the bearer token (the origin trusts
 * the signed X-Gateway-* identity instead, and never sees, logs or replays it), and every name with `_`, which
 * CGI/WSGI/Rack servers read as the `-` spelling (`X_Forwarded_For` as X-Forwarded-For), as nginx drops them by
 * default. A route adds names with `forwardHeaders`.
 */
export const FORWARDED_REQUEST_HEADERS = [
  'accept',
  'accept-language',
  'cache-control',
  'content-language',
  'content-length',
  'content-type',
  'cookie',
  'idempotency-key',
  'if-match',
  'if-modified-since',
  'if-none-match',
  'if-range',
  'if-unmodified-since',
  'origin',
  'pragma',
  'prefer',
  'range',
  'traceparent',
  'tracestate',
  'user-agent',
] as const

/**
 * Names a route may not add to the allow-list: the ones the gateway sets or vouches for, the hop-by-hop ones,
 * those that carry credentials or rewrite the request at the origin, and whole families by prefix.
 */
export const RESERVED_REQUEST_HEADERS: readonly string[] = [
  ...HOP_BY_HOP_HEADERS,
  'accept-encoding',
  'authorization',
  'client-ip',
  'content-encoding',
  'forwarded',
  'host',
  'true-client-ip',
  'x-client-ip',
  'x-cluster-client-ip',
  'x-host',
  'x-http-method',
  'x-http-method-override',
  'x-method-override',
  'x-original-host',
  'x-original-uri',
  'x-original-url',
  'x-real-ip',
  'x-request-id',
  'x-rewrite-url',
]
export const RESERVED_REQUEST_HEADER_PREFIXES = ['x-gateway-', 'x-forwarded-', 'cf-', 'proxy-'] as const

/** Whether a route may add `name` (lower-case) to the headers the origin gets. */
export function isForwardableHeaderName(name: string): boolean {
  return (
    TOKEN.test(name) &&
    !name.includes('_') &&
    name === name.toLowerCase() &&
    !RESERVED_REQUEST_HEADERS.includes(name) &&
    !RESERVED_REQUEST_HEADER_PREFIXES.some((prefix) => name.startsWith(prefix))
  )
}

const FORWARDED = new Set<string>(FORWARDED_REQUEST_HEADERS)
const HOP_BY_HOP = new Set<string>(HOP_BY_HOP_HEADERS)
const NO_OPTIONS: ReadonlySet<string> = new Set()

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

/** The gateway's refresh-token cookie: never shown to the origin, never set by it. */
export const GATEWAY_COOKIES = ['__Host-rt'] as const
const GATEWAY_COOKIE_NAMES: ReadonlySet<string> = new Set(GATEWAY_COOKIES)

/** RFC 9110 token: a Connection option that names a header. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const IP_CHARS = /^[0-9A-Fa-f:.]{2,45}$/

export interface UpstreamHeaderContext {
  /** `CF-Connecting-IP` (the only trusted client address); omitted or unparsable: no X-Forwarded-For. */
  clientIp?: string
  /** The scheme the client used, from the gateway's own URL: `https` (or `http` locally). */
  proto: 'https' | 'http'
  /** The host the client addressed, from the gateway's own URL. */
  host: string
  /** The request id, also part of the signed identity. */
  requestId: string
  /** Lower-case names the route adds to {@link FORWARDED_REQUEST_HEADERS} (checked by `isForwardableHeaderName`). */
  forwardHeaders?: readonly string[]
  /** Cookies removed from `Cookie`. @default GATEWAY_COOKIES */
  dropCookies?: readonly string[]
}

/**
 * The headers to send to the origin: the client's headers named in {@link FORWARDED_REQUEST_HEADERS} or the
 * route's `forwardHeaders`, less those the client's Connection header names (RFC 9110 §7.6.1) and the gateway's
 * own cookies; then `X-Forwarded-For` / `-Proto` / `-Host` and `X-Request-Id` from trusted values. Add the
 * signed identity afterwards (`signIdentity`).
 *
 * @example
 * const headers = upstreamRequestHeaders(c.req.raw.headers, {
 *   clientIp: c.req.header('cf-connecting-ip'), proto: 'https', host: new URL(c.req.url).host, requestId,
 * })
 */
export function upstreamRequestHeaders(incoming: Headers, context: UpstreamHeaderContext): Headers {
  // A set() per field: measured in workerd (`npm run cost`), cheaper than building from a record, which the
  // runtime converts field by field at a higher price. One pass over the incoming fields, the only one.
  const fields = [...incoming]
  const unlisted = connectionListed(fields)
  const headers = new Headers()
  for (const [name, value] of fields) {
    if (!FORWARDED.has(name) && !context.forwardHeaders?.includes(name)) continue
    if (HOP_BY_HOP.has(name) || unlisted.has(name)) continue
    if (name !== 'cookie') {
      headers.set(name, value)
      continue
    }
    const drop = context.dropCookies === undefined ? GATEWAY_COOKIE_NAMES : new Set(context.dropCookies)
    const kept = withoutCookies(value, drop)
    if (kept.length > 0) headers.set('cookie', kept.join('; '))
  }

  const ip = context.clientIp?.trim()
  if (ip !== undefined && IP_CHARS.test(ip)) headers.set('x-forwarded-for', ip)
  headers.set('x-forwarded-proto', context.proto)
  headers.set('x-forwarded-host', context.host)
  headers.set('x-request-id', context.requestId)
  // A route table's names were checked when it was compiled; names from anywhere else are checked here, or the
  // forwarder strips as usual.
  if (context.forwardHeaders === undefined || context.forwardHeaders.every(isForwardableHeaderName)) {
    allowListed.add(headers)
  }
  return headers
}

/**
 * Headers built by {@link upstreamRequestHeaders}: allow-listed fields and the gateway's own, so none of the reserved
 * names the forwarder strips (`x-gateway-*`, transfer and coding fields). Iterating a Headers costs the runtime
 * about as much per field as setting one, so the forwarder skips its own pass over these.
 */
const allowListed = new WeakSet<Headers>()

/** Whether `headers` came from {@link upstreamRequestHeaders}, so carry no reserved field. */
export const isAllowListed = (headers: Headers): boolean => allowListed.has(headers)

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

/**
 * `cookie` (a Cookie field's value) without the cookies named in `drop`; every other cookie as it was sent. Cookies
 * are separated by `;`. A `,` is part of a value for browsers (`prefs=a,b`), so a segment is never split on it,
 * which would let a cookie a sibling domain set (`x=1,__Host-csrf=known`) reach the origin as a second, forged
 * `__Host-` cookie. A `,` only separates when Headers joined two Cookie fields (`a=1, __Host-rt=…`), so a
 * segment is taken apart on `,` only to remove a dropped cookie from it, and only that part goes.
 */
function withoutCookies(cookie: string, drop: ReadonlySet<string>): string[] {
  const kept: string[] = []
  for (const raw of cookie.split(';')) {
    const segment = raw.trim()
    if (segment === '') continue
    const parts = segment.split(',')
    const dropped = (part: string) => drop.has(part.split('=', 1)[0]?.trim() ?? '')
    if (!parts.some(dropped)) {
      kept.push(segment)
      continue
    }
    const rest = parts
      .filter((part) => !dropped(part))
      .join(',')
      .trim()
    if (rest !== '') kept.push(rest)
  }
  return kept
}

/**
 * The field names (lower-case) the Connection field among `fields` lists: hop-by-hop for this connection (RFC 9110
 * §7.6.1). Taken from the fields already read, where asking the Headers would be one more call into the runtime.
 */
function connectionListed(fields: readonly [string, string][]): ReadonlySet<string> {
  const connection = fields.find(([name]) => name === 'connection')
  if (connection === undefined) return NO_OPTIONS
  const names = new Set<string>()
  for (const option of connection[1].split(',')) {
    const name = option.trim()
    if (TOKEN.test(name)) names.add(name.toLowerCase())
  }
  return names
}

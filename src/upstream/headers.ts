/**
 * Header hygiene at both edges of the proxy. Towards the origin (this file): an allow-list, so nothing the client
 * says about identity, routing or the connection survives, whatever its spelling; the gateway sets the few it
 * vouches for. Towards the client: `response-headers.ts`. Pure: Headers in, new Headers out.
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
/** {@link HOP_BY_HOP_HEADERS} as a set, for both directions. */
export const HOP_BY_HOP = new Set<string>(HOP_BY_HOP_HEADERS)
const NO_OPTIONS: ReadonlySet<string> = new Set()

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
export function connectionListed(fields: readonly [string, string][]): ReadonlySet<string> {
  const connection = fields.find(([name]) => name === 'connection')
  if (connection === undefined) return NO_OPTIONS
  const names = new Set<string>()
  for (const option of connection[1].split(',')) {
    const name = option.trim()
    if (TOKEN.test(name)) names.add(name.toLowerCase())
  }
  return names
}

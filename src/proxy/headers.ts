/**
 * Header hygiene at both edges of the proxy. Towards the origin: nothing the client says about identity, routing
 * or the connection survives; the gateway sets the few it vouches for. Towards the client: nothing about the
 * origin's stack or the hop leaks, and CORS stays the gateway's. Pure: Headers in, new Headers out.
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
 * Client headers that claim something only the gateway may state (client address, scheme, host, the original
 * URL or method) and the bearer token. `X-Original-URL`/`X-Rewrite-URL` make some frameworks route by header
 * instead of by path, and the method-override headers would let a POST act as a DELETE at the origin, both
 * behind the gateway's policy check. Authorization is dropped because the origin trusts the signed X-Gateway-*
 * identity instead: it never sees, logs or replays the client's token. `Host` is dropped because fetch sets it
 * from the upstream URL.
 */
export const UNTRUSTED_REQUEST_HEADERS = [
  'authorization',
  'host',
  'forwarded',
  'x-real-ip',
  'x-client-ip',
  'true-client-ip',
  'cf-connecting-ip',
  'cf-connecting-ipv6',
  'x-original-url',
  'x-original-uri',
  'x-rewrite-url',
  'x-http-method-override',
  'x-http-method',
  'x-method-override',
] as const

/** Response headers that describe the origin's software or belong to the gateway's own CORS handling. */
export const UPSTREAM_ONLY_RESPONSE_HEADERS = ['server', 'x-powered-by'] as const

/** The gateway's refresh-token cookie (R-RT): never shown to the origin, never set by it. */
export const GATEWAY_COOKIES = ['__Host-rt'] as const

/** RFC 9110 token: a Connection option that names a header. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const IP_CHARS = /^[0-9A-Fa-f:.]{2,45}$/

export interface UpstreamHeaderContext {
  /** `CF-Connecting-IP` (the only trusted client address, R-RL-6); omitted or unparsable: no X-Forwarded-For. */
  clientIp?: string
  /** The scheme the client used, from the gateway's own URL: `https` (or `http` locally). */
  proto: 'https' | 'http'
  /** The host the client addressed, from the gateway's own URL. */
  host: string
  /** The request id (R-LOG-3), also part of the signed identity. */
  requestId: string
  /** Cookies removed from `Cookie`. @default GATEWAY_COOKIES */
  dropCookies?: readonly string[]
}

/**
 * The headers to send to the origin: hop-by-hop and Connection-listed fields, every `x-gateway-*` and
 * `x-forwarded-*`, the headers in {@link UNTRUSTED_REQUEST_HEADERS} and the gateway's own cookies removed;
 * `X-Forwarded-For` / `-Proto` / `-Host` and `X-Request-Id` set from trusted values. Everything else (Cookie,
 * Content-Type, Content-Length, Accept, …) is kept. Add the signed identity afterwards (`signIdentity`).
 *
 * @example
 * const headers = upstreamRequestHeaders(c.req.raw.headers, {
 *   clientIp: c.req.header('cf-connecting-ip'), proto: 'https', host: new URL(c.req.url).host, requestId,
 * })
 */
export function upstreamRequestHeaders(incoming: Headers, context: UpstreamHeaderContext): Headers {
  const headers = withoutHopByHop(incoming)
  for (const name of [...headers.keys()]) {
    if (name.startsWith('x-gateway-') || name.startsWith('x-forwarded-')) headers.delete(name)
  }
  for (const name of UNTRUSTED_REQUEST_HEADERS) headers.delete(name)

  const cookie = headers.get('cookie')
  if (cookie !== null) {
    const drop = new Set(context.dropCookies ?? GATEWAY_COOKIES)
    const kept = cookie
      .split(';')
      .map((pair) => pair.trim())
      .filter((pair) => pair !== '' && !drop.has(pair.split('=', 1)[0]?.trim() ?? ''))
    if (kept.length > 0) headers.set('cookie', kept.join('; '))
    else headers.delete('cookie')
  }

  const ip = context.clientIp?.trim()
  if (ip !== undefined && IP_CHARS.test(ip)) headers.set('x-forwarded-for', ip)
  headers.set('x-forwarded-proto', context.proto)
  headers.set('x-forwarded-host', context.host)
  headers.set('x-request-id', context.requestId)
  return headers
}

/**
 * The origin's response headers as the client may see them: hop-by-hop and Connection-listed fields, `Server`,
 * `X-Powered-By` and every `Access-Control-*` removed (the gateway's CORS stage owns those); each `Set-Cookie`
 * kept as its own field (`getSetCookie()`), except ones that would set a gateway cookie. All else is kept.
 *
 * @example return new Response(res.body, { status: res.status, headers: clientResponseHeaders(res.headers) })
 */
export function clientResponseHeaders(upstream: Headers, dropCookies: readonly string[] = GATEWAY_COOKIES): Headers {
  const headers = withoutHopByHop(upstream)
  for (const name of [...headers.keys()]) {
    if (name.startsWith('access-control-')) headers.delete(name)
  }
  for (const name of UPSTREAM_ONLY_RESPONSE_HEADERS) headers.delete(name)

  const cookies = upstream.getSetCookie()
  headers.delete('set-cookie')
  const drop = new Set(dropCookies)
  for (const cookie of cookies) {
    if (!drop.has(cookie.split('=', 1)[0]?.trim() ?? '')) headers.append('set-cookie', cookie)
  }
  return headers
}

/** A copy without hop-by-hop fields and without the fields the Connection header names (RFC 9110 §7.6.1). */
function withoutHopByHop(source: Headers): Headers {
  const headers = new Headers(source)
  for (const option of (source.get('connection') ?? '').split(',')) {
    const name = option.trim()
    if (TOKEN.test(name)) headers.delete(name)
  }
  for (const name of HOP_BY_HOP_HEADERS) headers.delete(name)
  return headers
}

/**
 * What several stages read from the same request, parsed once: the URL (route resolution, the proxy, log records),
 * the client identity from `CF-Connecting-IP` (the rate limits, the upstream breaker, X-Forwarded-For) and the
 * request's Headers object, for which every `request.headers` calls into the runtime again (about as costly as
 * reading a field). Each is read on first use and kept on the context, so a request that never needs one never
 * pays for it.
 */
import type { Context } from 'hono'
import { type ClientIdentity, clientIdentity } from './lib/client-identity'

declare module 'hono' {
  interface ContextVariableMap {
    /** The parsed request URL, set by the first `requestUrl(c)`. */
    parsedUrl: URL | undefined
    /** The client identity, set by the first `requestClient(c)`. */
    parsedClient: ClientIdentity | undefined
    /** `CF-Connecting-IP` as sent, or null without one, set by the first `requestClientIp(c)`. */
    parsedClientIp: string | null | undefined
    /** `c.req.raw.headers`, set by the first `requestHeader(c, …)`. */
    requestHeaders: Headers | undefined
  }
}

/**
 * `new URL(c.req.url)`, parsed once per request. The same object every call: read it, never modify it.
 * @example const { pathname, search } = requestUrl(c)
 */
export function requestUrl(c: Context): URL {
  let url = c.get('parsedUrl')
  if (url === undefined) {
    url = new URL(c.req.url)
    c.set('parsedUrl', url)
  }
  return url
}

/**
 * `c.req.header(name)`, without asking the runtime for the request's Headers again.
 * @example const origin = requestHeader(c, 'origin')
 */
export function requestHeader(c: Context, name: string): string | undefined {
  return requestHeaders(c).get(name) ?? undefined
}

/** `c.req.raw.headers`, asked of the runtime once per request. Read them, never change them. */
export function requestHeaders(c: Context): Headers {
  let headers = c.get('requestHeaders')
  if (headers === undefined) {
    headers = c.req.raw.headers
    c.set('requestHeaders', headers)
  }
  return headers
}

/** `CF-Connecting-IP` as the client's request carries it, read once per request. */
export function requestClientIp(c: Context): string | undefined {
  let ip = c.get('parsedClientIp')
  if (ip === undefined) {
    ip = requestHeader(c, 'cf-connecting-ip') ?? null
    c.set('parsedClientIp', ip)
  }
  return ip ?? undefined
}

/**
 * `clientIdentity(requestClientIp(c))`, parsed once per request.
 * @example const { key, kind } = requestClient(c)
 */
export function requestClient(c: Context): ClientIdentity {
  let client = c.get('parsedClient')
  if (client === undefined) {
    client = clientIdentity(requestClientIp(c))
    c.set('parsedClient', client)
  }
  return client
}

/** Whether a request carries body bytes: by its Content-Length when it has one, else by having a body stream. */
export function hasBody(request: Request): boolean {
  const length = request.headers.get('content-length')
  return length === null ? request.body !== null : Number(length) > 0
}

/**
 * What several stages read from the same request, parsed once: the URL (route resolution, the proxy, log records)
 * and the client identity from `CF-Connecting-IP` (the rate limits, the upstream breaker). Each is parsed on first
 * use and kept on the context, so a request that never needs one never pays for it.
 */
import type { Context } from 'hono'
import { type ClientIdentity, clientIdentity } from './lib/client-identity'

declare module 'hono' {
  interface ContextVariableMap {
    /** The parsed request URL, set by the first `requestUrl(c)`. */
    parsedUrl: URL | undefined
    /** The client identity, set by the first `requestClient(c)`. */
    parsedClient: ClientIdentity | undefined
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
 * `clientIdentity(c.req.header('cf-connecting-ip'))`, parsed once per request.
 * @example const { key, kind } = requestClient(c)
 */
export function requestClient(c: Context): ClientIdentity {
  let client = c.get('parsedClient')
  if (client === undefined) {
    client = clientIdentity(c.req.header('cf-connecting-ip'))
    c.set('parsedClient', client)
  }
  return client
}

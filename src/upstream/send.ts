/**
 * One call to the origin and its answer as the client gets it, the part of the proxy that touches the wire (the
 * forwarder in forward.ts adds the timeout, the retry and the breaker). Each header set is copied at most once: the
 * forwarder's own Headers go to the runtime's fetch as they are, the origin's into the client's response.
 */
import { isAllowListed, scrubResponseHeaders } from './headers'

/** Header fields the runtime sets itself for the hop to the origin (the encodings it can decode, the framing). */
const RUNTIME_REQUEST_HEADERS: ReadonlySet<string> = new Set(['transfer-encoding', 'keep-alive', 'accept-encoding'])

/**
 * Removes, in place, what the caller's headers must not carry to the origin: any `x-gateway-*` (only the signed
 * identity may) and the fields the runtime chooses (so it can decode what the origin sends). Hop-by-hop and
 * Connection-listed fields are already gone (`upstreamRequestHeaders`), removed before the gateway added its own,
 * so a client's `Connection: X-Forwarded-For` cannot remove what the gateway adds. Once per request, before the
 * first attempt. Headers built by `upstreamRequestHeaders` carry none of these and are not looked through again.
 */
export function stripReservedRequestHeaders(headers: Headers): void {
  if (isAllowListed(headers)) return
  const removed: string[] = []
  for (const name of headers.keys()) {
    if (name.startsWith('x-gateway-') || RUNTIME_REQUEST_HEADERS.has(name)) removed.push(name)
  }
  for (const name of removed) headers.delete(name)
}

/**
 * Sends one attempt to `target` with `init.headers` (stripped by `stripReservedRequestHeaders`) plus the signed
 * identity, which replaces the previous attempt's. Async, so a request the runtime refuses to build rejects like a
 * failed fetch.
 */
export async function fetchOrigin(
  target: URL,
  init: RequestInit & { headers: Headers },
  signed: Record<string, string>,
  customFetch: ((request: Request) => Promise<Response>) | undefined,
): Promise<Response> {
  for (const name in signed) init.headers.set(name, signed[name] as string)
  return customFetch === undefined ? fetch(target, init) : customFetch(new Request(target, init))
}

/**
 * The origin's response as the client gets it, status and body as they are: headers through
 * `clientResponseHeaders` (`scrubResponseHeaders`), and without the Content-Encoding and Content-Length of an encoded
 * body, which the runtime's fetch has already decoded.
 */
export function clientResponse(response: Response): Response {
  // The new response's own copy of the headers is the only one made, and it is changed in place.
  const client = new Response(response.body, {
    status: response.status,
    statusText: response.statusText,
    headers: response.headers,
  })
  const { headers } = client
  scrubResponseHeaders(headers)
  if (headers.has('content-encoding')) {
    headers.delete('content-encoding')
    headers.delete('content-length')
  }
  return client
}

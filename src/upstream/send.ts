/**
 * One call to the origin and its answer as the client gets it, the part of the proxy that touches the wire (the
 * forwarder in forward.ts adds the timeout, the retry and the breaker). Each header set is copied once: the request's
 * into the outgoing request, the response's into the client's response.
 */
import { scrubResponseHeaders } from './headers'

/** Header fields the runtime sets itself for the hop to the origin (the encodings it can decode, the framing). */
const RUNTIME_REQUEST_HEADERS: ReadonlySet<string> = new Set(['transfer-encoding', 'keep-alive', 'accept-encoding'])

/**
 * Sends one attempt to `target`. The request carries the caller's headers less any `x-gateway-*` left in them and less the
 * fields the runtime chooses (so it can decode what the origin sends), then the signed identity. Hop-by-hop and
 * Connection-listed fields are already gone (`upstreamRequestHeaders`), removed before the gateway added its own,
 * so a client's `Connection: X-Forwarded-For` cannot remove what the gateway adds. Async, so a request the runtime
 * refuses to build rejects like a failed fetch.
 */
export async function fetchOrigin(
  target: URL,
  init: RequestInit,
  signed: Record<string, string>,
  customFetch: ((request: Request) => Promise<Response>) | undefined,
): Promise<Response> {
  const request = new Request(target, init)
  const removed: string[] = []
  for (const name of request.headers.keys()) {
    if (name.startsWith('x-gateway-') || RUNTIME_REQUEST_HEADERS.has(name)) removed.push(name)
  }
  for (const name of removed) request.headers.delete(name)
  for (const [name, value] of Object.entries(signed)) request.headers.set(name, value)
  return (customFetch ?? fetch)(request)
}

/**
 * The origin's response as the client gets it, status and body as they are: headers through
 * `clientResponseHeaders` (`scrubResponseHeaders`), and without the Content-Encoding and Content-Length of an encoded body, which the
 * runtime's fetch has already decoded.
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

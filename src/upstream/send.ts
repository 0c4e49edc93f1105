/**
 * One call to the origin and its answer as the client gets it, the part of the proxy that touches the wire (the
 * forwarder in forward.ts adds the timeout, the retry and the breaker). Each header set is copied at most once: the
 * forwarder's own Headers go to the runtime's fetch as they are, the origin's into the client's response.
 */
import { isSecurityHeader, securedResponse } from '../lib/security-headers'
import { isAllowListed } from './headers'
import { clientResponseFields, markCorsFree } from './response-headers'

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
 * The origin's response as the client gets it, status and body as they are: the gateway's security headers
 * (`securedResponse`), then the origin's fields `clientResponseFields` keeps, less those the security headers name
 * (the gateway's values replace the origin's, as the security stage would) and less the Content-Encoding and
 * Content-Length of an encoded body, which the runtime's fetch has already decoded.
 */
export function clientResponse(response: Response): Response {
  const fields = clientResponseFields(response.headers)
  const decoded = fields.some(([name]) => name === 'content-encoding')
  // The new response's headers start as a copy of the prepared security headers, which costs the runtime less
  // than setting them one by one; the origin's fields are added to them, nothing is copied twice.
  const client = securedResponse(response.body, { status: response.status, statusText: response.statusText })
  const { headers } = client
  for (const [name, value] of fields) {
    if (isSecurityHeader(name) || (decoded && (name === 'content-encoding' || name === 'content-length'))) continue
    headers.append(name, value)
  }
  markCorsFree(headers)
  return client
}

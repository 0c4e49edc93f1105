/**
 * One call to the origin and its answer as the client gets it, the part of the proxy that touches the wire (the
 * forwarder in forward.ts adds the timeout, the retry and the breaker). Each header set is built once, from a list:
 * the outgoing request's by the runtime from the forwarder's own Headers, the client response's in its constructor.
 */
import { clientResponseHeaderList } from './headers'

/** Header fields the runtime sets itself for the hop to the origin (the encodings it can decode, the framing). */
const RUNTIME_REQUEST_HEADERS: ReadonlySet<string> = new Set(['transfer-encoding', 'keep-alive', 'accept-encoding'])

/**
 * Removes, in place, what the caller's headers must not carry to the origin: any `x-gateway-*` (only the signed
 * identity may) and the fields the runtime chooses (so it can decode what the origin sends). Hop-by-hop and
 * Connection-listed fields are already gone (`upstreamRequestHeaders`), removed before the gateway added its own,
 * so a client's `Connection: X-Forwarded-For` cannot remove what the gateway adds. Once per request, before the
 * first attempt.
 */
export function stripReservedRequestHeaders(headers: Headers): void {
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

/** Builds the client's response from the origin's body, status and the header list it may see. */
export type Respond = (
  body: ReadableStream | null,
  init: { status: number; statusText: string },
  headers: [string, string][],
) => Response

const plainResponse: Respond = (body, init, headers) => new Response(body, { ...init, headers })

/**
 * The origin's response as the client gets it, status and body as they are: headers through
 * `clientResponseHeaderList`, and without the Content-Encoding and Content-Length of an encoded body, which the
 * runtime's fetch has already decoded. `respond` builds it (the gateway adds its security fields there).
 */
export function clientResponse(response: Response, respond: Respond = plainResponse): Response {
  let headers = clientResponseHeaderList(response.headers)
  if (response.headers.has('content-encoding')) {
    headers = headers.filter(([name]) => name !== 'content-encoding' && name !== 'content-length')
  }
  return respond(response.body, { status: response.status, statusText: response.statusText }, headers)
}

/**
 * The one call to the origin: streamed bodies, a timeout up to the response head, at most one retry for idempotent
 * reads, and per-isolate circuit breakers that count only the origin being unreachable, never its answers. Only the
 * gateway's own failures become problems; every response the origin gives, errors and redirects included, passes
 * through with its status and body. Redirects are never followed.
 */
import { GatewayError } from '../errors/gateway-error'
import type { CircuitBreaker } from '../lib/breaker'
import type { InflateFormat } from './content-coding'
import { clientResponse, fetchOrigin, stripReservedRequestHeaders } from './send'
import { joinTarget, parseBaseUrl, targetPrefix } from './target'
import { jitter, raceTimer, sleep } from './timers'
import { type Upload, uploadBody } from './upload'

/** Until the origin's response head arrives. */
export const DEFAULT_UPSTREAM_TIMEOUT_MS = 10_000
export const DEFAULT_RETRY_BASE_DELAY_MS = 100
/** Retry-After while the breaker is open; pass `Math.ceil(cooldownMs / 1000)` of the breaker you built. */
export const DEFAULT_OPEN_RETRY_AFTER_SECONDS = 30

export interface Fetcher {
  fetch(request: Request): Promise<Response>
}

export interface ForwardOptions {
  /** The origin's base URL (`https://api.internal.example.com`, optionally with a base path). No query or hash. */
  baseUrl: string
  /** A service binding to call instead of the public fetch (the URL host is then ignored by the runtime). */
  fetcher?: Fetcher
  /** How long to wait for the response head, in ms; the body may stream for longer. @default 10000 */
  timeoutMs?: number
  /** Retries for GET/HEAD on a connection error or a 502/503: 0 or 1. @default 1 */
  retries?: 0 | 1
  /** The single retry waits `base/2 + random() * base/2` ms. @default 100 */
  retryBaseDelayMs?: number
  /**
   * The breaker for a key (`<origin host>` or `<origin host>#<group>`); called once per key, the forwarder keeps
   * the result. Give it `minSources` above 1: requests report their client as the failure's source.
   */
  breakerFor: (key: string) => CircuitBreaker
  /** @default 30 */
  openRetryAfterSeconds?: number
  /** @default Date.now */
  nowMs?: () => number
  /** @default Math.random */
  random?: () => number
}

export interface ForwardRequest {
  method: string
  /** From `upstreamPath()`: starts with `/`, appended to the base URL's path. */
  pathAndQuery: string
  /**
   * From `upstreamRequestHeaders()`; the forwarder takes them over and changes them. Any `x-gateway-*` left in them
   * is removed before `sign` adds its own.
   */
  headers: Headers
  /** Streamed as it arrives, never buffered. Ignored for GET and HEAD. */
  body?: ReadableStream<Uint8Array> | string | null
  /** A larger Content-Length is refused before any call; a longer stream is cut and refused (413). */
  maxBodyBytes?: number
  /** Inflate the streamed body with this format before counting and sending it (the route opted in). */
  inflate?: InflateFormat
  /**
   * With `inflate`: the most compressed bytes read from the client (a longer stream is cut and refused, 413), so a
   * chunked upload is bounded before inflation as a declared Content-Length is.
   */
  maxEncodedBytes?: number
  /**
   * Refuse (400 `method_override`) a streamed JSON body whose outermost object has a member this accepts, as it
   * arrives (after inflating), without buffering it: the upload is aborted on the chunk that names it.
   */
  refuseJsonMember?: (name: string) => boolean
  /** Who is asking (the client's network, see `clientNetwork`): the source of a breaker failure. */
  client?: string
  /** The route's breaker group: its failures open only its own breaker. */
  breakerGroup?: string
  /** Signs each attempt (see `signIdentity`); gets the path and query exactly as the request line will carry it. */
  sign?: (target: { method: string; pathAndQuery: string }) => Promise<Record<string, string>>
}

type Outcome =
  | { kind: 'response'; response: Response }
  | { kind: 'timeout' }
  /** The timeout fired while the gateway was still waiting for the client's body bytes: a slow client. */
  | { kind: 'client_timeout' }
  | { kind: 'too_large'; encoded?: true }
  | { kind: 'member_refused' } // the body named a member `refuseJsonMember` refuses
  | { kind: 'body_failed' }
  | { kind: 'connection_error'; cause: unknown }
  | { kind: 'invalid_status'; status: number } // outside 200-599: no Response the gateway builds may carry it

/**
 * Builds the forwarder for one origin. Per call:
 * - the breaker for the origin host (and the route's group) is open, or its half-open probes are taken: 503
 *   `upstream_unavailable` with Retry-After, origin not called;
 * - no response head within `timeoutMs`: 504 `upstream_timeout` (never retried), or 408 `request_timeout` when
 *   the gateway was still waiting for the client's body bytes (the origin was waiting for them too);
 * - connection error: 502 `bad_gateway` (for GET/HEAD after one retry); a final status outside 200-599 (101,
 *   600-999): 502 `bad_gateway` at once, counted as the answer it is;
 * - body over `maxBodyBytes`: 413 `payload_too_large`;
 * - upstream 502/503 on GET/HEAD: the failed body is discarded and the request retried once; the last response is
 *   returned as is.
 * Each request reports once, whatever its retries: a connection error or a timeout as a failure from its client;
 * any response, 5xx included, as a success (a live origin that answers is healthy, and what it answers to a given
 * path is the client's choice, so it must not open the breaker for everyone).
 *
 * @example
 * const forward = createForwarder({
 *   baseUrl: config.upstream.url,
 *   breakerFor: () => createCircuitBreaker({ failureThreshold: 5, cooldownMs: 30_000, minSources: 3 }),
 * })
 * return forward({ method: c.req.method, pathAndQuery, headers, body: c.req.raw.body, client, sign })
 */
export function createForwarder({
  baseUrl,
  fetcher,
  timeoutMs = DEFAULT_UPSTREAM_TIMEOUT_MS,
  retries = 1,
  retryBaseDelayMs = DEFAULT_RETRY_BASE_DELAY_MS,
  breakerFor,
  openRetryAfterSeconds = DEFAULT_OPEN_RETRY_AFTER_SECONDS,
  nowMs = Date.now,
  random = Math.random,
}: ForwardOptions): (request: ForwardRequest) => Promise<Response> {
  const base = parseBaseUrl(baseUrl)
  const prefix = targetPrefix(base)
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0) throw new TypeError('createForwarder: timeoutMs must be > 0')
  if (!Number.isFinite(retryBaseDelayMs) || retryBaseDelayMs < 0) {
    throw new TypeError('createForwarder: retryBaseDelayMs must be >= 0')
  }
  const customFetch = fetcher === undefined ? undefined : (request: Request) => fetcher.fetch(request)
  // Bounded: one per origin host and breaker group, both fixed by the configuration and the route table.
  const breakers = new Map<string, CircuitBreaker>()
  const breakerOf = (request: ForwardRequest) => {
    const key = request.breakerGroup === undefined ? base.host : `${base.host}#${request.breakerGroup}`
    let breaker = breakers.get(key)
    if (breaker === undefined) {
      breaker = breakerFor(key)
      breakers.set(key, breaker)
    }
    return breaker
  }

  async function attemptOnce(request: ForwardRequest, target: URL, idempotent: boolean): Promise<Outcome> {
    const pathAndQuery = target.pathname + target.search
    const signed = (await request.sign?.({ method: request.method, pathAndQuery })) ?? {}

    const controller = new AbortController()
    let body: ReadableStream<Uint8Array> | string | null = idempotent ? null : (request.body ?? null)
    let upload: Upload | undefined
    if (body instanceof ReadableStream) {
      upload = uploadBody(body, request, () => controller.abort())
      body = upload.stream
    } else if (typeof body === 'string' && request.maxBodyBytes !== undefined) {
      if (new TextEncoder().encode(body).byteLength > request.maxBodyBytes) return { kind: 'too_large' }
    }

    // Set when the timer fires: whether the gateway was still waiting for the client's body bytes (read before the
    // abort, which settles the outstanding read).
    let fired: 'timeout' | 'client_timeout' | undefined
    let wake: (() => void) | undefined
    const timer = setTimeout(() => {
      fired = upload?.waitingForSource() ? 'client_timeout' : 'timeout'
      controller.abort()
      wake?.()
    }, timeoutMs)
    try {
      const init: RequestInit & { headers: Headers } = {
        method: request.method,
        headers: request.headers,
        body,
        ...(body instanceof ReadableStream ? { duplex: 'half' } : {}),
        signal: controller.signal,
        // A 3xx goes back to the client as it is. Following it would send the client's cookies, the signed
        // identity and X-Forwarded-For to whatever host the origin names (an open redirect becomes a leak)
        // and serve that host's body under the gateway's origin.
        redirect: 'manual',
      }
      const call = fetchOrigin(target, init, signed, customFetch)
      // The runtime's fetch rejects once the signal aborts; a custom fetcher may ignore the signal, so its call is
      // raced against the timer (and abandoned, settled or not, when the timer wins).
      const result = customFetch === undefined ? await call : await raceTimer(call, (resolve) => (wake = resolve))
      if (fired !== undefined || result === undefined) {
        // An answer after the abort (a wrapped fetch that dropped the signal) has a dead body: still a timeout.
        await result?.body?.cancel().catch(() => {})
        return { kind: fired ?? 'timeout' }
      }
      if (upload !== undefined && (upload.memberRefused() || upload.exceeded() || upload.sourceFailed())) {
        // The origin answered before the whole body arrived, and the rest was refused, over the limit or unreadable.
        await result.body?.cancel().catch(() => {})
        return upload.memberRefused()
          ? { kind: 'member_refused' }
          : upload.exceeded()
            ? tooLargeOutcome(upload)
            : { kind: 'body_failed' }
      }
      if (result.status < 200 || result.status > 599) {
        await result.body?.cancel().catch(() => {})
        return { kind: 'invalid_status', status: result.status }
      }
      return { kind: 'response', response: clientResponse(result) }
    } catch (cause) {
      // The timer's abort is what made the call fail.
      if (fired !== undefined) return { kind: fired }
      if (upload?.memberRefused()) return { kind: 'member_refused' }
      if (upload?.exceeded()) return tooLargeOutcome(upload)
      if (upload?.sourceFailed()) return { kind: 'body_failed' }
      if (controller.signal.aborted) return { kind: 'timeout' }
      return { kind: 'connection_error', cause }
    } finally {
      clearTimeout(timer) // the head has arrived (or failed): a long download is not cut off
    }
  }

  return async function forward(request: ForwardRequest): Promise<Response> {
    const target = joinTarget(prefix, request.pathAndQuery)
    const method = request.method.toUpperCase()
    const idempotent = method === 'GET' || method === 'HEAD'
    // GET and HEAD send no body (attemptOnce drops it), so their Content-Length is not even read.
    if (!idempotent && request.maxBodyBytes !== undefined) {
      const declared = Number(request.headers.get('content-length') ?? Number.NaN)
      if (declared > request.maxBodyBytes) throw tooLarge(request.maxBodyBytes, 'content_length')
    }
    const breaker = breakerOf(request)
    const client = request.client ?? ''
    const ticket = breaker.attempt(nowMs(), client)
    if (ticket === 'skip') {
      throw new GatewayError('upstream_unavailable', {
        retryAfterSeconds: openRetryAfterSeconds,
        internal: { reason: 'upstream_breaker_open', breaker: breaker.state() },
      })
    }

    stripReservedRequestHeaders(request.headers)
    for (let attempt = 1; ; attempt++) {
      const outcome = await attemptOnce(request, target, idempotent)
      const retryable =
        outcome.kind === 'connection_error' ||
        (outcome.kind === 'response' && (outcome.response.status === 502 || outcome.response.status === 503))
      // A half-open probe is never retried: its one answer is what the breaker waits for.
      if (retryable && idempotent && attempt <= retries && ticket === 'call' && breaker.state() === 'closed') {
        if (outcome.kind === 'response') await outcome.response.body?.cancel().catch(() => {})
        await sleep(jitter(retryBaseDelayMs, random))
        continue
      }
      switch (outcome.kind) {
        case 'too_large':
          // Not the origin's doing: no breaker report (a probe left unreported simply expires, see breaker.ts).
          throw outcome.encoded === true
            ? tooLarge(request.maxEncodedBytes ?? 0, 'encoded_stream')
            : tooLarge(request.maxBodyBytes ?? 0, 'stream')
        case 'member_refused':
          // The client's doing: a method override in the body; the origin never got a complete request.
          throw new GatewayError('method_override', { internal: { reason: 'method_override_json' } })
        case 'body_failed':
          // The client's body could not be read (corrupt compressed data, or the client went away): not the
          // origin's doing either, and the aborted upload never reached it as a complete request.
          throw new GatewayError(request.inflate === undefined ? 'bad_request' : 'invalid_compressed_body', {
            internal: { reason: 'proxy_body_unreadable', inflate: request.inflate ?? null },
          })
        case 'client_timeout':
          // The client sent its body too slowly: the origin is not at fault, and no client may open the breaker.
          throw new GatewayError('request_timeout', {
            internal: { reason: 'proxy_body_too_slow', timeout_ms: timeoutMs },
          })
        case 'timeout':
          breaker.failure(nowMs(), client)
          throw new GatewayError('upstream_timeout', {
            internal: { reason: 'upstream_timeout', timeout_ms: timeoutMs, attempt },
          })
        case 'connection_error':
          breaker.failure(nowMs(), client)
          throw new GatewayError('bad_gateway', {
            internal: { reason: 'upstream_connection_failed', cause: outcome.cause, attempt },
          })
        case 'invalid_status':
          // The origin is up and answered: no breaker failure, and no retry (the answer was not a 502 or 503).
          breaker.success(nowMs())
          throw new GatewayError('bad_gateway', {
            internal: { reason: 'upstream_invalid_status', status: outcome.status },
          })
        case 'response': {
          breaker.success(nowMs())
          return outcome.response
        }
      }
    }
  }
}

function tooLargeOutcome(upload: Upload): Outcome {
  return upload.encodedExceeded() ? { kind: 'too_large', encoded: true } : { kind: 'too_large' }
}

function tooLarge(limit: number, source: 'content_length' | 'stream' | 'encoded_stream'): GatewayError {
  return new GatewayError('payload_too_large', {
    internal: { reason: 'proxy_body_too_large', limit_bytes: limit, source },
  })
}

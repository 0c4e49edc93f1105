/**
 * Verifies the signed identity edgeward attaches to every proxied request, and the account events it POSTs to the
 * origin. Copy this file into the origin as is: it imports nothing and uses only Web Crypto (Node ≥ 20, Workers,
 * Deno, Bun). The gateway's signer imports its canonical form from here, so both stay in step. A proxied request's
 * signature covers neither the body nor the host: keep the gateway→origin hop on TLS (or a service binding), so a
 * captured request cannot be replayed with another body. An account event's signature covers its body too.
 */

export const SIGNATURE_VERSION = 'v1'
export const HEADER_USER = 'x-gateway-user'
export const HEADER_SCOPES = 'x-gateway-scopes'
export const HEADER_SESSION = 'x-gateway-session'
export const HEADER_TIMESTAMP = 'x-gateway-timestamp'
export const HEADER_SIGNATURE = 'x-gateway-signature'
export const HEADER_REQUEST_ID = 'x-request-id'
/** Only on account events: the body's SHA-256, base64url, unpadded. Proxied requests never carry it. */
export const HEADER_CONTENT_SHA256 = 'x-gateway-content-sha256'
/** Headers the gateway may send under the `x-gateway-` prefix; any other one is refused (nothing unsigned). */
const KNOWN_GATEWAY_HEADERS = new Set([HEADER_USER, HEADER_SCOPES, HEADER_SESSION, HEADER_TIMESTAMP, HEADER_SIGNATURE])
const KNOWN_EVENT_HEADERS = new Set([...KNOWN_GATEWAY_HEADERS, HEADER_CONTENT_SHA256])
/** Shortest accepted secret, in UTF-8 bytes (256 bits for HMAC-SHA256). */
export const MIN_SECRET_BYTES = 32

/** Field values exactly as they appear in (or are absent from) the headers. */
export interface CanonicalFields {
  timestamp: number
  method: string
  pathAndQuery: string
  /** Encoded header value, '' when absent. */
  user: string
  scopes: string
  session: string
  requestId: string
  /** The `X-Gateway-Content-SHA256` value of an account event; undefined on a proxied request. */
  contentSha256?: string
}

const METHOD = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/
const PATH_AND_QUERY = /^\/[\x21-\x7E]*$/
/** The characters `encodeURIComponent` produces. */
const ENCODED = /^[A-Za-z0-9\-_.!~*'()%]*$/
const SCOPES = /^[A-Za-z0-9\-_.!~*'()%]+( [A-Za-z0-9\-_.!~*'()%]+)*$/
const REQUEST_ID = /^[\x21-\x7E]{1,200}$/
const TIMESTAMP = /^(0|[1-9]\d{0,11})$/
const SIGNATURE = /^v1=([A-Za-z0-9_-]{43})$/
const SHA256 = /^[A-Za-z0-9_-]{43}$/

/**
 * The v1 canonical string: eight lines (nine for an account event) joined by "\n" (no trailing newline):
 *
 *     v1
 *     <X-Gateway-Timestamp: unix seconds>
 *     <request method, e.g. GET>
 *     <path and query as sent to the origin: URL pathname + search, WHATWG serialization>
 *     <X-Gateway-User value, or "" when absent>
 *     <X-Gateway-Scopes value, or "" when absent>
 *     <X-Gateway-Session value, or "" when absent>
 *     <X-Request-Id value>
 *     <X-Gateway-Content-SHA256 value: account events only; a proxied request has no ninth line>
 *
 * User, session and each scope are percent-encoded (`encodeURIComponent`) in their headers and scopes are sorted
 * and space-joined, so no field can hold a newline; the method is an HTTP token and the path is printable ASCII.
 * `X-Gateway-Signature: v1=<base64url(HMAC-SHA256(secret, canonical))>`, unpadded. Throws a TypeError if a field
 * could make it ambiguous (a caller mistake).
 * @example canonicalString({ timestamp: 1767225600, method: 'GET', pathAndQuery: '/a?b=1', user: 'alice', scopes: 'read', session: 's1', requestId: 'req-12345' })
 */
export function canonicalString(f: CanonicalFields): string {
  if (!Number.isSafeInteger(f.timestamp) || f.timestamp < 0) throw new TypeError('timestamp must be unix seconds')
  if (!METHOD.test(f.method)) throw new TypeError('method must be an HTTP token')
  if (!PATH_AND_QUERY.test(f.pathAndQuery))
    throw new TypeError('pathAndQuery must be printable ASCII starting with "/"')
  if (!ENCODED.test(f.user) || !ENCODED.test(f.session)) throw new TypeError('user and session must be percent-encoded')
  if (f.scopes !== '' && !SCOPES.test(f.scopes))
    throw new TypeError('scopes must be encoded scopes joined by one space')
  if (!REQUEST_ID.test(f.requestId)) throw new TypeError('requestId must be 1-200 printable ASCII characters')
  if (f.contentSha256 !== undefined && !SHA256.test(f.contentSha256))
    throw new TypeError('contentSha256 must be an unpadded base64url SHA-256')
  const lines = [
    SIGNATURE_VERSION,
    String(f.timestamp),
    f.method,
    f.pathAndQuery,
    f.user,
    f.scopes,
    f.session,
    f.requestId,
  ]
  if (f.contentSha256 !== undefined) lines.push(f.contentSha256)
  return lines.join('\n')
}

/** The `X-Gateway-Content-SHA256` value of `body`: base64url SHA-256 of its bytes (a string as UTF-8), unpadded. */
export async function contentSha256(body: string | ArrayBuffer | Uint8Array): Promise<string> {
  const bytes = typeof body === 'string' ? new TextEncoder().encode(body) : new Uint8Array(body)
  return base64url(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes)))
}

/** `v1=<base64url HMAC-SHA256>` over the canonical string. */
export async function computeSignature(secret: string, fields: CanonicalFields): Promise<string> {
  const mac = await crypto.subtle.sign('HMAC', await hmacKey(secret), utf8.encode(canonicalString(fields)))
  return `${SIGNATURE_VERSION}=${base64url(new Uint8Array(mac))}`
}

export type VerifyFailure =
  | 'missing_header'
  | 'bad_format'
  | 'unexpected_header'
  | 'stale'
  | 'future'
  | 'bad_signature'
  | 'bad_digest'

export type VerifyResult =
  | {
      ok: true
      /** The authenticated user id, or null on a public route called without a token (and on account events). */
      user: string | null
      scopes: string[]
      session: string | null
      /** On an account event, the event's id: the same on every delivery attempt. */
      requestId: string
      timestamp: number
    }
  | { ok: false; reason: VerifyFailure }

export interface GatewayRequestLike {
  method: string
  /** An absolute URL, or the request target as received (`/path?query`, e.g. Node's `req.url`). */
  url: string
  /** Fetch `Headers`, or Node's `req.headers` (lower-case names). */
  headers: Headers | Record<string, string | string[] | undefined>
  /** Account events only: the body as received; it must match `X-Gateway-Content-SHA256` (absent: none allowed). */
  body?: string | ArrayBuffer | Uint8Array
}

export interface VerifyOptions {
  /** Accepted secrets, current first: during a rotation, list the new and the previous one. */
  secrets: readonly string[]
  /** Largest accepted clock difference, either way, in seconds. @default 60 */
  maxAgeSeconds?: number
  /** @default Math.floor(Date.now() / 1000) */
  nowSeconds?: number
}

/**
 * Checks that a request came through edgeward with this identity, method and path, recently; for an account event
 * (`request.body` given), with this body too. Refuse the request (401/403) on `ok: false`; log `reason`, do not
 * send it. Account events come at least once: answer 2xx once one is handled, and skip a `requestId` seen before.
 * @example
 * // Node origin
 * const result = await verifyGatewayRequest({ method: req.method, url: req.url, headers: req.headers }, { secrets })
 * if (!result.ok) return res.writeHead(401).end()
 * result.user // 'user-123', or null on a public route
 */
export async function verifyGatewayRequest(request: GatewayRequestLike, options: VerifyOptions): Promise<VerifyResult> {
  const { secrets, maxAgeSeconds = 60, nowSeconds = Math.floor(Date.now() / 1000) } = options
  if (!Array.isArray(secrets) || secrets.length === 0) throw new TypeError('verifyGatewayRequest: secrets is empty')
  // Not numbers, they would make every freshness comparison false: any old signature would pass.
  if (!(maxAgeSeconds >= 0 && maxAgeSeconds < Infinity && Number.isSafeInteger(nowSeconds)))
    throw new TypeError('verifyGatewayRequest: maxAgeSeconds must be finite and >= 0, nowSeconds an integer')
  const header = headerReader(request.headers)
  if (header === undefined) return { ok: false, reason: 'bad_format' }
  // An account event must carry the body's digest; a proxied request must not (its signature has no digest line).
  const digest = request.body === undefined ? undefined : await contentSha256(request.body)
  const known = digest === undefined ? KNOWN_GATEWAY_HEADERS : KNOWN_EVENT_HEADERS

  for (const name of header.names()) {
    if (name.startsWith('x-gateway-') && !known.has(name)) return { ok: false, reason: 'unexpected_header' }
  }
  const timestampText = header.get(HEADER_TIMESTAMP)
  const signatureText = header.get(HEADER_SIGNATURE)
  const requestId = header.get(HEADER_REQUEST_ID)
  const presentedDigest = header.get(HEADER_CONTENT_SHA256)
  if (
    timestampText === undefined ||
    signatureText === undefined ||
    requestId === undefined ||
    (digest !== undefined && presentedDigest === undefined)
  ) {
    return { ok: false, reason: 'missing_header' }
  }
  const user = header.get(HEADER_USER) ?? ''
  const scopes = header.get(HEADER_SCOPES) ?? ''
  const session = header.get(HEADER_SESSION) ?? ''
  const pathAndQuery = targetOf(request.url)
  const signature = SIGNATURE.exec(signatureText)?.[1]
  if (
    !TIMESTAMP.test(timestampText) ||
    signature === undefined ||
    pathAndQuery === undefined ||
    !METHOD.test(request.method) ||
    !PATH_AND_QUERY.test(pathAndQuery) ||
    !ENCODED.test(user) ||
    !ENCODED.test(session) ||
    (scopes !== '' && !SCOPES.test(scopes)) ||
    !REQUEST_ID.test(requestId) ||
    (presentedDigest !== undefined && !SHA256.test(presentedDigest))
  ) {
    return { ok: false, reason: 'bad_format' }
  }
  const timestamp = Number(timestampText)
  if (nowSeconds - timestamp > maxAgeSeconds) return { ok: false, reason: 'stale' }
  if (timestamp - nowSeconds > maxAgeSeconds) return { ok: false, reason: 'future' }
  if (presentedDigest !== digest) return { ok: false, reason: 'bad_digest' }

  const fields: CanonicalFields = { timestamp, method: request.method, pathAndQuery, user, scopes, session, requestId }
  if (digest !== undefined) fields.contentSha256 = digest
  const presented = `${SIGNATURE_VERSION}=${signature}`
  let matched = false
  for (const secret of secrets) {
    if (constantTimeEqual(await computeSignature(secret, fields), presented)) matched = true
  }
  if (!matched) return { ok: false, reason: 'bad_signature' }

  try {
    return {
      ok: true,
      user: user === '' ? null : decodeURIComponent(user),
      scopes: scopes === '' ? [] : scopes.split(' ').map(decodeURIComponent),
      session: session === '' ? null : decodeURIComponent(session),
      requestId,
      timestamp,
    }
  } catch {
    return { ok: false, reason: 'bad_format' }
  }
}

/** Compares every character whatever the first difference, so timing does not reveal a matching prefix. */
function constantTimeEqual(a: string, b: string): boolean {
  if (a.length !== b.length) return false
  let diff = 0
  for (let i = 0; i < a.length; i++) diff |= a.charCodeAt(i) ^ b.charCodeAt(i)
  return diff === 0
}

/**
 * The request target as received (an absolute URL loses its scheme and host), which the signature covers exactly;
 * undefined for one a URL parser rewrites (`..`, `%2e`, a backslash, `//host`): an origin's router may read it raw.
 */
function targetOf(url: string): string | undefined {
  const scheme = url.startsWith('/') ? -1 : url.indexOf('://')
  const start = url.startsWith('/') ? 0 : scheme === -1 ? -1 : url.indexOf('/', scheme + 3)
  try {
    const parsed = new URL(url, 'http://origin.invalid')
    return start !== -1 && parsed.pathname + parsed.search === url.slice(start) ? url.slice(start) : undefined
  } catch {
    return undefined
  }
}

/** Undefined when a signed header is repeated (Node gives an array for some, joins others with ", "). */
function headerReader(headers: GatewayRequestLike['headers']) {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).keys === 'function') {
    const h = headers as Headers
    return { get: (name: string) => h.get(name) ?? undefined, names: () => [...h.keys()] }
  }
  const record = headers as Record<string, string | string[] | undefined>
  const lower = new Map<string, string>()
  for (const [name, value] of Object.entries(record)) {
    if (value === undefined) continue
    if (Array.isArray(value) || lower.has(name.toLowerCase())) return undefined
    lower.set(name.toLowerCase(), value)
  }
  return { get: (name: string) => lower.get(name), names: () => [...lower.keys()] }
}

const utf8 = new TextEncoder()
/** Spelled so that the file also compiles with Node's types alone, which have no global `CryptoKey`. */
type HmacKey = ReturnType<typeof crypto.subtle.importKey>
/** Imported keys by secret: each secret is checked and imported once, then reused for every request. */
const keys = new Map<string, HmacKey>()

function hmacKey(secret: string): HmacKey {
  const cached = keys.get(secret)
  if (cached !== undefined) return cached
  const bytes = utf8.encode(secret)
  if (bytes.length < MIN_SECRET_BYTES)
    throw new TypeError(`the signing secret must be at least ${MIN_SECRET_BYTES} bytes`)
  if (keys.size >= 16) keys.clear() // a few secrets during rotation; never an unbounded cache
  const key = crypto.subtle.importKey('raw', bytes, { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
  keys.set(secret, key)
  return key
}

const BASE64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
/** Unpadded base64url (RFC 4648 §5). */
function base64url(bytes: Uint8Array): string {
  let out = ''
  let i = 0
  for (; i + 2 < bytes.length; i += 3) {
    const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] as number) << 8) | (bytes[i + 2] as number)
    out += BASE64URL[n >> 18] + BASE64URL[(n >> 12) & 63] + BASE64URL[(n >> 6) & 63] + BASE64URL[n & 63]
  }
  if (i === bytes.length) return out
  const n = ((bytes[i] as number) << 16) | ((bytes[i + 1] ?? 0) << 8)
  out += BASE64URL[n >> 18] + BASE64URL[(n >> 12) & 63]
  return i + 1 < bytes.length ? out + BASE64URL[(n >> 6) & 63] : out
}

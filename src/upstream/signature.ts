/**
 * The gateway side of signed identity: the X-Gateway-* headers the origin trusts instead of the client's token, and
 * the same signature over the account events POSTed to the origin (`signEvent`). The canonical string and its
 * encoding live in `verify-origin.ts` (the origin's copy), so signer and verifier cannot drift; see that file's
 * header for the exact v1 format.
 */
import {
  computeSignature,
  contentSha256,
  HEADER_CONTENT_SHA256,
  HEADER_REQUEST_ID,
  HEADER_SCOPES,
  HEADER_SESSION,
  HEADER_SIGNATURE,
  HEADER_TIMESTAMP,
  HEADER_USER,
} from './verify-origin'

export interface IdentityFields {
  /** The method sent to the origin. */
  method: string
  /** Path and query exactly as sent to the origin (`url.pathname + url.search` of the upstream URL). */
  pathAndQuery: string
  /** The request id, also sent as `X-Request-Id`. */
  requestId: string
  /** Token subject; omit for an anonymous request on a public route. */
  user?: string
  /** Granted scopes (any order; sorted and de-duplicated here). Ignored without `user`. */
  scopes?: readonly string[]
  /** Session id (`sid`). Ignored without `user`. */
  session?: string
  /** @default Math.floor(Date.now() / 1000) */
  nowSeconds?: number
}

/**
 * The signed identity headers for one upstream request: `X-Gateway-Timestamp`, `X-Gateway-Signature`,
 * `X-Request-Id` and, for an authenticated user, `X-Gateway-User`, `X-Gateway-Scopes` (when non-empty) and
 * `X-Gateway-Session`. Anonymous requests are signed too, so the origin can tell "through the gateway, no user"
 * from "not through the gateway". Throws a TypeError for a secret under 32 bytes or a malformed method/path.
 *
 * @example
 * const headers = await signIdentity(env.UPSTREAM_SIGNING_SECRET, {
 *   method: 'GET', pathAndQuery: '/api/items?page=2', requestId, user: 'user-1', scopes: ['read'], session: 'sid-1',
 * })
 * for (const [name, value] of Object.entries(headers)) upstreamHeaders.set(name, value)
 */
export async function signIdentity(secret: string, fields: IdentityFields): Promise<Record<string, string>> {
  const timestamp = Math.floor(fields.nowSeconds ?? Date.now() / 1000)
  const anonymous = fields.user === undefined || fields.user === ''
  const user = anonymous ? '' : encodeURIComponent(fields.user as string)
  const scopes = anonymous
    ? ''
    : [...new Set((fields.scopes ?? []).filter((s) => s !== '').map(encodeURIComponent))].sort().join(' ')
  const session = anonymous || fields.session === undefined ? '' : encodeURIComponent(fields.session)
  const signature = await computeSignature(secret, {
    timestamp,
    method: fields.method,
    pathAndQuery: fields.pathAndQuery,
    user,
    scopes,
    session,
    requestId: fields.requestId,
  })
  const headers: Record<string, string> = {
    [HEADER_TIMESTAMP]: String(timestamp),
    [HEADER_SIGNATURE]: signature,
    [HEADER_REQUEST_ID]: fields.requestId,
  }
  if (user !== '') headers[HEADER_USER] = user
  if (scopes !== '') headers[HEADER_SCOPES] = scopes
  if (session !== '') headers[HEADER_SESSION] = session
  return headers
}

export interface EventFields {
  /** The method sent to the origin. */
  method: string
  /** Path and query exactly as sent to the origin. */
  pathAndQuery: string
  /** The event's id, sent as `X-Request-Id`: the same on every delivery attempt, so the origin can skip a repeat. */
  requestId: string
  /** The body exactly as sent (UTF-8). */
  body: string
  /** @default Math.floor(Date.now() / 1000) */
  nowSeconds?: number
}

/**
 * The signed headers for an account event: `X-Gateway-Timestamp`, `X-Gateway-Signature`, `X-Request-Id` and
 * `X-Gateway-Content-SHA256`, the body's digest, which the signature covers (the canonical string's ninth line).
 * No identity headers: the body names the account. The origin checks it with `verifyGatewayRequest` given the
 * body. Throws a TypeError for a secret under 32 bytes or a malformed method/path/id.
 */
export async function signEvent(secret: string, fields: EventFields): Promise<Record<string, string>> {
  const timestamp = Math.floor(fields.nowSeconds ?? Date.now() / 1000)
  const digest = await contentSha256(fields.body)
  const { method, pathAndQuery, requestId } = fields
  const signature = await computeSignature(secret, {
    timestamp,
    method,
    pathAndQuery,
    user: '',
    scopes: '',
    session: '',
    requestId,
    contentSha256: digest,
  })
  return {
    [HEADER_TIMESTAMP]: String(timestamp),
    [HEADER_SIGNATURE]: signature,
    [HEADER_REQUEST_ID]: requestId,
    [HEADER_CONTENT_SHA256]: digest,
  }
}

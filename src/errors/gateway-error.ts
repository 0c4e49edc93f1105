/**
 * The gateway's one error type and its registry of stable public codes.
 * Status codes and titles live here only; `problem.ts` is the one place an error becomes a Response.
 */

/** Stable, snake_case public error codes. Clients may switch on them; never rename one. */
export type ErrorCode =
  | 'bad_request'
  | 'invalid_path'
  | 'method_override'
  | 'invalid_json'
  | 'invalid_query'
  | 'invalid_compressed_body'
  | 'validation_failed'
  | 'unauthenticated'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_credentials'
  | 'invalid_refresh_token'
  | 'invalid_account_token'
  | 'incorrect_password'
  | 'account_locked'
  | 'registration_disabled'
  | 'csrf_check_failed'
  | 'not_found'
  | 'method_not_allowed'
  | 'admin_self_action'
  | 'payload_too_large'
  | 'request_timeout'
  | 'unsupported_media_type'
  | 'unsupported_content_encoding'
  | 'dependency_unavailable'
  | 'revocation_unavailable'
  | 'rate_limited'
  | 'rate_limit_unavailable'
  | 'upstream_timeout'
  | 'upstream_unavailable'
  | 'bad_gateway'
  | 'internal_error'

interface ProblemType {
  readonly status: number
  readonly title: string
  /** Public text for `detail` when the thrower gives none. */
  readonly detail: string
  /** `WWW-Authenticate` challenge (RFC 6750 §3) sent with this code. */
  readonly challenge?: string
  /** A registered problem type URI, instead of the gateway's own `urn:edgeward:problem:<code>`. */
  readonly type?: string
}

/**
 * IANA-registered problem type for exceeded quotas (draft-ietf-httpapi-ratelimit-headers; R-RL-2 in
 * docs/requirements.md).
 */
export const QUOTA_EXCEEDED_TYPE = 'https://iana.org/assignments/http-problem-types#quota-exceeded'

export const PROBLEM_TYPES = {
  bad_request: { status: 400, title: 'Bad Request', detail: 'The request is malformed.' },
  invalid_path: {
    status: 400,
    title: 'Bad Request',
    // One text for every reason (the reason is logged): a spelling of a path that servers read in different ways.
    detail: 'The request path is not acceptable: it uses an encoding or spelling that servers interpret differently.',
  },
  method_override: {
    status: 400,
    title: 'Bad Request',
    detail:
      'Method overrides are not accepted: send the real method. Where methods differ in policy, form bodies (which can carry `_method`) are refused too.',
  },
  invalid_json: { status: 400, title: 'Bad Request', detail: 'The request body is not valid JSON.' },
  invalid_query: {
    status: 400,
    title: 'Bad Request',
    detail: 'The query string does not match what this route expects; see `errors` (parameter names and issue codes).',
  },
  invalid_compressed_body: {
    status: 400,
    title: 'Bad Request',
    detail: 'The request body is not valid data for its Content-Encoding.',
  },
  validation_failed: {
    status: 400,
    title: 'Bad Request',
    detail: 'The request body does not match the expected shape; see `errors` (JSON pointers and issue codes).',
  },
  unauthenticated: {
    status: 401,
    title: 'Unauthorized',
    detail: 'This resource requires a bearer access token.',
    challenge: 'Bearer realm="edgeward"',
  },
  invalid_token: {
    status: 401,
    title: 'Unauthorized',
    // One text for every reason (expired, revoked, forged, malformed…): the reason is logged, never sent.
    detail: 'The access token is not valid.',
    challenge: 'Bearer realm="edgeward", error="invalid_token"',
  },
  insufficient_scope: {
    status: 403,
    title: 'Forbidden',
    detail: 'The access token does not carry the scope this resource requires.',
  },
  invalid_credentials: {
    status: 401,
    title: 'Unauthorized',
    // One text for unknown user, wrong password and disabled account (R-BF-4).
    detail: 'The email address or password is not correct.',
  },
  invalid_refresh_token: {
    status: 401,
    title: 'Unauthorized',
    // One text for unknown, expired, revoked and reused tokens (R-RT-8): no detection oracle.
    detail: 'The refresh token is not valid. Sign in again.',
  },
  invalid_account_token: {
    status: 400,
    title: 'Bad Request',
    // One text for unknown, expired, used and replaced tokens, of either purpose: no detection oracle.
    detail: 'This link is not valid: it may have expired or been used already. Ask for a new one.',
  },
  incorrect_password: {
    status: 403,
    title: 'Forbidden',
    detail: 'The current password is not correct.',
  },
  account_locked: {
    status: 429,
    title: 'Too Many Requests',
    // Answered for any identifier with too many recent failures, whether or not an account exists.
    detail: 'Too many failed sign-in attempts for this account. Try again after Retry-After seconds.',
  },
  registration_disabled: {
    status: 403,
    title: 'Forbidden',
    detail: 'Registration is turned off on this gateway.',
  },
  csrf_check_failed: {
    status: 403,
    title: 'Forbidden',
    // The same text whatever was missing (the reason is logged), and said before the cookie is looked at.
    detail:
      'A request that uses the session cookie must come from an allowed origin (Origin) with Content-Type: application/json.',
  },
  not_found: { status: 404, title: 'Not Found', detail: 'No resource exists at this path.' },
  method_not_allowed: {
    status: 405,
    title: 'Method Not Allowed',
    detail: 'This method is not allowed on this resource; see the Allow header.',
  },
  admin_self_action: {
    status: 409,
    title: 'Conflict',
    detail:
      'An administrator cannot disable or delete their own account, nor take the admin scope from it; another administrator can.',
  },
  payload_too_large: {
    status: 413,
    title: 'Content Too Large',
    detail: 'The request body is larger than this route accepts.',
  },
  request_timeout: {
    status: 408,
    title: 'Request Timeout',
    detail: 'The request body did not arrive in time.',
  },
  unsupported_media_type: {
    status: 415,
    title: 'Unsupported Media Type',
    detail: 'This route accepts application/json only.',
  },
  unsupported_content_encoding: {
    status: 415,
    title: 'Unsupported Media Type',
    detail: "This route does not accept the request body's Content-Encoding; see Accept-Encoding.",
  },
  dependency_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    detail: 'A dependency of the gateway is unavailable. Try again later.',
  },
  rate_limited: {
    status: 429,
    title: 'Too Many Requests',
    detail: 'A rate limit was exceeded; see Retry-After and the RateLimit headers.',
    type: QUOTA_EXCEEDED_TYPE,
  },
  rate_limit_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    detail: 'The gateway cannot check a rate limit that protects accounts right now. Try again shortly.',
  },
  revocation_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    detail: 'The gateway cannot check token revocation right now. Try again shortly.',
  },
  upstream_timeout: {
    status: 504,
    title: 'Gateway Timeout',
    detail: 'The upstream service did not answer in time.',
  },
  upstream_unavailable: {
    status: 503,
    title: 'Service Unavailable',
    detail: 'The upstream service is unavailable. Try again after Retry-After seconds.',
  },
  bad_gateway: {
    status: 502,
    title: 'Bad Gateway',
    detail: 'The gateway could not reach the upstream service.',
  },
  internal_error: {
    status: 500,
    title: 'Internal Server Error',
    detail: 'The gateway could not complete the request.',
  },
} as const satisfies Record<ErrorCode, ProblemType>

/** Base of every problem `type` URI (RFC 9457 §3.1.1: an absolute URI). Documented in docs/errors.md. */
export const PROBLEM_TYPE_BASE = 'urn:edgeward:problem:'

export interface GatewayErrorOptions {
  /** Public, safe text for `detail`. Never a token, header value, input value or upstream body. */
  detail?: string
  /** Seconds for a `Retry-After` header (429, 503). */
  retryAfterSeconds?: number
  /** Extra response headers that belong to the error, e.g. `Allow` on a 405. */
  headers?: Record<string, string>
  /** Extra public members of the problem body (e.g. validation `errors`). Must hold no input values. */
  extensions?: Record<string, unknown>
  /** Server-side only: logged with the request id, never serialised. */
  internal?: { reason: string; cause?: unknown; [key: string]: unknown }
}

/**
 * A 503 for a dependency that failed (D1, or Upstash for revocation): the cause goes to the log with `reason`,
 * never to the client, and Retry-After says when to try again.
 *
 * @example throw unavailable('dependency_unavailable', 'd1_read_failed', cause, 2, { userid })
 */
export function unavailable(
  code: 'dependency_unavailable' | 'revocation_unavailable',
  reason: string,
  cause: unknown,
  retryAfterSeconds: number,
  extra: Record<string, unknown> = {},
): GatewayError {
  return new GatewayError(code, { retryAfterSeconds, internal: { reason, cause, ...extra } })
}

/**
 * An error the gateway answers with a problem+json response.
 *
 * @example throw new GatewayError('method_not_allowed', { headers: { allow: 'GET, HEAD' } })
 */
export class GatewayError extends Error {
  readonly code: ErrorCode
  readonly options: GatewayErrorOptions

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    super(code, options.internal?.cause === undefined ? undefined : { cause: options.internal.cause })
    this.name = 'GatewayError'
    this.code = code
    this.options = options
  }

  get status(): number {
    return PROBLEM_TYPES[this.code].status
  }
}

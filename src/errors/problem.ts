/**
 * The ONLY place an error becomes an HTTP response: RFC 9457 `application/problem+json`.
 * Clients get the registry's title, a safe detail and the request id; the cause goes to the log only.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../env'
import { logRequest, recordEvent } from '../request-log'
import { type ErrorCode, GatewayError, PROBLEM_TYPE_BASE, PROBLEM_TYPES } from './gateway-error'

export const PROBLEM_CONTENT_TYPE = 'application/problem+json'

export interface ProblemBody {
  type: string
  title: string
  status: number
  detail: string
  instance: string | undefined
  code: ErrorCode
  request_id: string | undefined
  [extension: string]: unknown
}

/** Builds the problem body and headers for an error, without logging. */
export function renderProblem(err: GatewayError, requestId: string | undefined): Response {
  const problem: { status: number; title: string; detail: string; challenge?: string; type?: string } =
    PROBLEM_TYPES[err.code]
  const { status, title, detail, challenge, type = `${PROBLEM_TYPE_BASE}${err.code}` } = problem
  const body: ProblemBody = {
    type,
    title,
    status,
    detail: err.options.detail ?? detail,
    instance: requestId,
    code: err.code,
    request_id: requestId,
  }
  // Extensions follow the standard members and can never replace one of them.
  for (const [key, value] of Object.entries(err.options.extensions ?? {})) {
    if (!(key in body)) body[key] = value
  }
  const headers = new Headers(err.options.headers)
  headers.set('content-type', PROBLEM_CONTENT_TYPE)
  headers.set('cache-control', 'no-store')
  if (challenge !== undefined && !headers.has('www-authenticate')) headers.set('www-authenticate', challenge)
  if (err.options.retryAfterSeconds !== undefined) {
    headers.set('retry-after', String(Math.max(1, Math.ceil(err.options.retryAfterSeconds))))
  }
  return new Response(JSON.stringify(body), { status, headers })
}

/**
 * Hono `onError` / `notFound` target. Unknown errors become a generic 500 whose cause is logged under
 * the request id; a GatewayError with an `internal` reason is logged too.
 */
export function toProblemResponse(err: unknown, c: Context<AppEnv>): Response {
  const error =
    err instanceof GatewayError
      ? err
      : new GatewayError('internal_error', { internal: { reason: 'unhandled', cause: err } })
  if (error.options.internal !== undefined) {
    const server = error.status >= 500
    logRequest(c, {
      event: server ? 'request_failed' : 'request_rejected',
      level: server ? 'error' : 'info',
      code: error.code,
      status: error.status,
      ...error.options.internal,
    })
  }
  // Every refusal, logged or not (a route's 404 or 405, a 429 answered from memory), is one data point.
  recordEvent(c, {
    event: 'http_problem',
    outcome: error.status >= 500 ? 'failure' : 'denied',
    reason: error.code,
    status: error.status,
  })
  return renderProblem(error, c.get('requestId'))
}

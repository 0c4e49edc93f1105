/**
 * Log records about the current request: the request's own fields (ids, client, method, path, user) on every
 * record; and data points about it in the `EVENTS` Analytics Engine dataset when it is bound: each security event,
 * and the decisions that have no log record of their own (`recordEvent`, `recordUpstream`). The hono-facing half
 * of the logger and of `observability/analytics.ts`, which stay free of the framework.
 */
import type { Context } from 'hono'
import { routePath } from 'hono/route'
import { eventsDataset, writePoint } from './observability/analytics'
import { isSecurityEvent, type LogRecord, log, type Outcome, SECURITY_EVENTS } from './observability/logger'
import { requestClientIp, requestHeader, requestUrl } from './request-parse'

/**
 * The request fields every record about a request carries (R-LOG-2): correlation ids, the client as Cloudflare saw
 * it (R-RL-6), method and path (the query string is never logged), and `userid` once a token was verified.
 */
export function requestFields(c: Context): Record<string, unknown> {
  const url = requestUrl(c)
  const userid: unknown = c.get('principal')?.sub
  return {
    request_id: c.get('requestId'),
    cf_ray: requestHeader(c, 'cf-ray') ?? null,
    source_ip: requestClientIp(c) ?? null,
    useragent: requestHeader(c, 'user-agent') ?? null,
    request_method: c.req.method,
    request_uri: url.pathname,
    ...(typeof userid === 'string' ? { userid } : {}),
  }
}

/**
 * Logs a record about the current request, with the request fields filled in. A security event is also written
 * to the `EVENTS` Analytics Engine dataset, if bound (`recordEvent`).
 */
export function logRequest(c: Context, record: LogRecord): void {
  const written = log({ ...requestFields(c), ...record })
  if (isSecurityEvent(record.event)) recordEvent(c, { ...record, outcome: written.outcome as Outcome })
}

/** The fields of a record that name why it happened, in order of preference: a bounded code, never user input. */
const REASON_FIELDS = ['reason', 'action', 'code', 'scope'] as const

/** What a data point says about a decision: the log record's event, outcome and reason fields, or just those. */
export interface EventFields {
  event: string
  outcome?: Outcome | undefined
  reason?: unknown
  action?: unknown
  code?: unknown
  scope?: unknown
  /** Rate-limit policies: the reason when no other field gives one. */
  policies?: unknown
  status?: number
  latencyMs?: number
  [field: string]: unknown
}

/**
 * Writes one data point about the current request to the `EVENTS` dataset, if bound, without logging: for a
 * decision whose log record was left out (a throttled log, a problem response), or that has none. Schema:
 * `src/observability/analytics.ts`, documented in docs/OPERATIONS.md.
 */
export function recordEvent(c: Context, fields: EventFields): void {
  const dataset = eventsDataset(c.env)
  if (dataset === undefined) return
  const named = REASON_FIELDS.map((f) => fields[f]).find((v) => typeof v === 'string')
  const policies = Array.isArray(fields.policies) ? fields.policies.join(',') : undefined
  const error = writePoint(dataset, {
    event: fields.event,
    outcome: fields.outcome ?? SECURITY_EVENTS[fields.event]?.outcome ?? 'allowed',
    route: matchedRoute(c),
    reason: named ?? policies,
    environment: environmentOf(c),
    method: c.req.method,
    ...(fields.status === undefined ? {} : { status: fields.status }),
    ...(fields.latencyMs === undefined ? {} : { latencyMs: fields.latencyMs }),
  })
  // Telemetry must never fail a request.
  if (error !== undefined) log({ event: 'analytics_write_failed', level: 'error', error })
}

/** What a proxied request got: the origin's status class (`2xx` …) or the gateway's failure code. */
export interface UpstreamResult {
  /** The status the client gets: the origin's, or the gateway's own (502, 504, 503, 413). */
  status: number
  /** From the response head's arrival (or the gateway giving up) back to when the origin was called. */
  latencyMs: number
  /** `2xx` … `5xx` for an origin answer; `upstream_timeout`, `upstream_unavailable`, `bad_gateway`, … otherwise. */
  outcome: string
}

/**
 * One `upstream_request` data point for a proxied request: its outcome (success for any origin answer below 500,
 * failure otherwise), the origin's latency and the status. One `writeDataPoint` call, nothing awaited.
 */
export function recordUpstream(c: Context, result: UpstreamResult): void {
  const failed = result.status >= 500 || !/^[1-5]xx$/.test(result.outcome)
  recordEvent(c, {
    event: 'upstream_request',
    outcome: failed ? 'failure' : 'success',
    reason: result.outcome,
    status: result.status,
    latencyMs: result.latencyMs,
  })
}

/**
 * The pattern of what matched: the route table's entry for a proxied path (`/api/items/:id`), else the gateway
 * route ('/auth/me'), '*' when none did. Bounded, and never user input.
 */
function matchedRoute(c: Context): string {
  const policy: unknown = (c.get('route') as { policy?: { pattern?: unknown } } | undefined)?.policy?.pattern
  if (typeof policy === 'string') return policy
  try {
    return routePath(c, -1) || '*'
  } catch {
    return '*'
  }
}

/** The environment the worker runs as: the parsed configuration's, else the raw variable (a refused configuration). */
function environmentOf(c: Context): string {
  const config: unknown = c.get('config')
  const environment = (config as { environment?: unknown } | undefined)?.environment
  if (typeof environment === 'string') return environment
  const raw: unknown = (c.env as { ENVIRONMENT?: unknown } | undefined)?.ENVIRONMENT
  return typeof raw === 'string' ? raw : ''
}

/**
 * Security data points for Workers Analytics Engine (the `EVENTS` dataset): the fleet-wide counterpart of the
 * per-isolate metrics. One data point per security decision, in one schema that dashboards and alerts query by
 * position (docs/OPERATIONS.md "Data-point schema"). Positions never change meaning; new fields are appended.
 *
 * Nothing a client sends reaches a data point: every blob is a fixed identifier (an event name, an outcome, a
 * problem code, a route pattern from the route table) and is checked against a narrow alphabet on the way out,
 * so a value that does not fit (an address, a path, an email, a token) becomes `other` instead. No framework here.
 */

/** Blob positions (`blob1` … in the SQL API). */
export const BLOBS = ['event', 'outcome', 'route', 'reason', 'environment', 'method'] as const
/** Double positions (`double1` … in the SQL API). */
export const DOUBLES = ['count', 'latency_ms', 'status'] as const

/**
 * Data-point events that are not log events: every problem response (`http_problem`), every request decided by the
 * in-isolate rate-limit fallback (`rate_limit_degraded`), and every proxied request (`upstream_request`). The log's
 * security vocabulary (`SECURITY_EVENTS` in logger.ts) is exported too.
 */
export const DATA_POINT_EVENTS = ['http_problem', 'rate_limit_degraded', 'upstream_request'] as const

export interface SecurityPoint {
  event: string
  /** success, failure, denied or allowed. */
  outcome: string
  /** The route pattern that matched (`/auth/login`, `/api/items/:id`), `*` when none did. Never the path. */
  route: string
  /** Why: a reason code, a problem code, the rate-limit policies. Empty when the event says it all. */
  reason?: string
  /** The ENVIRONMENT the worker runs as. */
  environment: string
  /** The request method, one of METHODS or `OTHER`. */
  method?: string
  /** Milliseconds the decision took, where it has a duration (the origin's answer); 0 otherwise. */
  latencyMs?: number
  /** The HTTP status answered, when known; 0 otherwise. */
  status?: number
}

const METHODS = new Set(['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'])
/**
 * Identifiers: event names, outcomes, codes, policy lists (`global,user`), environments. Lower case only, which
 * also keeps out base64url tokens; nothing shaped like an IP address, a long number or a hex id.
 */
const IDENTIFIER = /^[a-z0-9][a-z0-9_:,.-]{0,63}$/
const NOT_AN_IDENTIFIER = /\d{3,}|::|\d\.\d|[0-9a-f]{8,}|[0-9a-f]{1,4}(?::[0-9a-f]{0,4}){2,}/
/** jose's error codes, which token verification reports as its reason: `ERR_JWT_EXPIRED:exp`. */
const JOSE_CODE = /^ERR_[A-Z_]{1,60}(?::[a-z]{1,8})?$/
/** Route patterns: `/auth/me`, `/api/users/:id`, `/api/files/*`, `(default)`, `*`; never a concrete id. */
const PATTERN = /^(?:\*|\(default\)|\/[A-Za-z0-9_:*/.-]{0,255})$/
const NOT_A_PATTERN = /\d{4,}|\d\.\d/

/** `value` when it is a short identifier, `other` when it is not, '' when there is none. */
export function identifier(value: unknown): string {
  if (value === undefined || value === null || value === '') return ''
  if (typeof value !== 'string') return 'other'
  if (JOSE_CODE.test(value)) return value
  return IDENTIFIER.test(value) && !NOT_AN_IDENTIFIER.test(value) ? value : 'other'
}

/** `value` when it is a route pattern, `other` when it is not. */
export function routePattern(value: unknown): string {
  return typeof value === 'string' && PATTERN.test(value) && !NOT_A_PATTERN.test(value) ? value : 'other'
}

function method(value: string | undefined): string {
  if (value === undefined) return ''
  const upper = value.toUpperCase()
  return METHODS.has(upper) ? upper : 'OTHER'
}

function finite(value: number | undefined): number {
  return value !== undefined && Number.isFinite(value) ? Math.max(0, value) : 0
}

/** The data point of `point`: its blobs and doubles in schema order, indexed by event (the sampling key). */
export function toDataPoint(point: SecurityPoint): AnalyticsEngineDataPoint {
  const event = identifier(point.event)
  return {
    blobs: [
      event,
      identifier(point.outcome),
      routePattern(point.route),
      identifier(point.reason),
      identifier(point.environment),
      method(point.method),
    ],
    doubles: [1, finite(point.latencyMs), finite(point.status)],
    indexes: [event],
  }
}

/** The `EVENTS` binding of `env` when it is a dataset, else undefined (not bound: nothing is written). */
export function eventsDataset(env: unknown): AnalyticsEngineDataset | undefined {
  const dataset = (env as { EVENTS?: Partial<AnalyticsEngineDataset> } | undefined)?.EVENTS
  return typeof dataset?.writeDataPoint === 'function' ? (dataset as AnalyticsEngineDataset) : undefined
}

/**
 * Writes `point` to `dataset` (fire and forget: the runtime sends it after the response). Returns the error when
 * the write threw, for the caller to log; telemetry never fails a request.
 */
export function writePoint(dataset: AnalyticsEngineDataset | undefined, point: SecurityPoint): unknown {
  if (dataset === undefined) return undefined
  try {
    dataset.writeDataPoint(toDataPoint(point))
    return undefined
  } catch (error) {
    return error ?? new Error('writeDataPoint failed')
  }
}

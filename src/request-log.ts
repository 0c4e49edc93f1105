/**
 * Log records about the current request: the request's own fields (ids, client, method, path, user) on every
 * record, and each security event also counted in the `EVENTS` Analytics Engine dataset when it is bound. The
 * hono-facing half of the logger; `observability/logger.ts` stays free of the framework.
 */
import type { Context } from 'hono'
import { routePath } from 'hono/route'
import { isSecurityEvent, type LogRecord, log } from './observability/logger'
import { requestUrl } from './request-parse'

/**
 * The request fields every record about a request carries (R-LOG-2): correlation ids, the client as Cloudflare saw
 * it (R-RL-6), method and path (the query string is never logged), and `userid` once a token was verified.
 */
export function requestFields(c: Context): Record<string, unknown> {
  const url = requestUrl(c)
  const userid: unknown = c.get('principal')?.sub
  return {
    request_id: c.get('requestId'),
    cf_ray: c.req.header('cf-ray') ?? null,
    source_ip: c.req.header('cf-connecting-ip') ?? null,
    useragent: c.req.header('user-agent') ?? null,
    request_method: c.req.method,
    request_uri: url.pathname,
    ...(typeof userid === 'string' ? { userid } : {}),
  }
}

/**
 * Logs a record about the current request, with the request fields filled in. A security event is also written
 * to the `EVENTS` Analytics Engine dataset, if bound: blobs [event, outcome, route], doubles [1], index event.
 */
export function logRequest(c: Context, record: LogRecord): void {
  const written = log({ ...requestFields(c), ...record })
  if (isSecurityEvent(record.event)) exportEvent(c, record.event, String(written.outcome))
}

function exportEvent(c: Context, event: string, outcome: string): void {
  const dataset: unknown = (c.env as { EVENTS?: unknown } | undefined)?.EVENTS
  if (typeof (dataset as AnalyticsEngineDataset | undefined)?.writeDataPoint !== 'function') return
  try {
    const route = matchedRoute(c)
    ;(dataset as AnalyticsEngineDataset).writeDataPoint({
      blobs: [event, outcome, route],
      doubles: [1],
      indexes: [event],
    })
  } catch (error) {
    // Telemetry must never fail a request.
    log({ event: 'analytics_write_failed', level: 'error', error })
  }
}

/** The pattern of the route that matched ('/auth/me', '*' when none did): bounded, and never user input. */
function matchedRoute(c: Context): string {
  try {
    return routePath(c, -1) || '*'
  } catch {
    return '*'
  }
}

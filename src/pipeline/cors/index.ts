/**
 * CORS from configuration, made strict because hono's defaults allow any origin and echo the requested headers:
 * preflights from an exact, configured origin are answered by hono's `cors`; every other request leaves with no
 * `Access-Control-*` header at all, and every response says `Vary: Origin`. An actual (non-preflight) request from an
 * allowed origin gets its three fields from this stage, after the rest of the pipeline: hono's middleware writes them
 * on a placeholder response before the request runs, which makes hono copy the whole answer into a new Response when
 * the handler's arrives, and again for its `Vary`. This stage authorizes nothing (R-CORS-9 in docs/requirements.md):
 * it only tells browsers what they may read.
 */
import type { Context, MiddlewareHandler } from 'hono'
import { cors as honoCors } from 'hono/cors'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { createLogThrottle } from '../../lib/throttle'
import { logRequest, recordEvent } from '../../request-log'
import { requestHeader } from '../../request-parse'
import { isCorsFree } from '../../upstream/response-headers'
import type { Stage } from '../stage'

/** `Access-Control-Allow-Methods` on preflights: explicit, never `*` (R-CORS-5). */
export const CORS_ALLOW_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'] as const
/**
 * `Access-Control-Allow-Headers` on preflights (R-CORS-5). It must be set: with an empty list hono echoes the
 * preflight's `Access-Control-Request-Headers`, whatever they are. `Authorization` is named because `*` never covers it.
 */
export const CORS_ALLOW_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key', 'X-Request-Id'] as const
/** `Access-Control-Expose-Headers`: none of these is CORS-safelisted, so scripts could not read them otherwise (R-CORS-7). */
export const CORS_EXPOSE_HEADERS = [
  'RateLimit',
  'RateLimit-Policy',
  'X-RateLimit-Limit',
  'X-RateLimit-Remaining',
  'Retry-After',
  'X-Request-Id',
] as const
/** A rejected origin is logged at most once per this interval, per isolate (R-CORS-10, without a log flood). */
export const REJECTED_ORIGIN_LOG_INTERVAL_MS = 60_000
/** Distinct rejected origins remembered per isolate; while all are fresh, further new origins are only counted. */
export const REJECTED_ORIGIN_LOG_MAX_ORIGINS = 1_000
/** Origin and Referer are attacker-controlled: logged (JSON-encoded by the logger) cut to this many characters. */
export const LOGGED_HEADER_MAX_CHARS = 256

const CORS_HEADER_PREFIX = 'access-control-'

interface CorsPolicy {
  /** hono's middleware for this configuration; it only ever sees preflights from allowed origins. */
  readonly hono: MiddlewareHandler
  /** The `Access-Control-*` headers an actual (non-preflight) response to an allowed origin carries. */
  readonly actualHeaders: (origin: string) => Record<string, string>
  readonly allowed: ReadonlySet<string>
}

/** hono's cors answers a preflight without calling `next()`; a call would mean it let one through. */
const preflightNext = async (): Promise<void> => {
  throw new Error('hono cors passed a preflight on')
}

/** The origin itself on an exact, case-sensitive match with a configured origin; otherwise null (R-CORS-1, R-CORS-3). */
function matchOrigin(allowed: ReadonlySet<string>, origin: string): string | null {
  return allowed.has(origin) ? origin : null
}

function buildPolicy(settings: Config['cors']): CorsPolicy {
  // The config schema already refused '*', 'null' and anything that is not a serialized origin.
  const allowed = new Set(settings.origins)
  const hono = honoCors({
    // Never hono's default ('*'): the same exact match as the check in cors() below, so hono never sends ACAO for
    // an origin that check refused (it only sees allowed origins anyway).
    origin: (origin) => matchOrigin(allowed, origin),
    allowMethods: [...CORS_ALLOW_METHODS],
    allowHeaders: [...CORS_ALLOW_HEADERS],
    exposeHeaders: [...CORS_EXPOSE_HEADERS],
    maxAge: settings.maxAgeSeconds,
    credentials: settings.allowCredentials,
  })
  const expose = CORS_EXPOSE_HEADERS.join(',')
  const actualHeaders = (origin: string): Record<string, string> => ({
    'access-control-allow-origin': origin,
    'access-control-expose-headers': expose,
    ...(settings.allowCredentials ? { 'access-control-allow-credentials': 'true' } : {}),
  })
  return { hono, actualHeaders, allowed }
}

/**
 * Remembers which rejected origins were logged recently (lib/throttle.ts), keyed on the truncated origin so long
 * random tails cannot grow memory past the bound.
 */
export function createRejectedOriginThrottle({
  intervalMs = REJECTED_ORIGIN_LOG_INTERVAL_MS,
  maxOrigins = REJECTED_ORIGIN_LOG_MAX_ORIGINS,
} = {}) {
  const throttle = createLogThrottle({ intervalMs, maxKeys: maxOrigins })
  return {
    admit: (origin: string, nowMs: number) => throttle.admit(truncate(origin), nowMs),
    get size() {
      return throttle.size
    },
  }
}

const rejectedOrigins = createRejectedOriginThrottle()

function truncate(value: string): string {
  return value.length > LOGGED_HEADER_MAX_CHARS ? `${value.slice(0, LOGGED_HEADER_MAX_CHARS)}…` : value
}

function reportRejectedOrigin(c: Context<AppEnv>, origin: string): void {
  const admitted = rejectedOrigins.admit(origin, Date.now())
  // The log is throttled per origin; the fleet-wide count is not.
  if (admitted === undefined) {
    recordEvent(c, { event: 'malicious_cors' })
    return
  }
  const referer = c.req.header('referer')
  logRequest(c, {
    event: 'malicious_cors',
    level: 'warn',
    outcome: 'denied',
    description:
      'A cross-origin request came from an origin that CORS_ORIGINS does not allow; no CORS headers were sent',
    origin: truncate(origin),
    // Without query or fragment: a Referer can carry another site's secrets there.
    referer: referer === undefined ? null : truncate(referer.split(/[?#]/, 1)[0] ?? ''),
    suppressed: admitted.suppressed,
  })
}

/** `Vary` with `Origin` added, or undefined when it already lists it (or is `*`): these responses depend on it (R-CORS-4). */
function varyWithOrigin(vary: string | null): string | undefined {
  if (vary === null || vary.trim() === '') return 'Origin'
  return vary.split(',').some((v) => ['origin', '*'].includes(v.trim().toLowerCase())) ? undefined : `${vary}, Origin`
}

/**
 * After the rest of the pipeline: the response carries exactly the policy's CORS headers for this origin (none for
 * a missing or rejected one), whatever a later stage or an upstream response put there, and `Vary: Origin`. The
 * response's own headers are changed, as every stage that adds headers after `next()` does (`c.header` would copy
 * the whole response first, once per call).
 */
function settleCorsHeaders(c: Context<AppEnv>, expected: Record<string, string>): void {
  const { headers } = c.res
  // A proxied response was scrubbed of every Access-Control-* field the origin sent: no pass over its fields.
  if (!isCorsFree(headers)) {
    const stale: string[] = []
    for (const name of headers.keys()) {
      if (name.startsWith(CORS_HEADER_PREFIX) && !(name in expected)) stale.push(name)
    }
    for (const name of stale) headers.delete(name)
  }
  // Set, not read and compared first: a read costs the runtime as much as the write it might save.
  for (const name in expected) headers.set(name, expected[name] as string)
  const vary = varyWithOrigin(headers.get('vary'))
  if (vary !== undefined) headers.set('vary', vary)
}

/**
 * CORS for the configured origins (`config.cors`). A preflight (OPTIONS with Origin and
 * Access-Control-Request-Method) is answered here with 204, before authentication: with the CORS headers for an
 * allowed origin, with none for any other. 204 rather than 403 for a refused origin: the browser fails the CORS
 * check on the missing ACAO whatever the status, and a preflight is not a request for a resource. What matters is
 * that nothing behind this stage (auth, routes, the upstream) ever sees it. Every other request continues; a
 * rejected origin is logged as `malicious_cors`.
 *
 * The policy is built once, when the stage is.
 * @example pipeline([…, cors(config.cors), …], toProblemResponse)
 */
export const cors = (settings: Config['cors']): Stage<Record<string, string>> => {
  const policy = buildPolicy(settings)
  const none: Record<string, string> = {}
  return {
    enter(c) {
      const origin = requestHeader(c, 'origin')
      const allowed = origin === undefined ? null : matchOrigin(policy.allowed, origin)
      if (origin !== undefined && allowed === null) reportRejectedOrigin(c, origin)

      const preflight =
        c.req.method === 'OPTIONS' &&
        origin !== undefined &&
        requestHeader(c, 'access-control-request-method') !== undefined
      if (preflight) return answerPreflight(c, policy, allowed)
      // Any other request, a plain OPTIONS included, goes on to routing like any other method; its CORS fields are
      // written once it has been answered (for an allowed origin the same fields hono's cors would write).
      return allowed === null ? none : policy.actualHeaders(allowed)
    },
    leave: settleCorsHeaders,
  }
}

async function answerPreflight(c: Context<AppEnv>, policy: CorsPolicy, allowed: string | null): Promise<Response> {
  if (allowed === null) return c.body(null, 204, { vary: 'Origin' })
  const res = await policy.hono(c, preflightNext)
  if (!(res instanceof Response)) throw new Error('hono cors did not answer the preflight')
  const vary = varyWithOrigin(res.headers.get('vary'))
  if (vary !== undefined) res.headers.set('vary', vary)
  return res
}

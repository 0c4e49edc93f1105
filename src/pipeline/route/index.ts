/**
 * Route policy resolution for proxied paths (issue 7), before body limits and rate limits so both can follow the
 * route's policy. The raw path (still percent-encoded) is normalized first — case, duplicate slashes, dot
 * segments, encoded characters, trailing slash — and the policy is matched on that normalized key, so no
 * spelling of a path reaches a weaker policy than the canonical one. A path that cannot be normalized safely is a
 * 400; a method the matching pattern does not list is a 405, never a fall-through.
 *
 * Paths under the gateway's own segments (`/auth`, `/health`, `/metrics`, `/.well-known`) are left to the
 * gateway's routes: any spelling of them that the router does not match exactly ends in a 404 and is never
 * proxied (`src/routes/proxy.ts`).
 */
import { createMiddleware } from 'hono/factory'
import { matchedRoutes } from 'hono/route'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { logRequest } from '../../log/logger'
import { ROUTES } from '../../policies'
import { normalizePath } from '../../proxy/path'
import { compileRoutes, matchRoute, type ResolvedPolicy, upstreamPath } from '../../proxy/routes'

/**
 * Compiled when the isolate loads this module: an invalid table (src/policies.ts) throws here, so the worker
 * fails to start — in the test suite and at the deploy's startup check — rather than serve a weaker route.
 */
const COMPILED_ROUTES = compileRoutes(ROUTES)

/** A proxied request's resolved route: the policy and the exact path and query the origin will get. */
export interface ProxyRoute {
  policy: ResolvedPolicy
  /** Normalized path as the client addressed it (before any rewrite). */
  path: string
  /** Path and query for the origin, after the policy's rewrite. */
  upstreamPathAndQuery: string
}

export interface RouteVariables {
  /** Set for every request the proxy will handle; unset for the gateway's own paths. */
  route: ProxyRoute
}

export const resolveRoute = () =>
  createMiddleware<AppEnv>(async function resolveRoute(c, next) {
    // A request a registered route answers (not a middleware, which is registered for ALL) is the gateway's own.
    if (matchedRoutes(c).some((r) => r.method !== 'ALL')) return next()
    const url = new URL(c.req.url)
    const normalized = normalizePath(url.pathname)
    if (!normalized.ok) {
      logRequest(c, {
        event: 'input_validation_fail',
        level: 'info',
        reason: `path_${normalized.reason}`,
        outcome: 'denied',
      })
      throw new GatewayError('bad_request', { detail: 'The request path is not acceptable.' })
    }
    const match = matchRoute(COMPILED_ROUTES, normalized.key, c.req.method)
    if (match.kind === 'gateway_owned') return next()
    if (match.kind === 'method_not_allowed') {
      throw new GatewayError('method_not_allowed', { headers: { allow: match.allow.join(', ') } })
    }
    c.set('route', {
      policy: match.policy,
      path: normalized.path,
      upstreamPathAndQuery: upstreamPath(match.policy, normalized.path, url.search),
    })
    await next()
  })

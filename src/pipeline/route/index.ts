/**
 * Route policy resolution for proxied paths, before body limits and rate limits so both can follow the route's
 * policy. The policy is matched on the normalized raw path, so no spelling of a path reaches a weaker policy than
 * the canonical one: a path that cannot be normalized safely is a 400 `invalid_path`, and a method the pattern does
 * not list is a 405, never a fall-through. Gateway paths (`/auth`, `/health`, …) are left to the gateway's routes.
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import { matchedRoutes } from 'hono/route'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { logRequest } from '../../request-log'
import { requestHeader, requestUrl } from '../../request-parse'
import { normalizePath } from '../../routing/path'
import { type CompiledRoutes, matchPath, type ResolvedPolicy, upstreamPath } from '../../routing/table'

/** A proxied request's resolved route: the policy and the exact path and query the origin will get. */
export interface ProxyRoute {
  policy: ResolvedPolicy
  /** Normalized path as the client addressed it (before any rewrite). */
  path: string
  /** Path and query for the origin, after the policy's rewrite. */
  upstreamPathAndQuery: string
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set for every request the proxy will handle; unset for the gateway's own paths. */
    route: ProxyRoute | undefined
  }
}

/** `routes`: the compiled table (`compileRoutes`), built once per isolate by the caller. */
export const resolveRoute = (routes: CompiledRoutes) =>
  createMiddleware<AppEnv>(async function resolveRoute(c, next) {
    // A request a registered route answers (not a middleware, which is registered for ALL) is the gateway's own.
    if (matchedRoutes(c).some((r) => r.method !== 'ALL')) return next()
    const url = requestUrl(c)
    const normalized = normalizePath(url.pathname)
    if (!normalized.ok) {
      logRequest(c, {
        event: 'input_validation_fail',
        level: 'info',
        reason: `path_${normalized.reason}`,
        outcome: 'denied',
      })
      throw new GatewayError('invalid_path')
    }
    const match = matchPath(routes, normalized, c.req.method)
    if (match.kind === 'ambiguous_trailing_slash') {
      logRequest(c, {
        event: 'input_validation_fail',
        level: 'info',
        reason: 'path_trailing_slash',
        outcome: 'denied',
      })
      throw new GatewayError('invalid_path')
    }
    if (match.kind === 'gateway_owned') return next()
    if (match.kind === 'not_found') {
      // Never forwarded. Reaching a rewrite target around the entry that guards it is an authorization attempt and
      // is logged; an unlisted path under `default: 'deny'` is ordinary scanner noise and is not.
      if (match.reason === 'rewrite_target') {
        logRequest(c, {
          event: 'authz_fail',
          level: 'warn',
          description: 'A request addressed an origin path reserved for a rewriting route, around that route.',
          reason: 'rewrite_target',
          outcome: 'denied',
        })
      }
      throw new GatewayError('not_found')
    }
    if (match.kind === 'method_not_allowed') {
      throw new GatewayError('method_not_allowed', { headers: { allow: match.allow.join(', ') } })
    }
    refuseMethodOverride(c, url, match.splitByMethod)
    c.set('route', {
      policy: match.policy,
      path: normalized.path,
      upstreamPathAndQuery: upstreamPath(match.policy, normalized.path, url.search),
    })
    await next()
  })

/** Form media types that Rails, Laravel and Symfony read a `_method` field from. */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data']

/**
 * The policy was chosen by the request's method, so nothing may change that method behind the gateway: a
 * `_method` query parameter (Laravel, Symfony) is refused everywhere, and where another method on this pattern
 * has another policy, so is a POST form body (Rails, Laravel), which cannot be read without buffering it. The
 * X-HTTP-Method-Override family of headers never reaches the origin (header allow-list).
 */
function refuseMethodOverride(c: Context<AppEnv>, url: URL, splitByMethod: boolean): void {
  const query =
    url.search !== '' && [...url.searchParams.keys()].some((name) => name.trim().toLowerCase() === '_method')
  const form = splitByMethod && c.req.method.toUpperCase() === 'POST' && FORM_TYPES.includes(mediaType(c))
  if (!query && !form) return
  logRequest(c, {
    event: 'input_validation_fail',
    level: 'info',
    reason: query ? 'method_override_query' : 'method_override_form',
    outcome: 'denied',
  })
  throw new GatewayError('method_override')
}

/** The request's media type, lower-case, without parameters ('' without a Content-Type). */
function mediaType(c: Context<AppEnv>): string {
  return (requestHeader(c, 'content-type') ?? '').split(';', 1)[0]?.trim().toLowerCase() ?? ''
}

/**
 * Route policy resolution for proxied paths, before body limits and rate limits so both can follow the route's
 * policy. The policy is matched on the normalized raw path, so no spelling of a path reaches a weaker policy than
 * the canonical one: a path that cannot be normalized safely is a 400 `invalid_path`, and a method the pattern does
 * not list is a 405, never a fall-through. Gateway paths (`/auth`, `/health`, …) are left to the gateway's routes.
 */
import type { Context } from 'hono'
import { matchedRoutes } from 'hono/route'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { logRequest } from '../../request-log'
import { hasBody, requestHeader, requestUrl } from '../../request-parse'
import { normalizePath } from '../../routing/path'
import { type CompiledRoutes, matchPath, type ResolvedPolicy, upstreamPath } from '../../routing/table'
import type { Stage } from '../stage'

/** A proxied request's resolved route: the policy and the exact path and query the origin will get. */
export interface ProxyRoute {
  policy: ResolvedPolicy
  /** Normalized path as the client addressed it (before any rewrite). */
  path: string
  /** Path and query for the origin, after the policy's rewrite. */
  upstreamPathAndQuery: string
  /**
   * A POST on a pattern whose methods differ in policy, without a schema: the proxy watches its body as it streams
   * and refuses it if it is a JSON object with a `_method` member (see refuseMethodOverride).
   */
  watchBody?: true
}

declare module 'hono' {
  interface ContextVariableMap {
    /** Set for every request the proxy will handle; unset for the gateway's own paths. */
    route: ProxyRoute | undefined
  }
}

/** `routes`: the compiled table (`compileRoutes`), built once per isolate by the caller. */
export const resolveRoute = (routes: CompiledRoutes): Stage => ({
  enter(c) {
    // A request a registered route answers (not a middleware, which is registered for ALL) is the gateway's own.
    if (matchedRoutes(c).some((r) => r.method !== 'ALL')) return
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
    if (match.kind === 'gateway_owned') return
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
    const body = refuseMethodOverride(c, url, match.splitByMethod)
    c.set('route', {
      policy: match.policy,
      path: normalized.path,
      upstreamPathAndQuery: upstreamPath(match.policy, normalized.path, url.search),
      ...(body === 'watch' && match.policy.schema === undefined ? { watchBody: true } : {}),
    })
  },
})

/** Form media types that Rails, Laravel and Symfony read a `_method` field from. */
const FORM_TYPES = ['application/x-www-form-urlencoded', 'multipart/form-data']

/**
 * A query parameter's name as PHP stores it: `.` and spaces become `_` (so `.method` is `_method`), `_method[]` or
 * `_method[x]` is the `_method` parameter holding an array, and a NUL ends the name (PHP measures it with strlen).
 * Trimmed at both ends besides: refusing a few more spellings than PHP reads costs nothing.
 */
function phpName(name: string): string {
  const cut = name.split('\0', 1)[0] ?? ''
  return cut.trim().replace(/[ .]/g, '_').split('[', 1)[0] ?? ''
}

/** Every `charset` parameter of a Content-Type, lower-case, unquoted. */
const CHARSET_PARAMETER = /;[ \t]*charset[ \t]*=[ \t]*"?([^";, \t]*)/gi

/**
 * The policy was chosen by the request's method, so nothing may change that method behind the gateway. A `_method`
 * query parameter (Laravel, Symfony), in any spelling PHP reads as one, is refused everywhere. Where another method
 * on this pattern has another policy, or is refused (405), a POST body a framework reads `_method` from is refused
 * too: a form (Rails, Laravel), any multipart body and a body without a Content-Type (Rack parses both), and a
 * Content-Type listing several types (Rack splits it on commas). Any other body there is `watch`ed: the proxy
 * refuses it if it is a JSON object with a `_method` member (Laravel reads JSON; Express's and Koa's override
 * middleware read a parsed body, whatever type the origin chose to parse as JSON), and a charset other than UTF-8
 * is a 415, since a parser that honours one (body-parser decodes any `utf-*`) would read a name the watch cannot
 * see. The X-HTTP-Method-Override family of headers never reaches the origin (header allow-list).
 */
function refuseMethodOverride(c: Context<AppEnv>, url: URL, splitByMethod: boolean): 'watch' | undefined {
  const query = url.search !== '' && [...url.searchParams.keys()].some((name) => isMethodOverrideName(phpName(name)))
  if (query) refuseOverride(c, 'method_override_query')
  if (!splitByMethod || c.req.method.toUpperCase() !== 'POST') return undefined
  // An empty Content-Type is no Content-Type to Rack, which then parses the body as a form.
  const contentType = requestHeader(c, 'content-type')?.trim() ?? ''
  if (contentType === '') {
    if (hasBody(c.req.raw)) refuseOverride(c, 'method_override_untyped_body')
    return undefined
  }
  // The type as PHP cuts it: at a `;`, a `,` or a space (`application/x-www-form-urlencoded x` fills $_POST).
  const type = contentType.split(/[;, \t]/, 1)[0]?.toLowerCase() ?? ''
  if (contentType.includes(',') || FORM_TYPES.includes(type) || type.startsWith('multipart/')) {
    refuseOverride(c, 'method_override_form')
  }
  for (const [, charset] of contentType.matchAll(CHARSET_PARAMETER)) {
    if (!/^utf-?8$/i.test(charset ?? '')) refuseOverride(c, 'method_override_charset', 'unsupported_media_type')
  }
  return 'watch'
}

/** Whether a member or parameter name is one a framework reads a method override from (`_method`, any case). */
export function isMethodOverrideName(name: string): boolean {
  return name.toLowerCase() === '_method'
}

function refuseOverride(
  c: Context<AppEnv>,
  reason: string,
  code: 'method_override' | 'unsupported_media_type' = 'method_override',
): never {
  logRequest(c, { event: 'input_validation_fail', level: 'info', reason, outcome: 'denied' })
  throw new GatewayError(code)
}

/**
 * The route-policy table's public entry: the compiler (compile.ts) checks the table in `src/policies.ts` once per
 * isolate, the matcher (match.ts) answers "which policy governs this request?". A policy without `auth` requires
 * authentication, and the origin paths an entry rewrites to are reserved for that entry's policy.
 */

export { GATEWAY_OWNED_SEGMENTS } from '../routes/paths'
export { type CompiledRoutes, type CompileOptions, compileRoutes, type DefaultRoute, RouteTableError } from './compile'
export { matchPath, matchRoute, type RouteMatch, upstreamPath } from './match'
export {
  DEFAULT_POLICY,
  HTTP_METHODS,
  type HttpMethod,
  MAX_ROUTE_BODY_BYTES,
  type ResolvedPolicy,
  type RoutePolicy,
} from './policy'

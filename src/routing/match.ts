/**
 * The route-policy table's matcher: which policy of the compiled table governs a request, whether its origin path
 * is reserved for a rewriting entry, and which origin path and query the request is forwarded to. Deny by default:
 * a path in no pattern gets DEFAULT_POLICY or, with `default: 'deny'`, a 404.
 */
import type { CompiledEntry, CompiledRoutes } from './compile'
import { isGatewayOwned, patternMatches, type Specificity } from './patterns'
import { DEFAULT_POLICY, HTTP_METHODS, type ResolvedPolicy } from './policy'

export type RouteMatch =
  /** `via: 'default'` when no pattern matched (DEFAULT_POLICY). Equal `signature`s mean the same checks. */
  | {
      kind: 'route'
      policy: ResolvedPolicy
      via: Specificity | 'default'
      signature: string
      /** Another method on the same pattern has another policy: a method override could escalate. */
      splitByMethod: boolean
    }
  /** The most specific matching pattern does not list this method: answer 405 with `Allow`, never fall through. */
  | { kind: 'method_not_allowed'; allow: readonly string[] }
  /** A gateway-owned path (`/auth`, `/health`, `/metrics`, `/.well-known`): answer 404, never forward. */
  | { kind: 'gateway_owned' }
  /**
   * 404 at the edge: `unlisted` under `default: 'deny'`; `rewrite_target` when the path would reach an origin path
   * that a rewriting entry owns, under a policy other than that entry's.
   */
  | { kind: 'not_found'; reason: 'unlisted' | 'rewrite_target' }
  /** A path ending in `/` that its own entry and the wildcard over it would govern differently (see matchPath). */
  | { kind: 'ambiguous_trailing_slash' }

/**
 * The policy that governs `method` on the normalized path `key` (from `normalizePath`).
 *
 * Precedence: an exact pattern beats any `:param` pattern, which beats any wildcard. Among `:param` patterns (same
 * segment count), a literal segment beats a param at the first position where they differ
 * (`/api/users/me` > `/api/users/:id` > `/api/:kind/:id`). Among wildcards, the longer prefix wins, then the same
 * literal-before-param rule. The most specific matching pattern decides alone: if it does not list `method`, the
 * answer is `method_not_allowed`, never a less specific (possibly weaker) pattern.
 *
 * A path in no pattern gets DEFAULT_POLICY (`default: 'authenticated'`) or `not_found` (`default: 'deny'`). Either
 * way, a request whose origin path lies in the rewrite target of an entry (the origin's `/admin/*` for
 * `/api/admin/*` rewritten to `/admin`) is `not_found` unless it came through an entry with that entry's policy.
 *
 * @example
 * const m = matchRoute(compiled, normalized.key, c.req.method)
 * if (m.kind === 'gateway_owned' || m.kind === 'not_found') throw new GatewayError('not_found')
 * if (m.kind === 'method_not_allowed') throw new GatewayError('method_not_allowed', { headers: { allow: m.allow.join(', ') } })
 */
export function matchRoute(compiled: CompiledRoutes, key: string, method: string): RouteMatch {
  const parts = splitKey(key)
  if (isGatewayOwned(parts[0])) return { kind: 'gateway_owned' }
  const upper = method.toUpperCase()
  for (const group of compiled.groups) {
    if (!patternMatches(group, parts)) continue
    const entry = group.entries.find((e) => allows(e.methods, upper))
    if (entry === undefined) {
      const allow = new Set<string>()
      for (const e of group.entries) for (const m of e.methods ?? []) allow.add(m)
      return { kind: 'method_not_allowed', allow: HTTP_METHODS.filter((m) => allow.has(m)) }
    }
    if (reserved(compiled, originParts(entry, parts), upper, entry.signature)) {
      return { kind: 'not_found', reason: 'rewrite_target' }
    }
    return {
      kind: 'route',
      policy: entry.policy,
      via: group.specificity,
      signature: entry.signature,
      splitByMethod: group.splitByMethod,
    }
  }
  if (compiled.default === 'deny') return { kind: 'not_found', reason: 'unlisted' }
  if (reserved(compiled, parts, upper, undefined)) return { kind: 'not_found', reason: 'rewrite_target' }
  return {
    kind: 'route',
    policy: DEFAULT_POLICY,
    via: 'default',
    signature: compiled.defaultSignature,
    splitByMethod: false,
  }
}

/**
 * {@link matchRoute} for a normalized path. A path with a trailing slash is read two ways by origins: as its key
 * (Express without strict routing, Django's own `items/` views) and as a member of the subtree below it (nginx
 * prefix locations, Go's ServeMux `/items/`, Spring's `/items/**`). Both readings must lead to the same policy;
 * if they do not, the answer is `ambiguous_trailing_slash` (refuse), never the weaker of the two.
 *
 * @example
 * const m = matchPath(compiled, normalizePath('/api/files/'), 'GET') // `/api/files` public, `/api/files/*` scoped
 * // { kind: 'ambiguous_trailing_slash' }
 */
export function matchPath(
  compiled: CompiledRoutes,
  path: { key: string; trailingSlash: boolean },
  method: string,
): RouteMatch {
  const own = matchRoute(compiled, path.key, method)
  if (!path.trailingSlash) return own
  const subtree = matchRoute(compiled, `${path.key}/`, method)
  if (own.kind === 'route' && subtree.kind === 'route') {
    return own.signature === subtree.signature ? own : { kind: 'ambiguous_trailing_slash' }
  }
  return own.kind === subtree.kind ? own : { kind: 'ambiguous_trailing_slash' }
}

/**
 * Whether the origin path `origin` lies in a rewrite target that the request's policy (`signature`; undefined for
 * the default route, which equals no listed policy) does not own: no rewriting entry whose target holds the path
 * covers this method with the same policy. A target is reserved for every method, also ones no rewrite covers.
 */
function reserved(
  compiled: CompiledRoutes,
  origin: readonly string[],
  method: string,
  signature: string | undefined,
): boolean {
  let held = false
  for (const owner of compiled.rewriting) {
    if (!patternMatches(owner.region, origin)) continue
    if (allows(owner.methods, method) && owner.signature === signature) return false
    held = true
  }
  return held
}

/** The lower-cased origin path segments the entry forwards the request path `parts` to. */
function originParts(entry: CompiledEntry, parts: readonly string[]): readonly string[] {
  const rewrite = entry.policy.rewrite
  if (!entry.rewrites || rewrite === undefined) return parts
  const strip = rewrite.stripPrefix === undefined ? 0 : rewrite.stripPrefix.split('/').length - 1
  const add = rewrite.addPrefix === undefined ? [] : rewrite.addPrefix.toLowerCase().slice(1).split('/')
  return [...add, ...parts.slice(strip)]
}

const splitKey = (key: string) => (key === '/' ? [] : key.slice(1).split('/'))

/**
 * The path and query to request from the origin: the normalized `path` rewritten by the policy's `rewrite`
 * (`stripPrefix` removed case-insensitively at a segment boundary, then `addPrefix` prepended), followed by the
 * request's `search` unchanged.
 *
 * @example
 * upstreamPath({ rewrite: { stripPrefix: '/api', addPrefix: '/v2' } }, '/api/items/7', '?x=1') // '/v2/items/7?x=1'
 */
export function upstreamPath(policy: Pick<ResolvedPolicy, 'rewrite'>, path: string, search = ''): string {
  let rest = path
  const strip = policy.rewrite?.stripPrefix
  if (strip !== undefined) {
    const boundary = path.charAt(strip.length)
    if (path.toLowerCase().startsWith(strip.toLowerCase()) && (boundary === '' || boundary === '/')) {
      rest = path.slice(strip.length)
    }
  }
  const rewritten = `${policy.rewrite?.addPrefix ?? ''}${rest}` || '/'
  if (search !== '' && !search.startsWith('?')) throw new TypeError('upstreamPath: search must be "" or start with "?"')
  return `${rewritten}${search}`
}

function allows(methods: ReadonlySet<string> | undefined, method: string): boolean {
  return methods === undefined || methods.has(method)
}

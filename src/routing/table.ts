/**
 * The route-policy table's compiler and matcher. `src/policies.ts` holds the table; this module checks it once at
 * isolate start (every problem reported at once, with a fix) and answers "which policy governs this request?".
 * Deny by default: a policy without `auth` requires authentication; a path in no pattern gets DEFAULT_POLICY or,
 * with `default: 'deny'`, a 404. The origin paths an entry rewrites to are reserved for that entry's policy.
 */
import {
  comparePatterns,
  coversPrefix,
  isGatewayOwned,
  type Pattern,
  parsePattern,
  patternMatches,
  patternsOverlap,
  rewriteImage,
  type Specificity,
  targetRegion,
} from './patterns'
import {
  checkMethods,
  checkPolicy,
  DEFAULT_POLICY,
  HTTP_METHODS,
  isPrefix,
  isRewriteValid,
  KNOWN_FIELDS,
  type ResolvedPolicy,
  type RoutePolicy,
} from './policy'

export { GATEWAY_OWNED_SEGMENTS } from '../routes/paths'
export {
  DEFAULT_POLICY,
  HTTP_METHODS,
  type HttpMethod,
  MAX_ROUTE_BODY_BYTES,
  type ResolvedPolicy,
  type RoutePolicy,
} from './policy'

interface CompiledEntry {
  readonly methods: ReadonlySet<string> | undefined
  readonly policy: ResolvedPolicy
  /** The origin paths this entry forwards to: its pattern, moved by its rewrite. */
  readonly image: Pattern
  /** A rewriting entry's reserved origin tree: everything below its `addPrefix` (see targetRegion). */
  readonly region: Pattern
  readonly rewrites: boolean
  /** Entries with equal signatures enforce the same checks on a request. */
  readonly signature: string
}

interface PatternGroup extends Pattern {
  readonly entries: readonly CompiledEntry[]
  /** Its entries (one per set of methods) do not all have the same policy. */
  readonly splitByMethod: boolean
}

/**
 * What a path in no pattern gets. `authenticated`: {@link DEFAULT_POLICY} (a valid token, no scope), and the
 * origin decides which of its paths exist. `deny`: 404 at the edge, never forwarded, as schema-validating
 * gateways do; every path the origin serves must then be listed.
 */
export type DefaultRoute = 'authenticated' | 'deny'

export interface CompileOptions {
  /** @default 'authenticated' */
  default?: DefaultRoute
}

/** The checked table, in match order. Build it once per isolate with {@link compileRoutes}. */
export interface CompiledRoutes {
  readonly groups: readonly PatternGroup[]
  /** Entries with a rewrite: the origin paths they forward to are reserved for them. */
  readonly rewriting: readonly CompiledEntry[]
  readonly default: DefaultRoute
  readonly defaultSignature: string
}

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

/** Thrown by {@link compileRoutes}; `problems` holds one fix-it line per problem. */
export class RouteTableError extends Error {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`src/policies.ts: the route table has ${problems.length} problem(s):\n- ${problems.join('\n- ')}`)
    this.name = 'RouteTableError'
    this.problems = problems
  }
}
/**
 * Checks the route table and compiles it into match order. Throws one {@link RouteTableError} listing every
 * problem (pattern syntax, duplicate pattern+method, bad scopes, `public` with scopes, body limits, rewrite
 * prefixes, patterns under gateway-owned paths, unknown fields, and two entries that could forward the same origin
 * path under different policies). Messages name fields and patterns, never values that could be secret.
 *
 * @example
 * const compiled = compileRoutes(ROUTES, { default: 'deny' }) // at module scope: once per isolate
 */
export function compileRoutes(table: readonly RoutePolicy[], options: CompileOptions = {}): CompiledRoutes {
  const problems: string[] = []
  const defaultRoute = options.default ?? 'authenticated'
  if (defaultRoute !== 'authenticated' && defaultRoute !== 'deny') {
    problems.push('default must be "authenticated" or "deny"')
  }
  const groups = new Map<string, { pattern: Pattern; entries: CompiledEntry[] }>()
  const all: { entry: CompiledEntry; where: string }[] = []
  const signatures = new Signatures()

  table.forEach((entry, index) => {
    const where = `routes[${index}]${typeof entry?.pattern === 'string' ? ` (${JSON.stringify(entry.pattern)})` : ''}`
    const issue = (message: string) => problems.push(`${where}: ${message}`)
    const before = problems.length
    if (typeof entry !== 'object' || entry === null) {
      issue('must be an object like { pattern: "/api/x" }')
      return
    }

    for (const field of Object.keys(entry)) {
      if (!KNOWN_FIELDS.has(field)) issue(`unknown field "${field}"; known fields: ${[...KNOWN_FIELDS].join(', ')}`)
    }
    const pattern = parsePattern(entry.pattern, issue)
    const methods = checkMethods(entry, issue)
    checkPolicy(entry, issue)
    if (pattern === undefined) return
    const strip = entry.rewrite?.stripPrefix
    if (isPrefix(strip) && !coversPrefix(pattern, strip)) {
      issue('rewrite.stripPrefix must be a literal prefix of the pattern (whole segments), or it never applies')
    }

    const policy: ResolvedPolicy = Object.freeze({
      ...entry,
      auth: entry.auth ?? 'required',
      scopes: Object.freeze([...(entry.scopes ?? [])]),
      rateLimit: entry.rateLimit ?? 'default',
      ...(entry.forwardHeaders === undefined
        ? {}
        : { forwardHeaders: Object.freeze(entry.forwardHeaders.map((name) => name.toLowerCase())) }),
    })
    const rewrites = entry.rewrite !== undefined && isRewriteValid(entry.rewrite)
    const compiled: CompiledEntry = {
      methods,
      policy,
      image: rewrites ? rewriteImage(pattern, entry.rewrite ?? {}) : pattern,
      region: rewrites ? targetRegion(pattern, entry.rewrite ?? {}) : pattern,
      rewrites,
      signature: signatures.of(policy),
    }
    let group = groups.get(pattern.shape)
    if (group === undefined) {
      group = { pattern, entries: [] }
      groups.set(pattern.shape, group)
    }
    for (const other of group.entries) {
      const overlap = overlapping(methods, other.methods)
      if (overlap !== undefined) {
        issue(
          `duplicate: ${JSON.stringify(other.policy.pattern)} already covers ${overlap} on the same path shape; ` +
            'merge the entries or give them disjoint `methods`',
        )
      }
    }
    group.entries.push(compiled)
    // Only entries that are sound on their own take part in the checks across entries: a broken rewrite's image
    // would only add confusing follow-up problems.
    if (problems.length === before) all.push({ entry: compiled, where })
  })

  checkRewriteTargets(all, problems)
  if (problems.length > 0) throw new RouteTableError(problems)
  const ordered = [...groups.values()]
    .map(({ pattern, entries }) => ({
      ...pattern,
      entries,
      splitByMethod: new Set(entries.map((e) => e.signature)).size > 1,
    }))
    .sort(comparePatterns)
  return Object.freeze({
    groups: ordered,
    rewriting: all.map((a) => a.entry).filter((e) => e.rewrites),
    default: defaultRoute,
    defaultSignature: signatures.of(DEFAULT_POLICY),
  })
}

/**
 * A rewrite target belongs to the entry that rewrites to it: no other entry may forward to the same origin path
 * (for a shared method) under a different policy, or the origin's `/admin` tree could be reached around the
 * `/api/admin/*` entry that guards it.
 */
function checkRewriteTargets(all: readonly { entry: CompiledEntry; where: string }[], problems: string[]): void {
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      const a = all[i] as (typeof all)[number]
      const b = all[j] as (typeof all)[number]
      if (!a.entry.rewrites && !b.entry.rewrites) continue // identity entries: one client path per origin path
      if (a.entry.signature === b.entry.signature) continue
      // One pattern split by method (GET for readers, DELETE for admins) onto the same target is fine: the
      // duplicate check has made its methods disjoint, so each request still meets exactly one policy.
      const split = a.entry.policy.pattern === b.entry.policy.pattern && a.entry.image.shape === b.entry.image.shape
      if (split) continue
      // Two rewrites may share a tree (`/admin/users/*`, `/admin/reports/*`) if their images stay apart; any
      // other entry must stay out of a rewrite's whole tree.
      const both = a.entry.rewrites && b.entry.rewrites
      const areaA = both || !a.entry.rewrites ? a.entry.image : a.entry.region
      const areaB = both || !b.entry.rewrites ? b.entry.image : b.entry.region
      if (!patternsOverlap(areaA, areaB)) continue
      problems.push(
        `${a.where} and ${b.where} can both forward to the origin path ${(a.entry.rewrites ? areaB : areaA).shape} ` +
          '(after rewrites) under different policies; give them the same policy, or rewrite to separate origin paths',
      )
    }
  }
}

/** A stable id per distinct policy: equal ids mean the same checks (auth, scopes, limits, schema, options). */
class Signatures {
  readonly #objects = new Map<unknown, number>()

  of(policy: ResolvedPolicy): string {
    const { pattern: _pattern, methods: _methods, rewrite: _rewrite, ...checks } = policy
    return JSON.stringify(checks, (key, value) => {
      if ((key === 'scopes' || key === 'forwardHeaders') && Array.isArray(value)) return [...value].sort()
      if (key === 'schema') return this.#id(value)
      return value
    })
  }

  #id(value: unknown): number {
    let id = this.#objects.get(value)
    if (id === undefined) {
      id = this.#objects.size
      this.#objects.set(value, id)
    }
    return id
  }
}

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
function overlapping(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): string | undefined {
  if (a === undefined || b === undefined) return a === undefined && b === undefined ? 'every method' : 'some methods'
  const shared = [...a].filter((m) => b.has(m) && m !== 'HEAD')
  if (shared.length > 0) return shared.join(', ')
  return a.has('HEAD') && b.has('HEAD') ? 'HEAD' : undefined
}

function allows(methods: ReadonlySet<string> | undefined, method: string): boolean {
  return methods === undefined || methods.has(method)
}

/**
 * The route-policy table's compiler. `src/policies.ts` holds the table; this module checks it once at isolate
 * start, reporting every problem at once with a fix, and puts it in match order for match.ts. Checks across
 * entries keep an origin path that a rewrite forwards to from being reached under another policy.
 */
import {
  comparePatterns,
  coversPrefix,
  type Pattern,
  parsePattern,
  patternsOverlap,
  rewriteImage,
  targetRegion,
} from './patterns'
import {
  checkMethods,
  checkPolicy,
  DEFAULT_POLICY,
  isPrefix,
  isRewriteValid,
  KNOWN_FIELDS,
  type ResolvedPolicy,
  type RoutePolicy,
} from './policy'

/** One table entry, checked: what the matcher needs of it. */
export interface CompiledEntry {
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

/** The entries that share one path shape, in declaration order. */
export interface PatternGroup extends Pattern {
  readonly entries: readonly CompiledEntry[]
  /**
   * A request's method decides more than it does elsewhere: its entries (one per set of methods) do not all have the
   * same policy, or some methods get no entry (405), so a method override behind the gateway would reach a policy
   * (or a method) the request was not checked for.
   */
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
      splitByMethod: new Set(entries.map((e) => e.signature)).size > 1 || entries.every((e) => e.methods !== undefined),
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

/** The methods two entries on one path shape both cover, named for the duplicate message; undefined if none. */
function overlapping(a: ReadonlySet<string> | undefined, b: ReadonlySet<string> | undefined): string | undefined {
  if (a === undefined || b === undefined) return a === undefined && b === undefined ? 'every method' : 'some methods'
  const shared = [...a].filter((m) => b.has(m) && m !== 'HEAD')
  if (shared.length > 0) return shared.join(', ')
  return a.has('HEAD') && b.has('HEAD') ? 'HEAD' : undefined
}

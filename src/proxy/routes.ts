/**
 * The route-policy table's compiler and matcher. `src/policies.ts` holds the table; this module checks it once at
 * isolate start (every problem reported at once, with a fix) and answers "which policy governs this request?".
 * Deny by default: a policy without `auth` requires authentication, and a path in no pattern gets DEFAULT_POLICY.
 */
import type * as z from 'zod/mini'

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]

/** Largest `bodyLimitBytes` a route may declare: 100 MiB (the Workers request-body limit on the Free/Pro plans). */
export const MAX_ROUTE_BODY_BYTES = 100 * 1024 * 1024

/** First path segments the gateway answers itself. The proxy never serves them, whatever the table says. */
export const GATEWAY_OWNED_SEGMENTS = ['auth', 'health', 'metrics', '.well-known'] as const

/** One entry of the route table, as written in `src/policies.ts`. */
export interface RoutePolicy {
  /**
   * Matched case-insensitively against the normalized path key (see `normalizePath`):
   * `/api/items` exact; `/api/users/:id` one segment per `:param`; `/api/public/*` that path and everything below.
   */
  readonly pattern: string
  /** Methods this entry covers; omitted = all. Listing GET also covers HEAD. */
  readonly methods?: readonly HttpMethod[]
  /** @default 'required' (deny by default) */
  readonly auth?: 'required' | 'public'
  /** Every one of these scopes is required. Not allowed on a public route. */
  readonly scopes?: readonly string[]
  /** `strict` adds the per-IP auth rate-limit policy on top of the default one. @default 'default' */
  readonly rateLimit?: 'default' | 'strict'
  /** Body limit for this route in bytes (1 … 100 MiB); omitted = the gateway-wide limit. */
  readonly bodyLimitBytes?: number
  /** zod/mini schema for the JSON body (use `z.strictObject` at every level); validated before forwarding. */
  readonly schema?: z.ZodMiniType
  /** Upstream path rewrite: `stripPrefix` is removed (it must be a prefix of `pattern`), then `addPrefix` added. */
  readonly rewrite?: { readonly stripPrefix?: string; readonly addPrefix?: string }
}

/** A policy with its defaults filled in: what the pipeline reads. */
export interface ResolvedPolicy {
  readonly pattern: string
  readonly methods?: readonly HttpMethod[]
  readonly auth: 'required' | 'public'
  readonly scopes: readonly string[]
  readonly rateLimit: 'default' | 'strict'
  readonly bodyLimitBytes?: number
  readonly schema?: z.ZodMiniType
  readonly rewrite?: { readonly stripPrefix?: string; readonly addPrefix?: string }
}

/** What a path in no pattern gets: authentication required, no scope, the default rate limit, no rewrite. */
export const DEFAULT_POLICY: ResolvedPolicy = Object.freeze({
  pattern: '(default)',
  auth: 'required',
  scopes: Object.freeze([]) as readonly string[],
  rateLimit: 'default',
})

type Segment = { literal: string } | { param: string }
type Specificity = 'exact' | 'param' | 'wildcard'

interface PatternGroup {
  readonly shape: string
  readonly specificity: Specificity
  /** Without the trailing `*` for wildcards. */
  readonly segments: readonly Segment[]
  readonly entries: readonly { methods: ReadonlySet<string> | undefined; policy: ResolvedPolicy }[]
}

/** The checked table, in match order. Build it once per isolate with {@link compileRoutes}. */
export interface CompiledRoutes {
  readonly groups: readonly PatternGroup[]
}

export type RouteMatch =
  /** `via: 'default'` when no pattern matched (DEFAULT_POLICY). */
  | { kind: 'route'; policy: ResolvedPolicy; via: Specificity | 'default' }
  /** The most specific matching pattern does not list this method: answer 405 with `Allow`, never fall through. */
  | { kind: 'method_not_allowed'; allow: readonly string[] }
  /** A gateway-owned path (`/auth`, `/health`, `/metrics`, `/.well-known`): answer 404, never forward. */
  | { kind: 'gateway_owned' }

/** Thrown by {@link compileRoutes}; `problems` holds one fix-it line per problem. */
export class RouteTableError extends Error {
  readonly problems: readonly string[]
  constructor(problems: readonly string[]) {
    super(`src/policies.ts: the route table has ${problems.length} problem(s):\n- ${problems.join('\n- ')}`)
    this.name = 'RouteTableError'
    this.problems = problems
  }
}

const KNOWN_FIELDS = new Set([
  'pattern',
  'methods',
  'auth',
  'scopes',
  'rateLimit',
  'bodyLimitBytes',
  'schema',
  'rewrite',
])
const LITERAL_SEGMENT = /^[A-Za-z0-9._~-]+$/
const PARAM_SEGMENT = /^:[A-Za-z_][A-Za-z0-9_]*$/
/** RFC 6749 §3.3 scope-token: printable ASCII except space, `"` and `\`. */
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

/**
 * Checks the route table and compiles it into match order. Throws one {@link RouteTableError} listing every
 * problem (pattern syntax, duplicate pattern+method, bad scopes, `public` with scopes, body limits, rewrite
 * prefixes, patterns under gateway-owned paths, unknown fields). Messages name fields and patterns, never values
 * that could be secret.
 *
 * @example
 * const compiled = compileRoutes(ROUTES) // at module scope: once per isolate
 */
export function compileRoutes(table: readonly RoutePolicy[]): CompiledRoutes {
  const problems: string[] = []
  const groups = new Map<
    string,
    { specificity: Specificity; segments: Segment[]; entries: PatternGroup['entries'][number][] }
  >()

  table.forEach((entry, index) => {
    const where = `routes[${index}]${typeof entry?.pattern === 'string' ? ` (${JSON.stringify(entry.pattern)})` : ''}`
    const issue = (message: string) => problems.push(`${where}: ${message}`)
    if (typeof entry !== 'object' || entry === null) {
      issue('must be an object like { pattern: "/api/x" }')
      return
    }

    for (const field of Object.keys(entry)) {
      if (!KNOWN_FIELDS.has(field)) issue(`unknown field "${field}"; known fields: ${[...KNOWN_FIELDS].join(', ')}`)
    }
    const parsed = parsePattern(entry.pattern, issue)
    const methods = checkMethods(entry, issue)
    checkPolicy(entry, issue)
    if (parsed === undefined) return
    if (entry.rewrite?.stripPrefix !== undefined) checkStripPrefix(entry.rewrite.stripPrefix, parsed.segments, issue)

    const policy: ResolvedPolicy = Object.freeze({
      ...entry,
      auth: entry.auth ?? 'required',
      scopes: Object.freeze([...(entry.scopes ?? [])]),
      rateLimit: entry.rateLimit ?? 'default',
    })
    let group = groups.get(parsed.shape)
    if (group === undefined) {
      group = { specificity: parsed.specificity, segments: parsed.segments, entries: [] }
      groups.set(parsed.shape, group)
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
    group.entries.push({ methods, policy })
  })

  if (problems.length > 0) throw new RouteTableError(problems)
  const ordered = [...groups.entries()].map(([shape, g]) => ({ shape, ...g })).sort(compareGroups)
  return Object.freeze({ groups: ordered })
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
 * Unmatched paths get DEFAULT_POLICY (authenticated, no scope) rather than a 404: the origin stays the authority on
 * which of its paths exist, the table lists only exceptions (public, scoped, validated routes) and a forgotten entry
 * costs nothing in safety, since it still requires a valid access token; a 404 default would turn every omission
 * into an outage and push operators towards broad public wildcards. Give the origin its own authorization for data
 * that needs a scope, and list scoped prefixes as wildcards (`/api/admin/*`).
 *
 * @example
 * const m = matchRoute(compiled, normalized.key, c.req.method)
 * if (m.kind === 'gateway_owned') throw new GatewayError('not_found')
 * if (m.kind === 'method_not_allowed') throw new GatewayError('method_not_allowed', { headers: { allow: m.allow.join(', ') } })
 */
export function matchRoute(compiled: CompiledRoutes, key: string, method: string): RouteMatch {
  const parts = key === '/' ? [] : key.slice(1).split('/')
  if ((GATEWAY_OWNED_SEGMENTS as readonly string[]).includes(parts[0] ?? '')) return { kind: 'gateway_owned' }
  const upper = method.toUpperCase()
  for (const group of compiled.groups) {
    if (!groupMatches(group, parts)) continue
    const entry = group.entries.find((e) => allows(e.methods, upper))
    if (entry !== undefined) return { kind: 'route', policy: entry.policy, via: group.specificity }
    const allow = new Set<string>()
    for (const e of group.entries) for (const m of e.methods ?? []) allow.add(m)
    return { kind: 'method_not_allowed', allow: HTTP_METHODS.filter((m) => allow.has(m)) }
  }
  return { kind: 'route', policy: DEFAULT_POLICY, via: 'default' }
}

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

function parsePattern(
  pattern: unknown,
  issue: (message: string) => void,
): { shape: string; specificity: Specificity; segments: Segment[] } | undefined {
  if (typeof pattern !== 'string' || !pattern.startsWith('/')) {
    issue('pattern must be a string starting with "/", e.g. "/api/items"')
    return undefined
  }
  if (pattern === '/') return { shape: '/', specificity: 'exact', segments: [] }
  const raw = pattern.slice(1).split('/')
  const wildcard = raw.at(-1) === '*'
  if (wildcard) raw.pop()
  const segments: Segment[] = []
  const params = new Set<string>()
  let ok = true
  for (const part of raw) {
    if (PARAM_SEGMENT.test(part)) {
      if (params.has(part)) issue(`param ${part} appears twice; give each param its own name`)
      params.add(part)
      segments.push({ param: part.slice(1) })
    } else if (LITERAL_SEGMENT.test(part) && part !== '.' && part !== '..') {
      segments.push({ literal: part.toLowerCase() })
    } else {
      ok = false
      issue(
        `bad segment ${JSON.stringify(part)}: use letters, digits, "-", ".", "_", "~" (not "." or ".."), ` +
          'a ":param", or "*" as the last segment only; no empty segments, trailing "/", "?" or "%"',
      )
    }
  }
  if (!ok) return undefined
  const first = segments[0]
  if (
    first !== undefined &&
    'literal' in first &&
    (GATEWAY_OWNED_SEGMENTS as readonly string[]).includes(first.literal)
  ) {
    issue(
      `/${first.literal} belongs to the gateway (${GATEWAY_OWNED_SEGMENTS.map((s) => `/${s}`).join(', ')}); the proxy never serves it`,
    )
    return undefined
  }
  const shape = `/${segments.map((s) => ('literal' in s ? s.literal : ':')).join('/')}${wildcard ? '/*' : ''}`
  const specificity = wildcard ? 'wildcard' : params.size > 0 ? 'param' : 'exact'
  return { shape, specificity, segments }
}

function checkMethods(entry: RoutePolicy, issue: (message: string) => void): ReadonlySet<string> | undefined {
  if (entry.methods === undefined) return undefined
  if (!Array.isArray(entry.methods) || entry.methods.length === 0) {
    issue('methods must be a non-empty array such as ["GET", "POST"]; omit it to cover every method')
    return undefined
  }
  const methods = new Set<string>()
  for (const m of entry.methods) {
    if (!(HTTP_METHODS as readonly string[]).includes(m))
      issue(`unknown method ${JSON.stringify(m)}; use one of ${HTTP_METHODS.join(', ')}`)
    else if (methods.has(m)) issue(`method ${m} is listed twice`)
    methods.add(m)
  }
  if (methods.has('GET')) methods.add('HEAD')
  return methods
}

function checkPolicy(entry: RoutePolicy, issue: (message: string) => void): void {
  if (entry.auth !== undefined && entry.auth !== 'required' && entry.auth !== 'public') {
    issue('auth must be "required" or "public" (omit it for "required")')
  }
  if (entry.scopes !== undefined) {
    if (!Array.isArray(entry.scopes)) issue('scopes must be an array of scope names, e.g. ["admin"]')
    else {
      if (entry.scopes.length === 0) issue('scopes is empty; omit it, or list the required scopes')
      entry.scopes.forEach((scope, i) => {
        if (typeof scope !== 'string' || !SCOPE_TOKEN.test(scope)) {
          issue(`scopes[${i}] must be a non-empty scope name without whitespace, quotes or backslashes`)
        } else if (entry.scopes?.indexOf(scope) !== i) issue(`scopes[${i}] repeats an earlier scope`)
      })
      if (entry.auth === 'public') issue('a public route cannot require scopes; remove `scopes` or `auth: "public"`')
    }
  }
  if (entry.rateLimit !== undefined && entry.rateLimit !== 'default' && entry.rateLimit !== 'strict') {
    issue('rateLimit must be "default" or "strict"')
  }
  const limit = entry.bodyLimitBytes
  if (limit !== undefined && (!Number.isSafeInteger(limit) || limit < 1 || limit > MAX_ROUTE_BODY_BYTES)) {
    issue(`bodyLimitBytes must be an integer from 1 to ${MAX_ROUTE_BODY_BYTES} (100 MiB), e.g. 64 * 1024`)
  }
  if (entry.schema !== undefined) {
    if (typeof (entry.schema as { safeParse?: unknown }).safeParse !== 'function') {
      issue('schema must be a zod/mini schema, e.g. z.strictObject({ name: z.string() })')
    }
    if (entry.methods?.every((m) => m === 'GET' || m === 'HEAD' || m === 'OPTIONS')) {
      issue('schema validates a request body, but methods lists none that carries one; add POST/PUT/PATCH')
    }
  }
  if (entry.rewrite !== undefined) {
    const { stripPrefix, addPrefix, ...rest } = entry.rewrite
    for (const field of Object.keys(rest)) issue(`rewrite has unknown field "${field}"; known: stripPrefix, addPrefix`)
    for (const [name, prefix] of [
      ['stripPrefix', stripPrefix],
      ['addPrefix', addPrefix],
    ] as const) {
      if (prefix !== undefined && !isPrefix(prefix)) {
        issue(`rewrite.${name} must start with "/" and be literal segments without a trailing "/", e.g. "/api"`)
      }
    }
  }
}

function checkStripPrefix(prefix: string, segments: readonly Segment[], issue: (message: string) => void): void {
  if (!isPrefix(prefix)) return
  const parts = prefix.slice(1).split('/')
  const covered = parts.every((part, i) => {
    const s = segments[i]
    return s !== undefined && 'literal' in s && s.literal === part.toLowerCase()
  })
  if (!covered)
    issue('rewrite.stripPrefix must be a literal prefix of the pattern (whole segments), or it never applies')
}

function isPrefix(prefix: unknown): prefix is string {
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || prefix === '/') return false
  return prefix
    .slice(1)
    .split('/')
    .every((part) => LITERAL_SEGMENT.test(part) && part !== '.' && part !== '..')
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

function groupMatches(group: PatternGroup, parts: readonly string[]): boolean {
  if (
    group.specificity === 'wildcard' ? parts.length < group.segments.length : parts.length !== group.segments.length
  ) {
    return false
  }
  return group.segments.every((s, i) => !('literal' in s) || s.literal === parts[i])
}

const RANK: Record<Specificity, number> = { exact: 0, param: 1, wildcard: 2 }

function compareGroups(a: PatternGroup, b: PatternGroup): number {
  if (a.specificity !== b.specificity) return RANK[a.specificity] - RANK[b.specificity]
  if (a.specificity === 'wildcard' && a.segments.length !== b.segments.length) {
    return b.segments.length - a.segments.length
  }
  for (let i = 0; i < Math.min(a.segments.length, b.segments.length); i++) {
    const aLiteral = 'literal' in (a.segments[i] as Segment)
    const bLiteral = 'literal' in (b.segments[i] as Segment)
    if (aLiteral !== bLiteral) return aLiteral ? -1 : 1
  }
  return 0
}

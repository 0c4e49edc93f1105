/**
 * Route patterns as segment lists: parsing, matching a normalized path key, ordering by specificity, and the
 * questions the table compiler asks of two patterns (could one path match both?) and of a rewrite (which origin
 * paths can it produce?).
 */

import { GATEWAY_OWNED_SEGMENTS } from '../routes/paths'

export type Segment = { readonly literal: string } | { readonly param: string }
export type Specificity = 'exact' | 'param' | 'wildcard'

/** A parsed pattern; `segments` leaves out the trailing `*` of a wildcard. */
export interface Pattern {
  readonly shape: string
  readonly specificity: Specificity
  readonly segments: readonly Segment[]
}

export const LITERAL_SEGMENT = /^[A-Za-z0-9._~-]+$/
const PARAM_SEGMENT = /^:[A-Za-z_][A-Za-z0-9_]*$/

const isLiteral = (s: Segment | undefined): s is { literal: string } => s !== undefined && 'literal' in s

export function isGatewayOwned(firstSegment: string | undefined): boolean {
  return GATEWAY_OWNED_SEGMENTS.includes(firstSegment ?? '')
}

/** Parses `pattern`, reporting every problem through `issue`; undefined when it cannot be used. */
export function parsePattern(pattern: unknown, issue: (message: string) => void): Pattern | undefined {
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
    } else if (isLiteralSegment(part)) {
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
  if (isLiteral(first) && isGatewayOwned(first.literal)) {
    issue(
      `/${first.literal} belongs to the gateway (${GATEWAY_OWNED_SEGMENTS.map((s) => `/${s}`).join(', ')}); the proxy never serves it`,
    )
    return undefined
  }
  const specificity = wildcard ? 'wildcard' : params.size > 0 ? 'param' : 'exact'
  return { shape: shapeOf(segments, specificity), specificity, segments }
}

/** A literal path segment as the route table allows it (also in rewrite prefixes). */
export function isLiteralSegment(part: string): boolean {
  return LITERAL_SEGMENT.test(part) && part !== '.' && part !== '..' && !part.endsWith('.')
}

function shapeOf(segments: readonly Segment[], specificity: Specificity): string {
  const body = segments.map((s) => (isLiteral(s) ? s.literal : ':')).join('/')
  return `/${body}${specificity === 'wildcard' ? (segments.length > 0 ? '/*' : '*') : ''}`
}

/** Whether the split, lower-cased path `parts` matches the pattern (a wildcard also matches its bare prefix). */
export function patternMatches(pattern: Pattern, parts: readonly string[]): boolean {
  const { segments } = pattern
  if (pattern.specificity === 'wildcard' ? parts.length < segments.length : parts.length !== segments.length) {
    return false
  }
  // A param never matches an empty segment (the last one of a path with a trailing slash), as in most routers.
  return segments.every((s, i) => (isLiteral(s) ? s.literal === parts[i] : parts[i] !== ''))
}

/** Whether some path matches both patterns. */
export function patternsOverlap(a: Pattern, b: Pattern): boolean {
  const aOpen = a.specificity === 'wildcard'
  const bOpen = b.specificity === 'wildcard'
  const n = a.segments.length
  const m = b.segments.length
  if (!aOpen && !bOpen && n !== m) return false
  if (!aOpen && bOpen && n < m) return false
  if (aOpen && !bOpen && m < n) return false
  for (let i = 0; i < Math.min(n, m); i++) {
    const x = a.segments[i]
    const y = b.segments[i]
    if (isLiteral(x) && isLiteral(y) && x.literal !== y.literal) return false
  }
  return true
}

/**
 * The origin paths a pattern forwards to under a rewrite: the `stripPrefix` segments (a literal prefix of the
 * pattern, checked by the compiler) replaced by the `addPrefix` ones.
 */
export function rewriteImage(pattern: Pattern, rewrite: { stripPrefix?: string; addPrefix?: string }): Pattern {
  const split = (prefix: string | undefined) => (prefix === undefined ? [] : prefix.slice(1).split('/'))
  const stripped = split(rewrite.stripPrefix).length
  const segments: Segment[] = [
    ...split(rewrite.addPrefix).map((part) => ({ literal: part.toLowerCase() })),
    ...pattern.segments.slice(stripped),
  ]
  return { shape: shapeOf(segments, pattern.specificity), specificity: pattern.specificity, segments }
}

/**
 * The origin tree a rewrite points into, all of which is reserved for it: everything below `addPrefix`
 * (`/api/admin/users/:id` rewritten to `/admin` reserves `/admin/*`, not only `/admin/users/:id`), or, without
 * one, everything below the literal start of its image (`/v1/*` stripped of `/v1` reserves the whole origin).
 */
export function targetRegion(pattern: Pattern, rewrite: { stripPrefix?: string; addPrefix?: string }): Pattern {
  const image = rewriteImage(pattern, rewrite)
  const added = rewrite.addPrefix === undefined ? 0 : rewrite.addPrefix.slice(1).split('/').length
  const literal = image.segments.findIndex((s) => !isLiteral(s))
  const length = added > 0 ? added : literal === -1 ? image.segments.length : literal
  const segments = image.segments.slice(0, length)
  return { shape: shapeOf(segments, 'wildcard'), specificity: 'wildcard', segments }
}

/** Whether `prefix` (`/a/b`) is a literal, whole-segment prefix of the pattern. */
export function coversPrefix(pattern: Pattern, prefix: string): boolean {
  return prefix
    .slice(1)
    .split('/')
    .every((part, i) => {
      const s = pattern.segments[i]
      return isLiteral(s) && s.literal === part.toLowerCase()
    })
}

const RANK: Record<Specificity, number> = { exact: 0, param: 1, wildcard: 2 }

/**
 * Match order: exact before `:param` before wildcard; longer wildcard prefixes first; then, at the first
 * position where two patterns differ, a literal before a param (`/users/me` before `/users/:id`).
 */
export function comparePatterns(a: Pattern, b: Pattern): number {
  if (a.specificity !== b.specificity) return RANK[a.specificity] - RANK[b.specificity]
  if (a.specificity === 'wildcard' && a.segments.length !== b.segments.length) {
    return b.segments.length - a.segments.length
  }
  for (let i = 0; i < Math.min(a.segments.length, b.segments.length); i++) {
    const aLiteral = isLiteral(a.segments[i])
    const bLiteral = isLiteral(b.segments[i])
    if (aLiteral !== bLiteral) return aLiteral ? -1 : 1
  }
  return 0
}

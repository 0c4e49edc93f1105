/**
 * One entry of the route table: its fields, their defaults, and the checks each entry must pass on its own. The
 * checks that involve several entries (duplicates, rewrite targets) live with the compiler in `routes.ts`.
 */
import type * as z from 'zod/mini'
import { isScopeToken } from '../lib/scopes'
import { isForwardableHeaderName } from '../upstream/headers'
import { isLiteralSegment } from './patterns'

export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const
export type HttpMethod = (typeof HTTP_METHODS)[number]

/** Largest `bodyLimitBytes` a route may declare: 100 MiB (the Workers request-body limit on the Free/Pro plans). */
export const MAX_ROUTE_BODY_BYTES = 100 * 1024 * 1024

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
  /**
   * A circuit breaker of its own for this route (`[a-z0-9-]`, up to 32 characters): when the origin cannot be
   * reached for these paths (a separate backend behind the same host), only they fail fast. Omitted: the origin
   * host's breaker.
   */
  readonly breakerGroup?: string
  /**
   * Request headers this route forwards besides the standard ones (`FORWARDED_REQUEST_HEADERS`), e.g.
   * `['x-tenant-id']`; matched case-insensitively. Never `_` in a name, nor a header the gateway owns (identity,
   * forwarding, hop-by-hop, `authorization`, `x-gateway-*`, `cf-*`…).
   */
  readonly forwardHeaders?: readonly string[]
  /**
   * Accept a gzip- or deflate-compressed request body: the gateway inflates it as it streams, refuses it (413)
   * once the inflated bytes pass `maxBytes`, and forwards it uncompressed. Omitted: a request body with any
   * Content-Encoding is refused with 415. Not with `schema` (send validated JSON uncompressed).
   */
  readonly decompress?: { readonly maxBytes: number }
}

/** A policy with its defaults filled in: what the pipeline reads. */
export type ResolvedPolicy = RoutePolicy & Required<Pick<RoutePolicy, 'auth' | 'scopes' | 'rateLimit'>>

/** What a path in no pattern gets: authentication required, no scope, the default rate limit, no rewrite. */
export const DEFAULT_POLICY: ResolvedPolicy = Object.freeze({
  pattern: '(default)',
  auth: 'required',
  scopes: Object.freeze([]) as readonly string[],
  rateLimit: 'default',
})

const BREAKER_GROUP = /^[a-z0-9-]{1,32}$/

export const KNOWN_FIELDS = new Set([
  'pattern',
  'methods',
  'auth',
  'scopes',
  'rateLimit',
  'bodyLimitBytes',
  'schema',
  'rewrite',
  'breakerGroup',
  'decompress',
  'forwardHeaders',
])

export function checkMethods(entry: RoutePolicy, issue: (message: string) => void): ReadonlySet<string> | undefined {
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

export function checkPolicy(entry: RoutePolicy, issue: (message: string) => void): void {
  if (entry.auth !== undefined && entry.auth !== 'required' && entry.auth !== 'public') {
    issue('auth must be "required" or "public" (omit it for "required")')
  }
  if (entry.scopes !== undefined) {
    if (!Array.isArray(entry.scopes)) issue('scopes must be an array of scope names, e.g. ["admin"]')
    else {
      if (entry.scopes.length === 0) issue('scopes is empty; omit it, or list the required scopes')
      entry.scopes.forEach((scope, i) => {
        if (!isScopeToken(scope)) {
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
  if (entry.decompress !== undefined) {
    const { maxBytes, ...rest } = entry.decompress
    for (const field of Object.keys(rest)) issue(`decompress has unknown field "${field}"; known: maxBytes`)
    if (!Number.isSafeInteger(maxBytes) || maxBytes < 1 || maxBytes > MAX_ROUTE_BODY_BYTES) {
      issue(`decompress.maxBytes must be an integer from 1 to ${MAX_ROUTE_BODY_BYTES} (100 MiB), e.g. 1024 * 1024`)
    }
    if (entry.schema !== undefined) issue('decompress and schema do not go together: send validated JSON uncompressed')
  }
  if (entry.forwardHeaders !== undefined) {
    if (!Array.isArray(entry.forwardHeaders) || entry.forwardHeaders.length === 0) {
      issue('forwardHeaders must be a non-empty array of header names, e.g. ["x-tenant-id"]')
    } else {
      entry.forwardHeaders.forEach((name, i) => {
        const lower = typeof name === 'string' ? name.toLowerCase() : ''
        if (!isForwardableHeaderName(lower)) {
          issue(
            `forwardHeaders[${i}] must be a header name without "_" that the gateway does not own ` +
              '(not hop-by-hop, authorization, host, forwarding or identity headers, x-gateway-*, x-forwarded-*, cf-*)',
          )
        } else if (entry.forwardHeaders?.findIndex((other) => other.toLowerCase() === lower) !== i) {
          issue(`forwardHeaders[${i}] repeats an earlier name`)
        }
      })
    }
  }
  if (entry.breakerGroup !== undefined && !BREAKER_GROUP.test(entry.breakerGroup)) {
    issue('breakerGroup must be 1 to 32 characters of a-z, 0-9 and "-", e.g. "reports"')
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

export function isPrefix(prefix: unknown): prefix is string {
  if (typeof prefix !== 'string' || !prefix.startsWith('/') || prefix === '/') return false
  return prefix.slice(1).split('/').every(isLiteralSegment)
}

export function isRewriteValid(rewrite: NonNullable<RoutePolicy['rewrite']>): boolean {
  return (
    (rewrite.stripPrefix === undefined || isPrefix(rewrite.stripPrefix)) &&
    (rewrite.addPrefix === undefined || isPrefix(rewrite.addPrefix))
  )
}

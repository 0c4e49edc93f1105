/**
 * The route-policy table: which proxied paths are public, which need scopes, a strict rate limit, a body limit, a
 * JSON schema or a path rewrite. This is the one file to edit when the origin's API changes. The compiler
 * (`compileRoutes` in `src/routing/table.ts`) checks it when the isolate starts: a mistake fails the first request
 * with a list of fixes, never a silently weaker route.
 */
import * as z from 'zod/mini'
import type { DefaultRoute, RoutePolicy } from './routing/table'

/**
 * What a path listed nowhere gets. `authenticated`: any valid access token, no scope; the origin decides which of
 * its paths exist. `deny`: 404 at the edge, never forwarded; list every path the origin serves. The demo uses
 * `authenticated` because its echo upstream answers any path; for a real API, prefer `deny`.
 */
export const DEFAULT_ROUTE: DefaultRoute = 'authenticated'

/** Body of `POST /api/items`: strict at every level, so unknown fields are a 400, not silently forwarded. */
export const CreateItemBody = z.strictObject({
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  quantity: z.int().check(z.minimum(0), z.maximum(1_000_000)),
  tags: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(50))).check(z.maxLength(20))),
})

/**
 * Rules the compiler enforces:
 * - Deny by default: an entry without `auth` requires a valid access token. `/auth`, `/health`, `/metrics` and
 *   `/.well-known` belong to the gateway and cannot be listed.
 * - Precedence: exact > `:param` > wildcard (longer prefix first). The most specific pattern decides alone: a
 *   method it does not list is a 405, never a weaker entry.
 * - A rewrite target belongs to its entry: `/api/admin/*` rewritten to `/admin` reserves the origin's `/admin/*`.
 *   A request that would reach it another way (a direct `/admin/users/1` under the default route, or an entry
 *   with another policy) is a 404 that never touches the origin, and a table in which two entries could forward
 *   to the same origin path under different policies is refused.
 */
export const ROUTES = [
  // Anyone may read the public catalogue, without a token.
  { pattern: '/api/public/*', methods: ['GET'], auth: 'public' },
  // Administration: a token with the `admin` scope, the strict rate limit too, and the origin's `/admin` tree.
  {
    pattern: '/api/admin/*',
    scopes: ['admin'],
    rateLimit: 'strict',
    rewrite: { stripPrefix: '/api/admin', addPrefix: '/admin' },
  },
  // Items: any signed-in user reads; creating one needs `items:write` and a valid, small JSON body.
  { pattern: '/api/items', methods: ['GET'] },
  {
    pattern: '/api/items',
    methods: ['POST'],
    scopes: ['items:write'],
    bodyLimitBytes: 16 * 1024,
    schema: CreateItemBody,
  },
  { pattern: '/api/items/:id', methods: ['GET'] },
  { pattern: '/api/items/:id', methods: ['PUT', 'DELETE'], scopes: ['items:write'], bodyLimitBytes: 16 * 1024 },
] as const satisfies readonly RoutePolicy[]

/**
 * The route-policy table: which proxied paths are public, which need scopes, which get a strict rate limit, a
 * body limit, a JSON schema or a path rewrite. This is the one file to edit when the origin's API changes.
 *
 * Deny by default: an entry without `auth` requires a valid access token, and any path listed nowhere gets the
 * default policy (access token required, no scope). `/auth`, `/health`, `/metrics` and `/.well-known` belong to the
 * gateway and cannot be listed. The table is checked when the isolate starts (`compileRoutes`); a mistake fails
 * the deploy's first request with a list of fixes, never a silently weaker route. Precedence: exact > `:param` >
 * wildcard (longer prefix first); see `matchRoute` in `src/proxy/routes.ts`.
 *
 * The demo entries suit the echo upstream (`scripts/echo-upstream.ts`), which answers any path.
 */
import * as z from 'zod/mini'
import type { RoutePolicy } from './proxy/routes'

/** Body of `POST /api/items`: strict at every level, so unknown fields are a 400, not silently forwarded. */
export const CreateItemBody = z.strictObject({
  name: z.string().check(z.minLength(1), z.maxLength(200)),
  quantity: z.int().check(z.minimum(0), z.maximum(1_000_000)),
  tags: z.optional(z.array(z.string().check(z.minLength(1), z.maxLength(50))).check(z.maxLength(20))),
})

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

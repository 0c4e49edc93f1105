import { describe, expect, it } from 'vitest'
import * as z from 'zod/mini'
import { CreateItemBody, ROUTES } from '../policies'
import {
  compileRoutes,
  DEFAULT_POLICY,
  matchPath,
  matchRoute,
  type RouteMatch,
  type RoutePolicy,
  RouteTableError,
  upstreamPath,
} from './table'

function problemsOf(table: readonly unknown[]): readonly string[] {
  try {
    compileRoutes(table as RoutePolicy[])
  } catch (error) {
    if (error instanceof RouteTableError) return error.problems
    throw error
  }
  throw new Error('expected compileRoutes to throw')
}

const patternOf = (m: RouteMatch) => (m.kind === 'route' ? m.policy.pattern : m.kind)

describe('compileRoutes', () => {
  it('compiles the real table in src/policies.ts', () => {
    const compiled = compileRoutes(ROUTES)
    expect(matchRoute(compiled, '/api/public/catalogue', 'GET')).toMatchObject({
      kind: 'route',
      policy: { auth: 'public' },
    })
    expect(matchRoute(compiled, '/api/public/catalogue', 'POST')).toEqual({
      kind: 'method_not_allowed',
      allow: ['GET', 'HEAD'],
    })
    expect(matchRoute(compiled, '/api/admin/users', 'DELETE')).toMatchObject({
      kind: 'route',
      policy: { auth: 'required', scopes: ['admin'], rateLimit: 'strict' },
    })
    expect(matchRoute(compiled, '/api/items', 'POST')).toMatchObject({
      kind: 'route',
      policy: { scopes: ['items:write'], schema: CreateItemBody, bodyLimitBytes: 16384 },
    })
    expect(matchRoute(compiled, '/api/items', 'GET')).toMatchObject({ kind: 'route', policy: { scopes: [] } })
    expect(matchRoute(compiled, '/api/elsewhere', 'GET')).toMatchObject({
      kind: 'route',
      policy: DEFAULT_POLICY,
      via: 'default',
    })
  })

  it('fills deny-by-default values: auth required, no scopes, default rate limit', () => {
    const m = matchRoute(compileRoutes([{ pattern: '/x' }]), '/x', 'GET')
    expect(m).toMatchObject({
      kind: 'route',
      via: 'exact',
      policy: { auth: 'required', scopes: [], rateLimit: 'default' },
    })
    expect(DEFAULT_POLICY).toMatchObject({ auth: 'required', scopes: [], rateLimit: 'default' })
  })

  it('lists every problem at once, each with the entry and a fix', () => {
    const problems = problemsOf([
      { pattern: 'api/x' },
      { pattern: '/api/x/' },
      { pattern: '/api//x' },
      { pattern: '/api/*/x' },
      { pattern: '/api/x*' },
      { pattern: '/api/%41' },
      { pattern: '/api/../x' },
      { pattern: '/api/:id/:id' },
      { pattern: '/a', scopes: ['has space'] },
      { pattern: '/b', scopes: [''] },
      { pattern: '/c', scopes: [] },
      { pattern: '/d', scopes: ['x', 'x'] },
      { pattern: '/e', auth: 'public', scopes: ['admin'] },
      { pattern: '/f', bodyLimitBytes: 0 },
      { pattern: '/g', bodyLimitBytes: 100 * 1024 * 1024 + 1 },
      { pattern: '/h', bodyLimitBytes: 1.5 },
      { pattern: '/i/*', rewrite: { stripPrefix: 'i' } },
      { pattern: '/j/*', rewrite: { addPrefix: 'v2/' } },
      { pattern: '/k/*', rewrite: { stripPrefix: '/other' } },
      { pattern: '/auth/login' },
      { pattern: '/Health' },
      { pattern: '/metrics/*' },
      { pattern: '/.well-known/x' },
      { pattern: '/l', methods: [] },
      { pattern: '/m', methods: ['FETCH'] },
      { pattern: '/n', auth: 'optional' },
      { pattern: '/o', scope: ['admin'] },
      { pattern: '/p', methods: ['GET'], schema: z.strictObject({}) },
      { pattern: '/q', rateLimit: 'none' },
      { pattern: '/r', rewrite: { strip: '/r' } },
      { pattern: '/s', breakerGroup: 'Reports!' },
    ])
    expect(problems).toEqual([
      expect.stringMatching(/^routes\[0\] \("api\/x"\): pattern must be a string starting with "\/"/),
      expect.stringMatching(/^routes\[1\] .*bad segment ""/),
      expect.stringMatching(/^routes\[2\] .*bad segment ""/),
      expect.stringMatching(/^routes\[3\] .*bad segment "\*"/),
      expect.stringMatching(/^routes\[4\] .*bad segment "x\*"/),
      expect.stringMatching(/^routes\[5\] .*bad segment "%41"/),
      expect.stringMatching(/^routes\[6\] .*bad segment "\.\."/),
      expect.stringMatching(/^routes\[7\] .*param :id appears twice/),
      expect.stringMatching(/^routes\[8\] .*scopes\[0\] must be a non-empty scope name without whitespace/),
      expect.stringMatching(/^routes\[9\] .*scopes\[0\] must be a non-empty scope name/),
      expect.stringMatching(/^routes\[10\] .*scopes is empty/),
      expect.stringMatching(/^routes\[11\] .*scopes\[1\] repeats an earlier scope/),
      expect.stringMatching(/^routes\[12\] .*a public route cannot require scopes/),
      expect.stringMatching(/^routes\[13\] .*bodyLimitBytes must be an integer from 1 to 104857600/),
      expect.stringMatching(/^routes\[14\] .*bodyLimitBytes must be an integer/),
      expect.stringMatching(/^routes\[15\] .*bodyLimitBytes must be an integer/),
      expect.stringMatching(/^routes\[16\] .*rewrite.stripPrefix must start with "\/"/),
      expect.stringMatching(/^routes\[17\] .*rewrite.addPrefix must start with "\/"/),
      expect.stringMatching(/^routes\[18\] .*rewrite.stripPrefix must be a literal prefix of the pattern/),
      expect.stringMatching(/^routes\[19\] .*\/auth belongs to the gateway/),
      expect.stringMatching(/^routes\[20\] .*\/health belongs to the gateway/),
      expect.stringMatching(/^routes\[21\] .*\/metrics belongs to the gateway/),
      expect.stringMatching(/^routes\[22\] .*\/\.well-known belongs to the gateway/),
      expect.stringMatching(/^routes\[23\] .*methods must be a non-empty array/),
      expect.stringMatching(/^routes\[24\] .*unknown method "FETCH"/),
      expect.stringMatching(/^routes\[25\] .*auth must be "required" or "public"/),
      expect.stringMatching(/^routes\[26\] .*unknown field "scope"/),
      expect.stringMatching(/^routes\[27\] .*schema validates a request body, but methods lists none/),
      expect.stringMatching(/^routes\[28\] .*rateLimit must be "default" or "strict"/),
      expect.stringMatching(/^routes\[29\] .*rewrite has unknown field "strip"/),
      expect.stringMatching(/^routes\[30\] .*breakerGroup must be 1 to 32 characters/),
    ])
  })

  it('throws a RouteTableError whose message carries every problem', () => {
    expect(() => compileRoutes([{ pattern: '/auth' }, { pattern: '/x', bodyLimitBytes: -1 }])).toThrow(
      /the route table has 2 problem\(s\):\n- routes\[0\].*\n- routes\[1\]/,
    )
  })

  it.each<[string, RoutePolicy[], RegExp]>([
    ['the same pattern twice', [{ pattern: '/x' }, { pattern: '/x' }], /routes\[1\].*covers every method/],
    ['the same pattern in another case', [{ pattern: '/X' }, { pattern: '/x' }], /routes\[1\].*duplicate/],
    ['params with other names', [{ pattern: '/u/:id' }, { pattern: '/u/:userId' }], /routes\[1\].*duplicate/],
    [
      'overlapping methods',
      [
        { pattern: '/x', methods: ['GET', 'POST'] },
        { pattern: '/x', methods: ['POST'] },
      ],
      /routes\[1\].*covers POST/,
    ],
    [
      'all methods vs some',
      [{ pattern: '/x', methods: ['PUT'] }, { pattern: '/x' }],
      /routes\[1\].*covers some methods/,
    ],
    [
      'HEAD vs GET (GET covers HEAD)',
      [
        { pattern: '/x', methods: ['GET'] },
        { pattern: '/x', methods: ['HEAD'] },
      ],
      /covers HEAD/,
    ],
  ])('refuses a duplicate pattern+method: %s', (_name, table, message) => {
    const problems = problemsOf(table)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(message)
  })

  it('accepts one pattern split over disjoint methods', () => {
    expect(() =>
      compileRoutes([
        { pattern: '/x', methods: ['GET'] },
        { pattern: '/x', methods: ['POST', 'PUT'] },
      ]),
    ).not.toThrow()
  })

  it('names no field value other than the pattern in its messages', () => {
    const problems = problemsOf([
      { pattern: '/x', scopes: ['sk_live_SECRETISH VALUE'], rewrite: { addPrefix: 'sk_live_2' } },
    ])
    expect(problems.join('\n')).not.toMatch(/sk_live/)
  })
})

describe('matchRoute', () => {
  const compiled = compileRoutes([
    { pattern: '/api/*', auth: 'public' },
    { pattern: '/api/users/*', scopes: ['users'] },
    { pattern: '/api/users/:id', scopes: ['users:read'] },
    { pattern: '/api/users/me', scopes: ['self'] },
    { pattern: '/api/:kind/:id', scopes: ['generic'] },
    { pattern: '/api/users/:id/avatar', scopes: ['avatar'] },
    { pattern: '/api/:kind/settings', scopes: ['settings'] },
    { pattern: '/api/orders/:id', methods: ['GET'], scopes: ['orders:read'] },
    { pattern: '/api/orders/:id', methods: ['DELETE'], scopes: ['orders:admin'] },
    { pattern: '/files/:bucket/*', scopes: ['files'] },
    { pattern: '/', auth: 'public' },
  ])

  it.each([
    ['/api/users/me', 'GET', '/api/users/me'],
    ['/api/users/42', 'GET', '/api/users/:id'],
    ['/api/teams/42', 'GET', '/api/:kind/:id'],
    ['/api/users/settings', 'GET', '/api/users/:id'],
    ['/api/teams/settings', 'GET', '/api/:kind/settings'],
    ['/api/users/42/avatar', 'GET', '/api/users/:id/avatar'],
    ['/api/users/42/posts', 'GET', '/api/users/*'],
    ['/api/users', 'GET', '/api/users/*'],
    ['/api', 'GET', '/api/*'],
    ['/api/anything/at/all', 'GET', '/api/*'],
    ['/files/b1/a/b/c', 'GET', '/files/:bucket/*'],
    ['/files', 'GET', '(default)'],
    ['/', 'GET', '/'],
    ['/apix', 'GET', '(default)'],
    ['/other', 'POST', '(default)'],
  ])('%s %s → %s (exact > param, literal before param, longer wildcard prefix)', (key, method, pattern) => {
    expect(patternOf(matchRoute(compiled, key, method))).toBe(pattern)
  })

  it('reports how it matched', () => {
    expect(matchRoute(compiled, '/api/users/me', 'GET')).toMatchObject({ via: 'exact' })
    expect(matchRoute(compiled, '/api/users/1', 'GET')).toMatchObject({ via: 'param' })
    expect(matchRoute(compiled, '/api/x/y/z', 'GET')).toMatchObject({ via: 'wildcard' })
    expect(matchRoute(compiled, '/nowhere', 'GET')).toMatchObject({ via: 'default' })
  })

  it('picks the entry for the method on a split pattern, HEAD riding on GET', () => {
    expect(matchRoute(compiled, '/api/orders/7', 'GET')).toMatchObject({ policy: { scopes: ['orders:read'] } })
    expect(matchRoute(compiled, '/api/orders/7', 'head')).toMatchObject({ policy: { scopes: ['orders:read'] } })
    expect(matchRoute(compiled, '/api/orders/7', 'DELETE')).toMatchObject({ policy: { scopes: ['orders:admin'] } })
  })

  it('answers method_not_allowed instead of falling through to a weaker pattern or the default', () => {
    // /api/:kind/:id and the public /api/* would both match the path: neither may take over.
    expect(matchRoute(compiled, '/api/orders/7', 'POST')).toEqual({
      kind: 'method_not_allowed',
      allow: ['GET', 'HEAD', 'DELETE'],
    })
  })

  it.each(['/auth', '/auth/login', '/health', '/metrics', '/.well-known/jwks.json', '/openapi.json'])(
    'never serves the gateway-owned %s, even under a catch-all',
    (key) => {
      const catchAll = compileRoutes([
        { pattern: '/*', auth: 'public' },
        { pattern: '/:first/x', auth: 'public' },
      ])
      expect(matchRoute(catchAll, key, 'GET')).toEqual({ kind: 'gateway_owned' })
    },
  )
})

describe('upstreamPath', () => {
  it.each<[RoutePolicy['rewrite'], string, string, string]>([
    [undefined, '/api/items', '', '/api/items'],
    [undefined, '/api/items', '?a=1&b=%20', '/api/items?a=1&b=%20'],
    [{ stripPrefix: '/api' }, '/api/items/7', '?x=1', '/items/7?x=1'],
    [{ stripPrefix: '/api' }, '/API/items', '', '/items'],
    [{ stripPrefix: '/api' }, '/api', '', '/'],
    [{ stripPrefix: '/api' }, '/api/', '', '/'],
    [{ stripPrefix: '/api' }, '/apix/items', '', '/apix/items'],
    [{ addPrefix: '/v2' }, '/items', '', '/v2/items'],
    [{ stripPrefix: '/api/admin', addPrefix: '/admin' }, '/api/admin/users', '?q', '/admin/users?q'],
    [{ stripPrefix: '/api', addPrefix: '/v2' }, '/api', '', '/v2'],
  ])('%o: %s%s → %s', (rewrite, path, search, expected) => {
    expect(upstreamPath(rewrite === undefined ? {} : { rewrite }, path, search)).toBe(expected)
  })

  it('refuses a search that is not a query string', () => {
    expect(() => upstreamPath({}, '/x', 'a=1')).toThrow(TypeError)
  })
})

describe('rewrite targets belong to their entry', () => {
  const admin: RoutePolicy = {
    pattern: '/api/admin/*',
    scopes: ['admin'],
    rewrite: { stripPrefix: '/api/admin', addPrefix: '/admin' },
  }

  it.each([
    ['/admin/users/1', 'GET'],
    ['/admin/users/1', 'DELETE'],
    ['/admin', 'GET'],
    ['/admin/x/y/z', 'POST'],
  ])(
    'the real table reserves the origin path %s (%s) for /api/admin/*: 404, never the default policy',
    (key, method) => {
      expect(matchRoute(compileRoutes(ROUTES), key, method)).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
    },
  )

  it('still serves the rewriting entry itself and paths beside its target', () => {
    const compiled = compileRoutes([admin])
    expect(matchRoute(compiled, '/api/admin/users/1', 'DELETE')).toMatchObject({ kind: 'route', via: 'wildcard' })
    expect(patternOf(matchRoute(compiled, '/administrator', 'GET'))).toBe('(default)')
    expect(patternOf(matchRoute(compiled, '/api/adminx/1', 'GET'))).toBe('(default)')
  })

  it('reserves the target from a listed entry with another policy (refused) and serves it under the same policy', () => {
    expect(problemsOf([admin, { pattern: '/admin/status', auth: 'public' }])).toEqual([
      expect.stringMatching(
        /^routes\[0\] \("\/api\/admin\/\*"\) and routes\[1\] \("\/admin\/status"\) can both forward to the origin path \/admin\/status .*different policies/,
      ),
    ])
    // The same checks on both spellings: the origin's /admin/status is reachable either way, under one policy.
    const same = compileRoutes([admin, { pattern: '/admin/status', methods: ['GET'], scopes: ['admin'] }])
    expect(patternOf(matchRoute(same, '/admin/status', 'GET'))).toBe('/admin/status')
    // A method the direct entry does not list is 405 by precedence, never the default.
    expect(matchRoute(same, '/admin/status', 'DELETE')).toMatchObject({ kind: 'method_not_allowed' })
    expect(matchRoute(same, '/admin/other', 'GET')).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
  })

  it.each<[string, RoutePolicy[]]>([
    [
      'two rewrites onto one target',
      [admin, { pattern: '/internal/*', rewrite: { stripPrefix: '/internal', addPrefix: '/admin' } }],
    ],
    ['a rewrite onto the root that covers the target', [admin, { pattern: '/v1/*', rewrite: { stripPrefix: '/v1' } }]],
    [
      'a param entry whose rewrite lands in the target',
      [admin, { pattern: '/u/:id', auth: 'public', rewrite: { stripPrefix: '/u', addPrefix: '/admin' } }],
    ],
    ['a wildcard entry over the target', [admin, { pattern: '/*', auth: 'public' }]],
    [
      'the same target with a different body limit',
      [
        admin,
        {
          ...admin,
          pattern: '/api/root/*',
          rewrite: { stripPrefix: '/api/root', addPrefix: '/admin' },
          bodyLimitBytes: 5,
        },
      ],
    ],
  ])('refuses %s under another policy', (_name, table) => {
    const problems = problemsOf(table)
    expect(problems).toHaveLength(1)
    expect(problems[0]).toMatch(/can both forward to the origin path .* under different policies/)
  })

  it('accepts one pattern split by method onto one target, each method under its own policy', () => {
    const compiled = compileRoutes([
      { ...admin, methods: ['GET'], scopes: ['admin:read'] },
      { ...admin, methods: ['DELETE'], scopes: ['admin:write'] },
    ])
    expect(matchRoute(compiled, '/api/admin/u', 'GET')).toMatchObject({ policy: { scopes: ['admin:read'] } })
    expect(matchRoute(compiled, '/api/admin/u', 'DELETE')).toMatchObject({ policy: { scopes: ['admin:write'] } })
    // The target stays reserved for every method, also those no entry rewrites.
    for (const method of ['GET', 'DELETE', 'PUT']) {
      expect(matchRoute(compiled, '/admin/u', method)).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
    }
  })

  it('accepts two entries onto one target under the same policy, scopes in any order', () => {
    const compiled = compileRoutes([
      { ...admin, scopes: ['a', 'b'] },
      { pattern: '/legacy/*', scopes: ['b', 'a'], rewrite: { stripPrefix: '/legacy', addPrefix: '/admin' } },
    ])
    expect(matchRoute(compiled, '/legacy/x', 'GET')).toMatchObject({ kind: 'route' })
  })

  it('reserves the whole origin for a rewrite onto the root, while listed identity entries with its policy stay', () => {
    const compiled = compileRoutes([{ pattern: '/v1/*', scopes: ['api'], rewrite: { stripPrefix: '/v1' } }])
    expect(matchRoute(compiled, '/v1/items', 'GET')).toMatchObject({ kind: 'route' })
    expect(matchRoute(compiled, '/items', 'GET')).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
    expect(matchRoute(compiled, '/', 'GET')).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
  })
})

describe("default: 'deny'", () => {
  const compiled = compileRoutes(
    [
      { pattern: '/api/items', methods: ['GET'] },
      { pattern: '/api/public/*', auth: 'public' },
    ],
    {
      default: 'deny',
    },
  )

  it('answers not_found for a path in no entry, and routes listed ones as before', () => {
    expect(matchRoute(compiled, '/api/other', 'GET')).toEqual({ kind: 'not_found', reason: 'unlisted' })
    expect(matchRoute(compiled, '/', 'GET')).toEqual({ kind: 'not_found', reason: 'unlisted' })
    expect(patternOf(matchRoute(compiled, '/api/items', 'GET'))).toBe('/api/items')
    expect(matchRoute(compiled, '/api/items', 'POST')).toMatchObject({ kind: 'method_not_allowed' })
    expect(matchRoute(compiled, '/auth/login', 'POST')).toEqual({ kind: 'gateway_owned' })
  })

  it('refuses an unknown default', () => {
    expect(() => compileRoutes([], { default: 'allow' as 'deny' })).toThrow(/default must be "authenticated" or "deny"/)
  })
})

describe('decompress', () => {
  it('accepts an inflated-size limit and refuses a bad one, or one next to a schema', () => {
    expect(() => compileRoutes([{ pattern: '/up', decompress: { maxBytes: 1024 } }])).not.toThrow()
    expect(
      problemsOf([
        { pattern: '/a', decompress: { maxBytes: 0 } },
        { pattern: '/b', decompress: { maxBytes: 100 * 1024 * 1024 + 1 } },
        { pattern: '/c', decompress: { maxBytes: 10, ratio: 5 } as unknown as { maxBytes: number } },
        { pattern: '/d', methods: ['POST'], decompress: { maxBytes: 10 }, schema: z.strictObject({}) },
      ]),
    ).toEqual([
      expect.stringMatching(/^routes\[0\] .*decompress.maxBytes must be an integer/),
      expect.stringMatching(/^routes\[1\] .*decompress.maxBytes must be an integer/),
      expect.stringMatching(/^routes\[2\] .*decompress has unknown field "ratio"/),
      expect.stringMatching(/^routes\[3\] .*decompress and schema do not go together/),
    ])
  })
})

describe('forwardHeaders', () => {
  it('lower-cases the names and refuses names the gateway owns, with "_", or repeated', () => {
    const compiled = compileRoutes([{ pattern: '/t', forwardHeaders: ['X-Tenant-Id'] }])
    expect(matchRoute(compiled, '/t', 'GET')).toMatchObject({ policy: { forwardHeaders: ['x-tenant-id'] } })
    expect(
      problemsOf([
        { pattern: '/a', forwardHeaders: ['x_tenant'] },
        { pattern: '/b', forwardHeaders: ['Authorization'] },
        { pattern: '/c', forwardHeaders: ['x-forwarded-user'] },
        { pattern: '/d', forwardHeaders: ['x-t', 'X-T'] },
        { pattern: '/e', forwardHeaders: [] },
      ]),
    ).toEqual([
      expect.stringMatching(/^routes\[0\] .*forwardHeaders\[0\] must be a header name without "_"/),
      expect.stringMatching(/^routes\[1\] .*forwardHeaders\[0\] must be a header name/),
      expect.stringMatching(/^routes\[2\] .*forwardHeaders\[0\] must be a header name/),
      expect.stringMatching(/^routes\[3\] .*forwardHeaders\[1\] repeats an earlier name/),
      expect.stringMatching(/^routes\[4\] .*forwardHeaders must be a non-empty array/),
    ])
  })
})

describe('matchPath: a trailing slash must not choose the weaker of two readings', () => {
  const path = (key: string, trailingSlash: boolean) => ({ key, trailingSlash })
  const files = compileRoutes([
    { pattern: '/api/files', methods: ['GET'], auth: 'public' },
    { pattern: '/api/files/*', scopes: ['files:read'] },
    { pattern: '/api/users/:id', auth: 'public' },
    { pattern: '/api/users/:id/*', scopes: ['users:read'] },
    { pattern: '/api/same', scopes: ['s'] },
    { pattern: '/api/same/*', scopes: ['s'] },
    { pattern: '/api/lone', methods: ['GET'] },
  ])

  it.each([
    ['/api/files', 'GET'],
    ['/api/users/7', 'GET'],
  ])('refuses %s/ when the entry and the wildcard below it disagree', (key, method) => {
    expect(matchPath(files, path(key, true), method)).toEqual({ kind: 'ambiguous_trailing_slash' })
    expect(matchPath(files, path(key, false), method)).toMatchObject({ kind: 'route', policy: { auth: 'public' } })
  })

  it('serves the slash when both readings agree, or nothing lies below (the default policy is the same checks)', () => {
    expect(matchPath(files, path('/api/same', true), 'GET')).toMatchObject({ kind: 'route', policy: { scopes: ['s'] } })
    expect(matchPath(files, path('/api/lone', true), 'GET')).toMatchObject({ kind: 'route', via: 'exact' })
    expect(matchPath(files, path('/api/files/x', true), 'GET')).toMatchObject({ policy: { scopes: ['files:read'] } })
  })

  it('refuses a slash whose own entry is 405 while the subtree would serve it', () => {
    expect(matchPath(files, path('/api/files', true), 'DELETE')).toEqual({ kind: 'ambiguous_trailing_slash' })
  })

  it('never lets a param match the empty segment after the slash', () => {
    const params = compileRoutes([{ pattern: '/api/users/:id', auth: 'public' }])
    expect(matchRoute(params, '/api/users/', 'GET')).toMatchObject({ via: 'default' })
  })
})

describe('a rewrite reserves its whole origin tree', () => {
  const narrow: RoutePolicy = {
    pattern: '/api/admin/users/:id',
    scopes: ['admin'],
    rewrite: { stripPrefix: '/api/admin', addPrefix: '/admin' },
  }

  it.each(['/admin/users/1', '/admin/users/1/roles', '/admin/settings', '/admin'])(
    'reserves %s below addPrefix, not only the image',
    (key) => {
      expect(matchRoute(compileRoutes([narrow]), key, 'GET')).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
    },
  )

  it('lets two rewrites share a tree when their images stay apart, and refuses another entry inside it', () => {
    const reports: RoutePolicy = {
      pattern: '/api/admin/reports/*',
      scopes: ['reports'],
      rewrite: { stripPrefix: '/api/admin', addPrefix: '/admin' },
    }
    expect(() => compileRoutes([narrow, reports])).not.toThrow()
    expect(problemsOf([narrow, { pattern: '/admin/settings', auth: 'public' }])).toEqual([
      expect.stringMatching(/can both forward to the origin path \/admin\/settings/),
    ])
  })

  it('reserves below the literal start of the image when there is no addPrefix', () => {
    const compiled = compileRoutes([
      { pattern: '/api/v2/users/:id', scopes: ['u'], rewrite: { stripPrefix: '/api/v2' } },
    ])
    expect(matchRoute(compiled, '/users/7/keys', 'GET')).toEqual({ kind: 'not_found', reason: 'rewrite_target' })
    expect(patternOf(matchRoute(compiled, '/teams/7', 'GET'))).toBe('(default)')
  })
})

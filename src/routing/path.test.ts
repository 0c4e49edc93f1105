import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { MAX_PATH_BYTES, normalizePath, normalizePathByRules, PATH_REFUSALS, type PathRejection } from './path'
import { compileRoutes, matchRoute, type RoutePolicy } from './table'

/** What the request line would give the gateway: `new URL(...).pathname`, still percent-encoded. */
const pathnameOf = (raw: string) => new URL(`https://gw.example${raw}`).pathname

/** One or more spellings for every row of PATH_REFUSALS (checked below). */
const REFUSED: [string, PathRejection][] = [
  ['/public/%2E%2E%2Fadmin', 'encoded_slash'],
  ['/a%2fb', 'encoded_slash'],
  ['/admin%3Bx/users', 'path_parameter'],
  ['/admin%3bx', 'path_parameter'],
  ['/admin;x', 'path_parameter'],
  ['/api/admin;jsessionid=1/users', 'path_parameter'],
  ['/public/..;/admin', 'path_parameter'],
  ['/public/.;x/admin', 'path_parameter'],
  ['/api/admin..;/x', 'path_parameter'],
  ['/a%5cb', 'backslash'],
  ['/a\\b', 'backslash'],
  ['/a%00b', 'control_character'],
  ['/a%0Ab', 'control_character'],
  ['/a%0d', 'control_character'],
  ['/a%7F', 'control_character'],
  ['/a%09', 'control_character'],
  ['/admin%C2%85/users', 'control_character'],
  ['/a%C2%80b', 'control_character'],
  ['/a%C2%9Fb', 'control_character'],
  ['/a\u0000b', 'control_character'],
  ['/a\tb', 'control_character'],
  ['/a%', 'invalid_percent_encoding'],
  ['/a%2', 'invalid_percent_encoding'],
  ['/a%zz', 'invalid_percent_encoding'],
  ['/a%%41', 'invalid_percent_encoding'],
  ['/..', 'above_root'],
  ['/public/../../admin', 'above_root'],
  ['/a/%252e%252e/admin', 'double_encoding'],
  ['/public/%2e%2e/admin', 'encoded_dot'],
  ['/public/.%2e/admin', 'encoded_dot'],
  ['/%2e/admin', 'encoded_dot'],
  ['/api/admin%2e/x', 'encoded_dot'],
  ['/api/admin%2E/x', 'encoded_dot'],
  ['/a/file%2Ejson', 'encoded_dot'],
  ['/api/admin./x', 'trailing_dot'],
  ['/api/admin../x', 'trailing_dot'],
  ['/a/...', 'trailing_dot'],
  ['/api/admin%20/x', 'edge_whitespace'],
  ['/api/%20admin/x', 'edge_whitespace'],
  ['/api/admin%C2%A0/x', 'edge_whitespace'],
  ['/api/admin%E3%80%80/x', 'edge_whitespace'],
  ['/api/adm%C4%B1n/x', 'ascii_lookalike'],
  ['/api/%EF%BD%81dmin/x', 'ascii_lookalike'],
  ['/api/public%EF%BC%8F..%EF%BC%8Fadmin', 'ascii_lookalike'],
  ['/api/a%C2%A0b', 'ascii_lookalike'],
  ['/api/%E2%84%AAey', 'ascii_lookalike'],
  ['/admin%E2%88%95users', 'ascii_lookalike'],
  ['/public%E2%81%84..%E2%81%84admin', 'ascii_lookalike'],
  ['/admin%E3%80%82/x', 'ascii_lookalike'],
  ['/adm%E2%80%8Bin', 'invisible_character'],
  ['/admin%E2%80%AE', 'invisible_character'],
  ['/adm%C2%ADin', 'invisible_character'],
  ['/ad%EF%BB%BFmin', 'invisible_character'],
  ['/%EF%BB%BFadmin', 'edge_whitespace'],
  ['/admini~1/users', 'windows_short_name'],
  ['/PROGRA~1', 'windows_short_name'],
  ['/api/admin%C0%AE/x', 'invalid_utf8'],
  ['/api/%C0%AE%C0%AE/admin', 'invalid_utf8'],
  ['/api/%E0%80%AE/x', 'invalid_utf8'],
  ['/api/%C0%AF/x', 'invalid_utf8'],
  ['/api/%ED%A0%80/x', 'invalid_utf8'],
  ['/api/%FF/x', 'invalid_utf8'],
  ['/a?b', 'invalid_character'],
  ['/a#b', 'invalid_character'],
  ['api/items', 'not_absolute'],
  ['', 'not_absolute'],
  [`/${'a'.repeat(MAX_PATH_BYTES)}`, 'too_long'],
]

describe('normalizePath', () => {
  it.each([
    ['/', '/', '/'],
    ['/api/items', '/api/items', '/api/items'],
    ['/AUTH/login', '/AUTH/login', '/auth/login'],
    ['/auth/login/', '/auth/login/', '/auth/login'],
    ['/auth/%6Cogin', '/auth/login', '/auth/login'],
    ['/auth/%6cogin', '/auth/login', '/auth/login'],
    ['//auth/login', '/auth/login', '/auth/login'],
    ['/auth//login', '/auth/login', '/auth/login'],
    ['/public/../admin', '/admin', '/admin'],
    ['/./admin', '/admin', '/admin'],
    ['/a/b/..', '/a/', '/a'],
    ['/a/b/.', '/a/b/', '/a/b'],
    ['/a/..', '/', '/'],
    ['/Api/Items/%7e', '/Api/Items/~', '/api/items/~'],
    ['/a/%3a', '/a/%3A', '/a/%3a'],
    ['/a/%c3%a9', '/a/%C3%A9', '/a/%c3%a9'],
    ['/a/b%20c', '/a/b%20c', '/a/b%20c'],
    ['/a/v1.2/x', '/a/v1.2/x', '/a/v1.2/x'],
    ['/a/.well', '/a/.well', '/a/.well'],
    ['/a/%25', '/a/%25', '/a/%25'],
  ])('%s → path %s, key %s', (raw, path, key) => {
    expect(normalizePath(raw)).toEqual({ ok: true, path, key, trailingSlash: path !== '/' && path.endsWith('/') })
  })

  it('escapes raw characters outside pchar and non-ASCII text', () => {
    expect(normalizePath('/a b/é|^[x]')).toEqual({
      ok: true,
      path: '/a%20b/%C3%A9%7C%5E%5Bx%5D',
      key: '/a%20b/%c3%a9%7c%5e%5bx%5d',
      trailingSlash: false,
    })
  })

  it.each(REFUSED)('refuses %j (%s)', (raw, reason) => {
    expect(normalizePath(raw)).toEqual({ ok: false, reason })
  })

  it('has a refused example for every row of the refusal table', () => {
    const exercised = new Set(REFUSED.map(([, reason]) => reason))
    expect(PATH_REFUSALS.map((row) => row.reason).filter((reason) => !exercised.has(reason))).toEqual([])
  })

  it('accepts a path of exactly MAX_PATH_BYTES and refuses one that grows past it when escaped', () => {
    expect(normalizePath(`/${'a'.repeat(MAX_PATH_BYTES - 1)}`).ok).toBe(true)
    expect(normalizePath(`/${'|'.repeat(MAX_PATH_BYTES - 1)}`)).toEqual({ ok: false, reason: 'too_long' })
  })

  it('is idempotent: normalizing a normalized path changes nothing', () => {
    for (const raw of ['//A/./b/../C%7e/', '/x/%c3%a9/p=1/y', '/a%20b/%3A']) {
      const once = normalizePath(raw)
      if (!once.ok) throw new Error(`expected ${raw} to normalize`)
      expect(normalizePath(once.path)).toEqual(once)
    }
  })

  it('agrees with what the URL parser hands the gateway (dot segments pre-resolved, escapes kept)', () => {
    expect(pathnameOf('/public/%2e%2e/admin')).toBe('/admin') // WHATWG resolves encoded dots itself
    expect(normalizePath(pathnameOf('/AUTH/%6Cogin/'))).toEqual({
      ok: true,
      path: '/AUTH/login/',
      key: '/auth/login',
      trailingSlash: true,
    })
    expect(normalizePath(pathnameOf('/a\\..\\admin'))).toEqual({
      ok: true,
      path: '/admin',
      key: '/admin',
      trailingSlash: false,
    })
  })
})

describe('the shortcut for plain paths', () => {
  // Plain characters, and every character a rule or the canonical form looks at.
  const chars = [...'aZ09-_', ...'/.~;%2eE5cC', ...'\\ ?#\u00e9\u0131\u200b']
  const pathOf = (alphabet: string[]) =>
    fc.array(fc.constantFrom(...alphabet), { maxLength: 40 }).map((cs) => `/${cs.join('')}`)
  // Half of them take the shortcut (or just miss it: an empty segment), half need the rules.
  const paths = fc.oneof(pathOf([...'aZ09-_/']), pathOf(chars))

  it('gives what the rules give, for any path', () => {
    fc.assert(
      fc.property(paths, (raw) => {
        expect(normalizePath(raw)).toEqual(normalizePathByRules(raw))
      }),
      { numRuns: 3000 },
    )
  })

  it.each([
    ['/api/Items/42', { ok: true, path: '/api/Items/42', key: '/api/items/42', trailingSlash: false }],
    ['/api/items/', { ok: true, path: '/api/items/', key: '/api/items', trailingSlash: true }],
    [`/${'a'.repeat(MAX_PATH_BYTES)}`, { ok: false, reason: 'too_long' }],
  ])('%s', (raw, expected) => {
    expect(normalizePath(raw)).toEqual(expected)
    expect(normalizePathByRules(raw)).toEqual(expected)
  })
})

describe('bypass spellings cannot reach a weaker policy', () => {
  const table: RoutePolicy[] = [
    { pattern: '/api/public/*', auth: 'public' },
    { pattern: '/admin', scopes: ['admin'] },
    { pattern: '/api/admin/*', scopes: ['admin'] },
  ]
  const compiled = compileRoutes(table)
  const policyOf = (raw: string) => {
    const normalized = normalizePath(raw)
    if (!normalized.ok) return `400 ${normalized.reason}`
    const match = matchRoute(compiled, normalized.key, 'GET')
    return match.kind === 'route' ? match.policy.pattern : match.kind
  }

  it.each([
    ['/AUTH/login', 'gateway_owned'],
    ['/auth/login/', 'gateway_owned'],
    ['/auth/%6Cogin', 'gateway_owned'],
    ['//auth/login', 'gateway_owned'],
    ['/Health', 'gateway_owned'],
    ['/.WELL-KNOWN/jwks.json', 'gateway_owned'],
    ['/api/public/../admin', '/api/admin/*'],
    ['/api/public/../other', '(default)'],
    ['/api/public/../../admin', '/admin'],
    ['/api/public/%2e%2e/%2e%2e/admin', '400 encoded_dot'],
    ['/api/public/%2E%2E%2Fadmin', '400 encoded_slash'],
    ['/api/public/..;/..;/admin', '400 path_parameter'],
    ['/./admin', '/admin'],
    ['/ADMIN/', '/admin'],
    ['/admin;x', '400 path_parameter'],
    ['/Admin;x=1/', '400 path_parameter'],
    ['/api/admin;x/users', '400 path_parameter'],
    ['/api/;x/admin/users', '400 path_parameter'],
    ['/api/admin./users', '400 trailing_dot'],
    ['/api/admin%2e/users', '400 encoded_dot'],
    ['/api/admin%20/users', '400 edge_whitespace'],
    ['/api/admin..;/users', '400 path_parameter'],
    ['/api/public%2F..%2Fadmin', '400 encoded_slash'],
    ['/api/public/%252e%252e/admin', '400 double_encoding'],
  ])('%s → %s', (raw, expected) => {
    expect(policyOf(raw)).toBe(expected)
  })
})

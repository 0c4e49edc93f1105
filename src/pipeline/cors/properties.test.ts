/**
 * CORS acceptance and rejection, with fast-check, through the whole app: for arbitrary
 * configured origin lists, every configured origin gets exactly itself back in `Access-Control-Allow-Origin`, on an
 * actual response and on a preflight, and every other Origin value (random text, near misses of a configured
 * origin, `null`) gets no CORS header at all. Either way the response says `Vary: Origin`.
 */
import { env } from 'cloudflare:workers'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'

const RUNS = { numRuns: 60 }

// Rejections are logged; keep the output readable (the logging itself is tested in index.test.ts).
let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

const app = testApp()

/** A serialized origin as CORS_ORIGINS accepts it: `scheme://host[:port]`, lower case, no default port. */
const serializedOrigin = fc
  .record({
    scheme: fc.constantFrom('http', 'https'),
    host: fc.oneof(
      fc.domain(),
      fc.ipV4(),
      fc.constantFrom('localhost', 'app.example.com', 'example.com', 'a.b.example.co.uk'),
    ),
    port: fc.option(fc.integer({ min: 1, max: 65_535 }), { nil: undefined }),
  })
  .map(({ scheme, host, port }) => `${scheme}://${host}${port === undefined ? '' : `:${port}`}`)
  .filter((o) => {
    try {
      return new URL(o).origin === o
    } catch {
      return false
    }
  })

const corsSettings = fc.record({
  origins: fc.uniqueArray(serializedOrigin, { minLength: 1, maxLength: 4 }),
  credentials: fc.boolean(),
  maxAge: fc.integer({ min: 0, max: 7_200 }),
})
type CorsSettings = typeof corsSettings extends fc.Arbitrary<infer T> ? T : never

/** One bindings object per drawn configuration (the parsed config is cached per bindings object). */
function bindingsFor({ origins, credentials, maxAge }: CorsSettings): Env {
  return {
    ...env,
    CORS_ORIGINS: origins.join(','),
    CORS_ALLOW_CREDENTIALS: String(credentials),
    CORS_MAX_AGE_SECONDS: String(maxAge),
  } as Env
}

/** The actual request and the preflight a browser would send from `origin`. */
function requestsFrom(origin: string): Request[] {
  return [
    new Request('https://gw.test/auth/no-such-route', { headers: { origin } }),
    new Request('https://gw.test/auth/me', {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' },
    }),
  ]
}

const variesOnOrigin = (res: Response) =>
  (res.headers.get('vary') ?? '')
    .split(',')
    .map((v) => v.trim().toLowerCase())
    .includes('origin')

/** Any string with one character's case flipped (when it has a letter at that position). */
const flipCaseAt = (s: string, i: number) => {
  const at = i % s.length
  const ch = s.charAt(at)
  const flipped = ch === ch.toLowerCase() ? ch.toUpperCase() : ch.toLowerCase()
  return s.slice(0, at) + flipped + s.slice(at + 1)
}

/** Near misses of a configured origin: what a sloppy matcher (prefix, suffix, regex, case-folding) would accept. */
const nearMiss = (origin: string): fc.Arbitrary<string> =>
  fc.oneof(
    fc.nat().map((i) => flipCaseAt(origin, i)),
    fc
      .constantFrom('.evil.test', '/', '.', ':', '#', '?', '/path', '%2f', '\\', '@evil.test', 'x')
      .map((s) => origin + s),
    fc.string({ minLength: 1, maxLength: 8 }).map((s) => origin + s),
    fc.integer({ min: 1, max: origin.length - 1 }).map((n) => origin.slice(0, n)),
    fc.integer({ min: 1, max: 65_535 }).map((p) => `${origin.replace(/:\d+$/, '')}:${p}`),
    fc.constantFrom('https://evil.', 'http://', 'x', ' ').map((s) => s + origin.replace(/^https?:\/\//, '')),
    fc
      .constantFrom('http://', 'https://', 'HTTPS://', 'ws://', 'wss://', '//', 'file://')
      .map((scheme) => origin.replace(/^https?:\/\//, scheme)),
    fc.constant(origin.replace('://', '://www.')),
    fc.constant('null'),
  )

const candidate = (origins: string[]) =>
  fc.oneof(
    fc.constantFrom(...origins).chain(nearMiss),
    fc.string({ maxLength: 40 }),
    fc.string({ unit: 'binary-ascii', maxLength: 40 }),
    serializedOrigin,
    fc.webUrl(),
    fc.constantFrom('null', '*', 'null ', 'undefined', ''),
  )

/**
 * The Origin value the worker will see for `value` (Headers strip surrounding whitespace), or undefined when no
 * valid header can carry it. Only printable ASCII: browsers send origins in ASCII (punycode), and workerd warns on anything else.
 */
function asSent(value: string): string | undefined {
  if (/[^ -~]/.test(value)) return undefined
  try {
    return new Headers({ origin: value }).get('origin') ?? undefined
  } catch {
    return undefined
  }
}

describe('CORS properties', () => {
  it('property 6: every configured origin is accepted, with exactly itself in ACAO', async () => {
    await fc.assert(
      fc.asyncProperty(corsSettings, async (settings) => {
        const bindings = bindingsFor(settings)
        for (const origin of settings.origins) {
          for (const request of requestsFrom(origin)) {
            const res = await app.fetch(request, bindings, ctx)
            expect(res.headers.get('access-control-allow-origin')).toBe(origin)
            expect(res.headers.get('access-control-allow-credentials')).toBe(settings.credentials ? 'true' : null)
            expect(variesOnOrigin(res)).toBe(true)
            if (request.method === 'OPTIONS') {
              expect(res.status).toBe(204)
              expect(res.headers.get('access-control-max-age')).toBe(String(settings.maxAge))
            }
          }
        }
      }),
      RUNS,
    )
  })

  it('property 7: every origin not configured is rejected: no CORS header at all', async () => {
    let tested = 0
    await fc.assert(
      fc.asyncProperty(
        corsSettings.chain((settings) =>
          fc.tuple(fc.constant(settings), fc.array(candidate(settings.origins), { minLength: 1, maxLength: 4 })),
        ),
        async ([settings, values]) => {
          const bindings = bindingsFor(settings)
          for (const value of values) {
            const sent = asSent(value)
            if (sent === undefined || settings.origins.includes(sent)) continue
            tested++
            for (const request of requestsFrom(sent)) {
              const res = await app.fetch(request, bindings, ctx)
              const cors = [...res.headers.keys()].filter((name) => name.startsWith('access-control-'))
              expect(cors).toEqual([])
              expect(variesOnOrigin(res)).toBe(true)
              if (request.method === 'OPTIONS') expect(res.status).toBe(204)
              else expect(res.status).toBe(404)
            }
          }
        },
      ),
      RUNS,
    )
    // The skipped values (not sendable, or equal to a configured origin after header normalisation) are few.
    expect(tested).toBeGreaterThan(RUNS.numRuns)
    expect(logs.events('malicious_cors').length).toBeGreaterThan(0)
  })
})

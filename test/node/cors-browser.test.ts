/**
 * CORS in a real browser (R-CORS-1, R-CORS-5, R-CORS-7 in docs/requirements.md), because only a browser enforces
 * it: headless Chromium loads a page from an allowed origin and one from another, and each calls the deployable
 * bundle in Miniflare. Needs Chromium at /usr/bin/chromium (`apt-get install -y --no-install-recommends chromium`);
 * playwright-core only drives it and never downloads a browser.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import type { Browser } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateEd25519Jwks } from '../../scripts/lib/keys.ts'
import { type RedisServer, startRedisServer } from '../../scripts/lib/redis-server.ts'
import { startUpstashLocal, type UpstashLocal } from '../../scripts/upstash-local.ts'
import { hasChromium, launchChromium, requireChromium } from './support/chromium.ts'
import { buildWorker, bundleWorker, cleanUp, migrate } from './support/worker.ts'

let outDir: string | undefined
let redis: RedisServer | undefined
let upstash: UpstashLocal | undefined
let mf: Miniflare | undefined
let browser: Browser | undefined
const pages: http.Server[] = []
let gatewayUrl: string
let allowedOrigin: string
let otherOrigin: string
/** Everything the worker logged. */
const workerLogs: string[] = []

/** Serves a blank HTML page on 127.0.0.1 and a free port; resolves with its origin. */
async function servePage(): Promise<string> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' })
    res.end('<!doctype html><title>edgeward CORS test</title>')
  })
  pages.push(server)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

beforeAll(async () => {
  if (!hasChromium()) return // each test fails in requireChromium()
  outDir = await mkdtemp(path.join(tmpdir(), 'edgeward-cors-'))
  const [scriptPath, redisServer, a, b] = await Promise.all([
    buildWorker(outDir),
    startRedisServer(),
    servePage(),
    servePage(),
  ])
  redis = redisServer
  allowedOrigin = a
  otherOrigin = b
  upstash = await startUpstashLocal({ redisUrl: redis.url })
  mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      handleStructuredLogs: ({ message }) => void workerLogs.push(message),
      ...bundleWorker(scriptPath, {
        name: 'edgeward',
        unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        d1Databases: { DB: 'edgeward-cors' },
        bindings: {
          ENVIRONMENT: 'development',
          CORS_ORIGINS: allowedOrigin,
          JWT_PRIVATE_KEY: JSON.stringify(generateEd25519Jwks().privateJwk),
          UPSTASH_REDIS_REST_URL: upstash.url,
          UPSTASH_REDIS_REST_TOKEN: upstash.token,
          RATE_LIMIT_GLOBAL: 'off',
          RATE_LIMIT_USER: 'off',
          // Only the login path is limited here: the 429 test below exhausts it from the allowed origin.
          RATE_LIMIT_AUTH: '2/15m',
        },
      }),
    }),
  )
  await mf.ready
  await migrate(mf)
  gatewayUrl = (await mf.unsafeGetDirectURL('edgeward')).origin
  browser = await launchChromium()
}, 30_000)

afterAll(async () => {
  await cleanUp([
    () => browser?.close(),
    () => mf?.dispose(),
    () => upstash?.close(),
    () => redis?.stop(),
    ...pages.map((server) => () => new Promise((resolve) => server.close(resolve))),
    () => (outDir ? rm(outDir, { recursive: true, force: true }) : undefined),
  ])
})

/** What a script on the page could observe of one fetch(): the response it may read, or the error it got. */
type Observed =
  | { ok: true; status: number; body: string; requestId: string | null; contentTypeOptions: string | null }
  | { ok: false; error: string; message: string }

/** Loads the page from `origin` and, from it, calls the gateway: a simple GET and a preflighted GET. */
async function callFrom(origin: string): Promise<{ simple: Observed; preflighted: Observed }> {
  const page = await (browser as Browser).newPage()
  try {
    await page.goto(`${origin}/`)
    return await page.evaluate(async (gateway) => {
      const observe = async (url: string, init?: RequestInit) => {
        try {
          const res = await fetch(url, init)
          return {
            ok: true as const,
            status: res.status,
            body: await res.text(),
            requestId: res.headers.get('x-request-id'),
            // Not exposed: a script must not be able to read it.
            contentTypeOptions: res.headers.get('x-content-type-options'),
          }
        } catch (e) {
          const err = e as Error
          return { ok: false as const, error: err.name, message: err.message }
        }
      }
      return {
        simple: await observe(`${gateway}/health`),
        // Authorization is not CORS-safelisted, so the browser sends a preflight first.
        preflighted: await observe(`${gateway}/auth/me`, { headers: { authorization: 'Bearer not.a.token' } }),
      }
    }, gatewayUrl)
  } finally {
    await page.close()
  }
}

const REQUEST_ID = /^[A-Za-z0-9-]{8,64}$/

describe('CORS in Chromium', () => {
  it('lets the allowed origin read bodies and X-Request-Id, through a preflight too', async () => {
    requireChromium()
    const { simple, preflighted } = await callFrom(allowedOrigin)
    expect(simple).toMatchObject({ ok: true, status: 200, requestId: expect.stringMatching(REQUEST_ID) })
    expect(simple.ok && JSON.parse(simple.body)).toMatchObject({ status: 'ok' })
    // Only exposed headers are readable: X-Content-Type-Options is on the response but not exposed.
    expect(simple.ok && simple.contentTypeOptions).toBeNull()

    expect(preflighted).toMatchObject({ ok: true, status: 401, requestId: expect.stringMatching(REQUEST_ID) })
    const problem = preflighted.ok ? (JSON.parse(preflighted.body) as Record<string, unknown>) : {}
    expect(problem).toMatchObject({ code: 'invalid_token', status: 401 })
    expect(problem.request_id).toBe(preflighted.ok && preflighted.requestId)
  })

  it('lets the allowed origin read a 429 with Retry-After and the RateLimit headers (R-CORS-7)', async () => {
    requireChromium()
    const page = await (browser as Browser).newPage()
    try {
      await page.goto(`${allowedOrigin}/`)
      const seen = await page.evaluate(async (gateway) => {
        const results: {
          status: number
          retryAfter: string | null
          rateLimit: string | null
          remaining: string | null
        }[] = []
        for (let i = 0; i < 3; i++) {
          // application/json is not CORS-safelisted: every call is preflighted.
          const res = await fetch(`${gateway}/auth/login`, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{}',
          })
          results.push({
            status: res.status,
            retryAfter: res.headers.get('retry-after'),
            rateLimit: res.headers.get('ratelimit'),
            remaining: res.headers.get('x-ratelimit-remaining'),
          })
        }
        return results
      }, gatewayUrl)
      // No login route exists yet: 404 means the rate limit admitted the request.
      expect(seen.map((r) => r.status)).toEqual([400, 400, 429])
      expect(seen[2]?.retryAfter).toMatch(/^\d+$/)
      expect(seen[2]?.rateLimit).toMatch(/"auth";r=0;t=\d+/)
      expect(seen[2]?.remaining).toBe('0')
    } finally {
      await page.close()
    }
  })

  it('blocks another origin: both calls fail with a TypeError, the preflighted one never reaches a route', async () => {
    requireChromium()
    const rejectedBefore = workerLogs.filter((l) => l.includes('"event":"authn_token_invalid"')).length
    const { simple, preflighted } = await callFrom(otherOrigin)
    expect(simple).toMatchObject({ ok: false, error: 'TypeError' })
    expect(preflighted).toMatchObject({ ok: false, error: 'TypeError' })
    // The denied preflight stopped the request: nothing tried to authenticate it.
    expect(workerLogs.filter((l) => l.includes('"event":"authn_token_invalid"')).length).toBe(rejectedBefore)
    const cors = workerLogs.filter((l) => l.includes('"event":"malicious_cors"'))
    expect(cors.length).toBe(1)
    expect(cors[0]).toContain(`"origin":"${otherOrigin}"`)
  })
})

/**
 * The workers `npm run bench` compares, as Miniflare options: two baselines written here, the naive composition of
 * bench-naive-worker.ts and the built edgeward bundle in four configurations. Each gets its own direct socket (no
 * Miniflare entry worker in the path, as close to one workerd serving one worker as Miniflare allows) and its own
 * Upstash lane, so the local Upstash server counts each variant's calls apart.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { V4WorkerOptions } from 'miniflare'
import { SECURITY_HEADERS } from '../../src/lib/security-headers.ts'
import { buildWorker, bundleWorker, COMPATIBILITY } from '../../test/node/support/worker.ts'
import { VARIANT } from './bench-report.ts'

/** One thing measured: a worker, the request sent to it, and the status it must answer. */
export interface Variant {
  name: string
  worker: string
  path: string
  headers: Record<string, string>
  expectStatus: number
  /** The Upstash lane of its worker (one path segment), or undefined when it has no Upstash binding. */
  lane?: string
}

export interface BenchEnv {
  /** The built edgeward bundle and the naive worker's bundle (`buildNaiveWorker`). */
  scriptPath: string
  naivePath: string
  upstashUrl: string
  upstashToken: string
  originUrl: string
  privateJwk: object
  publicJwk: object
  token: string
  /** The headers the gateway adds to an answer it proxies (`gatewayAnswerHeaders`), for the lean reference. */
  answerHeaders: [string, string][]
}

/**
 * The headers the gateway's stages add to a proxied answer for a request without Origin: the security headers
 * (the gateway's own list, so the reference cannot drift from it) and CORS's `Vary: Origin`.
 */
export function gatewayAnswerHeaders(): [string, string][] {
  return [...SECURITY_HEADERS.map(([name, value]): [string, string] => [name, value]), ['vary', 'Origin']]
}

/** Bundles bench-naive-worker.ts under `outDir` with wrangler, as the gateway is built; returns its module's path. */
export async function buildNaiveWorker(outDir: string): Promise<string> {
  await mkdir(outDir, { recursive: true })
  const config = path.join(outDir, 'wrangler.toml')
  const main = path.join(import.meta.dirname, 'bench-naive-worker.ts')
  const { compatibilityDate, compatibilityFlags } = COMPATIBILITY
  await writeFile(
    config,
    [
      'name = "bench-naive"',
      `main = ${JSON.stringify(main)}`,
      `compatibility_date = ${JSON.stringify(compatibilityDate)}`,
      `compatibility_flags = ${JSON.stringify(compatibilityFlags)}`,
      '',
    ].join('\n'),
  )
  return buildWorker(path.join(outDir, 'bundle'), config)
}

// The floor: what any gateway that consults Redis once per request pays at least. One MGET of two keys, then
// the origin, sequentially, as edgeward cannot forward before it has decided.
const FLOOR_SCRIPT = `export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    const r = await fetch(env.UPSTASH_URL, {
      method: 'POST',
      headers: { authorization: 'Bearer ' + env.UPSTASH_TOKEN, 'content-type': 'application/json' },
      body: JSON.stringify(['MGET', 'bench:a', 'bench:b']),
    })
    if (!r.ok) return new Response('upstash ' + r.status, { status: 502 })
    await r.arrayBuffer()
    return fetch(env.ORIGIN + url.pathname + url.search)
  },
}`

export const BARE_SCRIPT = `export default {
  async fetch(request, env) {
    const url = new URL(request.url)
    return fetch(env.ORIGIN + url.pathname + url.search)
  },
}`

// A reference, not a product: what a hand-written worker pays for the proxy's own per-request duties on a public
// route, and nothing else (no routing, CORS, limits, body checks, logs, metrics or problem answers). The client's
// headers and X-Forwarded-* plus a request id go to the origin with an HMAC-SHA256 identity signature (key imported
// once), a timeout covers the response head (cleared when it arrives), and the answer carries the headers the
// gateway's does for this request. Compared with bare, it is what these duties cost on this machine.
export const leanScript = (answerHeaders: [string, string][]) => `const utf8 = new TextEncoder()
const ANSWER = ${JSON.stringify(answerHeaders)}
let key
export default {
  async fetch(request, env) {
    key ??= await crypto.subtle.importKey('raw', utf8.encode(env.SECRET), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const url = new URL(request.url)
    const id = crypto.randomUUID()
    const headers = new Headers(request.headers)
    headers.delete('host')
    headers.set('x-forwarded-for', request.headers.get('cf-connecting-ip') ?? '')
    headers.delete('cf-connecting-ip')
    headers.set('x-forwarded-proto', url.protocol.slice(0, -1))
    headers.set('x-forwarded-host', url.host)
    headers.set('x-request-id', id)
    const timestamp = String(Math.floor(Date.now() / 1000))
    const canonical = ['v1', timestamp, request.method, url.pathname + url.search, '', '', '', id].join('\\n')
    const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, utf8.encode(canonical)))
    headers.set('x-gateway-signature', 'v1=' + btoa(String.fromCharCode(...mac)).replace(/=+$/, ''))
    headers.set('x-gateway-timestamp', timestamp)
    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(), 10000)
    let origin
    try {
      origin = await fetch(env.ORIGIN + url.pathname + url.search, { headers, signal: controller.signal, redirect: 'manual' })
    } finally {
      clearTimeout(timer)
    }
    const answer = new Response(origin.body, { status: origin.status, headers: origin.headers })
    for (const [name, value] of ANSWER) answer.headers.set(name, value)
    answer.headers.set('x-request-id', id)
    return answer
  },
}`

/** The client addresses: the blocked one is pushed over its tiny global limit before it is measured. */
export const AUTHENTICATED_IP = '203.0.113.10'
export const PUBLIC_IP = '203.0.113.11'
export const BLOCKED_IP = '203.0.113.12'
export const NAIVE_IP = '203.0.113.13'
export const NO_UPSTASH_IP = '203.0.113.14'

/**
 * The gateway's Upstash timeout and breaker in every benchmark worker: their defaults, set here explicitly so the
 * outage's timing, its bounds and the document read them from one place.
 */
export const BENCH_UPSTASH = { timeoutMs: 1_000, breakerThreshold: 3, breakerCooldownSeconds: 30 } as const

/**
 * Unmeasured load on the authenticated path when Upstash starts to hang, long enough for its first requests to
 * wait out the Upstash timeout and open the breaker before the measured round starts.
 */
export const OUTAGE_TRIP_MS = BENCH_UPSTASH.timeoutMs + 1_500

export const LEAN_SECRET = 'bench-lean-signing-secret-of-32-bytes!'
const DIRECT = [{ host: '127.0.0.1', port: 0 }]
// Limits no benchmark round can reach, so the authenticated and public variants measure the allowed path.
const UNREACHABLE = '1000000/1s'

export function variants(token: string): Variant[] {
  return [
    { name: VARIANT.bare, worker: 'bare', path: '/api/items', headers: {}, expectStatus: 200 },
    { name: VARIANT.floor, worker: 'floor', path: '/api/items', headers: {}, expectStatus: 200, lane: 'lane-floor' },
    {
      name: VARIANT.naive,
      worker: 'naive',
      path: '/api/items',
      headers: { authorization: `Bearer ${token}`, 'cf-connecting-ip': NAIVE_IP },
      expectStatus: 200,
      lane: 'lane-naive',
    },
    {
      name: VARIANT.authenticated,
      worker: 'ew-auth',
      path: '/api/items',
      headers: { authorization: `Bearer ${token}`, 'cf-connecting-ip': AUTHENTICATED_IP },
      expectStatus: 200,
      lane: 'lane-ew-auth',
    },
    {
      name: VARIANT.public,
      worker: 'ew-public',
      path: '/api/public/catalogue',
      headers: { 'cf-connecting-ip': PUBLIC_IP },
      expectStatus: 200,
      lane: 'lane-ew-public',
    },
    {
      name: VARIANT.publicNoUpstash,
      worker: 'ew-public-local',
      path: '/api/public/catalogue',
      headers: { 'cf-connecting-ip': NO_UPSTASH_IP },
      expectStatus: 200,
      lane: 'lane-ew-public-local',
    },
    {
      name: VARIANT.lean,
      worker: 'lean',
      path: '/api/public/catalogue',
      headers: { 'cf-connecting-ip': NO_UPSTASH_IP },
      expectStatus: 200,
    },
    {
      name: VARIANT.blocked,
      worker: 'ew-blocked',
      path: '/api/public/catalogue',
      headers: { 'cf-connecting-ip': BLOCKED_IP },
      expectStatus: 429,
      lane: 'lane-ew-blocked',
    },
  ]
}

/** The gateway workers of the benchmark, by worker name: the RATE_LIMIT_GLOBAL each runs with. */
export const GATEWAY_LIMITS: Record<string, string> = {
  'ew-auth': UNREACHABLE,
  'ew-public': UNREACHABLE,
  'ew-public-local': 'off',
  // One request per day: the first one spends it, every measured request is over the limit.
  'ew-blocked': '1/24h',
}

/** The built gateway as the benchmark runs it, as worker `name` (a key of GATEWAY_LIMITS), on its own Upstash lane. */
export function gatewayWorker(
  env: Pick<BenchEnv, 'scriptPath' | 'upstashUrl' | 'upstashToken' | 'originUrl' | 'privateJwk'>,
  name: string,
): V4WorkerOptions {
  const globalLimit = GATEWAY_LIMITS[name]
  if (globalLimit === undefined) throw new TypeError(`bench: no gateway worker named ${name}`)
  return bundleWorker(env.scriptPath, {
    name,
    d1Databases: { DB: 'edgeward-bench' },
    // Bound as wrangler.toml binds it in every environment: the proxy writes a data point per request.
    analyticsEngineDatasets: { EVENTS: { dataset: 'edgeward_bench_events' } },
    unsafeDirectSockets: DIRECT,
    bindings: {
      ENVIRONMENT: 'development',
      JWT_PRIVATE_KEY: JSON.stringify(env.privateJwk),
      UPSTASH_REDIS_REST_URL: `${env.upstashUrl}/lane-${name}`,
      UPSTASH_REDIS_REST_TOKEN: env.upstashToken,
      UPSTREAM_URL: env.originUrl,
      RATE_LIMIT_GLOBAL: globalLimit,
      RATE_LIMIT_USER: UNREACHABLE,
      UPSTASH_TIMEOUT_MS: String(BENCH_UPSTASH.timeoutMs),
      RATE_LIMIT_BREAKER_THRESHOLD: String(BENCH_UPSTASH.breakerThreshold),
      RATE_LIMIT_BREAKER_COOLDOWN_SECONDS: String(BENCH_UPSTASH.breakerCooldownSeconds),
    },
  })
}

export function workerOptions(env: BenchEnv): V4WorkerOptions[] {
  const lane = (name: string) => `${env.upstashUrl}/lane-${name}`
  const inline = (name: string, script: string, bindings: Record<string, string>): V4WorkerOptions => ({
    name,
    modules: true,
    script,
    ...COMPATIBILITY,
    unsafeDirectSockets: DIRECT,
    bindings,
  })
  return [
    inline('bare', BARE_SCRIPT, { ORIGIN: env.originUrl }),
    inline('lean', leanScript(env.answerHeaders), { ORIGIN: env.originUrl, SECRET: LEAN_SECRET }),
    inline('floor', FLOOR_SCRIPT, {
      ORIGIN: env.originUrl,
      UPSTASH_URL: lane('floor'),
      UPSTASH_TOKEN: env.upstashToken,
    }),
    bundleWorker(env.naivePath, {
      name: VARIANT.naive,
      unsafeDirectSockets: DIRECT,
      bindings: {
        ORIGIN: env.originUrl,
        UPSTASH_URL: lane('naive'),
        UPSTASH_TOKEN: env.upstashToken,
        JWT_PUBLIC_KEY: JSON.stringify(env.publicJwk),
      },
    }),
    ...Object.keys(GATEWAY_LIMITS).map((name) => gatewayWorker(env, name)),
  ]
}

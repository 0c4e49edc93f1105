/**
 * What `npm run cost` runs: each measured worker behind a harness module that sends it N requests inside one
 * request, with `fetch` answered in the isolate (a stand-in origin and a stand-in Upstash), so no socket, no other
 * process and no waiting enters the count: only the instructions workerd executes for the worker's own work. The
 * harness's own share (building each request, the stand-in answers, reading each body) is what *bare* measures.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import path from 'node:path'
import type { V4WorkerOptions } from 'miniflare'
import { buildWorker, COMPATIBILITY } from '../../test/node/support/worker.ts'
import { mintToken } from '../bench.ts'
import { BARE_SCRIPT, gatewayAnswerHeaders, LEAN_SECRET, leanScript } from './bench-workers.ts'
import { OPS_SCRIPT } from './cost-ops.ts'
import { generateEd25519Jwks } from './keys.ts'

/** Where the measured workers believe the origin and Upstash are; the harness answers for both. */
export const STAND_IN_ORIGIN = 'http://127.0.0.1:9'
export const STAND_IN_UPSTASH = 'http://127.0.0.1:7'

export interface CostScenario {
  name: string
  /** The module the harness imports: a baseline written here, or the built edgeward bundle. */
  module: 'bare' | 'lean' | 'edgeward'
  path: string
  headers: Record<string, string>
  expectStatus: number
  /** edgeward's rate limits for this scenario (`RATE_LIMIT_GLOBAL`, `RATE_LIMIT_USER`). */
  limits?: { global: string; user: string }
}

const UNREACHABLE = '1000000/1s'
const PUBLIC = '/api/public/catalogue'
/** The public route without Upstash, asked from an allowed browser origin. */
export const BROWSER_SCENARIO = 'edgeward public, no Upstash, browser'
const CLIENT = { 'cf-connecting-ip': '203.0.113.20', 'user-agent': 'edgeward-cost', accept: 'application/json' }

/**
 * The paths `npm run bench` measures, with the same limits, and the public one asked from a browser (an allowed
 * Origin, so the CORS stage writes its fields); the token is an access token for `/api/items`.
 */
export function costScenarios(token: string): CostScenario[] {
  const off = { global: 'off', user: 'off' }
  return [
    { name: 'bare', module: 'bare', path: PUBLIC, headers: CLIENT, expectStatus: 200 },
    { name: 'lean proxy', module: 'lean', path: PUBLIC, headers: CLIENT, expectStatus: 200 },
    {
      name: 'edgeward public, no Upstash',
      module: 'edgeward',
      path: PUBLIC,
      headers: CLIENT,
      expectStatus: 200,
      limits: off,
    },
    {
      name: BROWSER_SCENARIO,
      module: 'edgeward',
      path: PUBLIC,
      // One of the development configuration's default CORS origins.
      headers: { ...CLIENT, origin: 'http://localhost:3000' },
      expectStatus: 200,
      limits: off,
    },
    {
      name: 'edgeward public',
      module: 'edgeward',
      path: PUBLIC,
      headers: CLIENT,
      expectStatus: 200,
      limits: { global: UNREACHABLE, user: 'off' },
    },
    {
      name: 'edgeward authenticated',
      module: 'edgeward',
      path: '/api/items',
      headers: { ...CLIENT, authorization: `Bearer ${token}` },
      expectStatus: 200,
      limits: { global: UNREACHABLE, user: UNREACHABLE },
    },
    // A limit of 1, which the stand-in Upstash counts as spent: it refuses the first request, the isolate's memory
    // every later one, so each measured request is a refusal from memory.
    {
      name: 'edgeward blocked',
      module: 'edgeward',
      path: PUBLIC,
      headers: CLIENT,
      expectStatus: 429,
      limits: { global: '1/24h', user: 'off' },
    },
  ]
}

// The origin answers as scripts/echo-upstream.ts does in `npm run bench`: about 1 KB of JSON with its framing
// headers. Upstash answers the admission script (arguments: four, then four per limit, the limit second; reply:
// the revocation verdict, then admitted, used and reset per limit): every limit admits, except a limit of 1, which
// is spent (the blocked scenario is refused once by Upstash, then from the isolate's memory, as in the benchmark).
// Any other command is an error, so a path that sent one would fail its status check instead of being counted.
// Each answer carries a new `upstash-sync-token`, as Upstash's answer to a write does.
const HARNESS = `import inner from './index.js'
const ORIGIN_BODY = JSON.stringify({ method: 'GET', path: '/', headers: Object.fromEntries(Array.from({ length: 12 }, (_, i) => ['x-field-' + i, 'v'.repeat(60)])) })
const originAnswer = () => new Response(ORIGIN_BODY, { headers: { 'content-type': 'application/json', 'content-length': String(ORIGIN_BODY.length), date: 'Wed, 02 Dec 2026 00:00:00 GMT', connection: 'keep-alive', 'keep-alive': 'timeout=5' } })
function upstashAnswer(body) {
  const command = JSON.parse(body)
  if (command[0] !== 'evalsha') return Response.json({ error: 'cost harness: unexpected command ' + command[0] }, { status: 400 })
  const args = command.slice(3 + Number(command[2]) + 4)
  const reset = Date.now() + 60000
  const result = [0]
  for (let i = 0; i < args.length; i += 4) result.push(args[i + 1] > 1 ? 1 : 0, 1, reset)
  // Upstash answers a write (the admission script is one) with a sync token for read-your-writes.
  return Response.json({ result }, { headers: { 'upstash-sync-token': 'cost-sync-' + ++syncTokens } })
}
let syncTokens = 0
async function standIn(input, init) {
  const url = input instanceof Request ? input.url : String(input)
  if (url.startsWith(${JSON.stringify(STAND_IN_UPSTASH)})) return upstashAnswer(typeof init?.body === 'string' ? init.body : '')
  if (url.startsWith(${JSON.stringify(STAND_IN_ORIGIN)})) return originAnswer()
  throw new TypeError('cost harness: nothing stands in for ' + url)
}
export default {
  async fetch(request, env, ctx) {
    const { n, path, headers } = await request.json()
    const statuses = {}
    const real = globalThis.fetch
    globalThis.fetch = standIn
    try {
      for (let i = 0; i < n; i++) {
        const res = await inner.fetch(new Request('http://127.0.0.1:8787' + path, { headers }), env, ctx)
        await res.arrayBuffer()
        statuses[res.status] = (statuses[res.status] ?? 0) + 1
      }
    } finally {
      globalThis.fetch = real
    }
    return Response.json(statuses)
  },
}
`

/** The harness's entry module and the module it wraps (`index.js`), both in `dir`. */
export interface HarnessModules {
  dir: string
  entry: string
  inner: string
}

/**
 * Writes the harness into `dir`, next to the module it wraps: `innerSource` written as `index.js`, or, without it,
 * the `index.js` already there (the built bundle's directory).
 */
export async function writeHarness(dir: string, innerSource?: string): Promise<HarnessModules> {
  await mkdir(dir, { recursive: true })
  const entry = path.join(dir, 'cost-harness.js')
  const inner = path.join(dir, 'index.js')
  await writeFile(entry, HARNESS)
  if (innerSource !== undefined) await writeFile(inner, innerSource)
  return { dir, entry, inner }
}

/** The baselines' modules and their bindings. */
export function baselineModule(module: 'bare' | 'lean', answerHeaders: [string, string][]) {
  return {
    source: module === 'bare' ? BARE_SCRIPT : leanScript(answerHeaders),
    bindings: { ORIGIN: STAND_IN_ORIGIN, ...(module === 'lean' ? { SECRET: LEAN_SECRET } : {}) },
  }
}

/** A scenario's worker name in Miniflare. */
export const costWorkerName = (s: CostScenario) => s.name.toLowerCase().replace(/[^a-z]+/g, '-')

export interface CostWorkers {
  scenarios: CostScenario[]
  /** Each scenario's worker (its harness and the module it wraps), by scenario name. */
  workers: Map<string, V4WorkerOptions>
  /** The worker of the operations table, named `ops`. */
  ops: V4WorkerOptions
}

/** Builds the bundle under `outDir` and the Miniflare options of every scenario's worker and of the operations. */
export async function prepareCostWorkers(outDir: string): Promise<CostWorkers> {
  const bundle = await buildWorker(path.join(outDir, 'edgeward'))
  if (path.basename(bundle) !== 'index.js') throw new Error(`cost: the bundle is ${bundle}, expected index.js`)
  const keys = generateEd25519Jwks()
  const scenarios = costScenarios(await mintToken(keys.privateJwk, keys.publicJwk))
  const answerHeaders = gatewayAnswerHeaders()
  const workers = new Map<string, V4WorkerOptions>()
  for (const s of scenarios) {
    const base = s.module === 'edgeward' ? undefined : baselineModule(s.module, answerHeaders)
    const modules = await writeHarness(
      base === undefined ? path.dirname(bundle) : path.join(outDir, s.module),
      base?.source,
    )
    workers.set(s.name, {
      name: costWorkerName(s),
      modulesRoot: modules.dir,
      modules: [
        { type: 'ESModule', path: modules.entry },
        { type: 'ESModule', path: modules.inner },
      ],
      ...COMPATIBILITY,
      ...(base !== undefined
        ? { bindings: base.bindings }
        : {
            // Bound as in every deployed environment; D1 is bound and never queried on these paths.
            d1Databases: { DB: 'edgeward-cost' },
            analyticsEngineDatasets: { EVENTS: { dataset: 'edgeward_cost_events' } },
            bindings: {
              ENVIRONMENT: 'development',
              JWT_PRIVATE_KEY: JSON.stringify(keys.privateJwk),
              UPSTASH_REDIS_REST_URL: STAND_IN_UPSTASH,
              UPSTASH_REDIS_REST_TOKEN: 'cost',
              UPSTREAM_URL: STAND_IN_ORIGIN,
              RATE_LIMIT_GLOBAL: s.limits?.global ?? 'off',
              RATE_LIMIT_USER: s.limits?.user ?? 'off',
            },
          }),
    })
  }
  return { scenarios, workers, ops: { name: 'ops', modules: true, script: OPS_SCRIPT, ...COMPATIBILITY } }
}

/**
 * `npm run cost:sockets`: instructions per request of the benchmark's workers as `npm run bench` runs them (real
 * sockets, the local Upstash server over a real redis-server, the echo origin, keep-alive clients), counted by
 * valgrind's callgrind in workerd. `npm run cost` answers a worker's `fetch` inside the isolate, so it never sees
 * what the runtime spends on a subrequest or on the client's connection; this does, and unlike the benchmark's
 * req/s its counts barely move with the machine's load. They do move by up to about 6 % from one run to the next
 * (collections and compilation land differently), so two builds are compared in one run: `--compare-bundle` adds
 * the gateway's workers built from another bundle (`wrangler deploy --dry-run --outdir DIR` in another checkout),
 * named with a `-b` suffix, and every round measures each worker once, in turn. One isolate's count can still sit
 * 5-15 % off another's running the same bundle (V8 optimizes each isolate's code on its own schedule), so
 * `--isolates K` runs K copies of every worker (`-i2`, `-i3`…) and reports the median of their medians.
 *
 *   npm run cost:sockets -- --only bare,ew-public-local,ew-auth --compare-bundle ../old/dist/index.js --isolates 3
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { V4WorkerOptions } from 'miniflare'
import { buildWorker, cleanUp, migrate } from '../test/node/support/worker.ts'
import { mintToken } from './bench.ts'
import { startBenchBackends } from './lib/bench-backends.ts'
import { median, runCount } from './lib/bench-load.ts'
import { gatewayAnswerHeaders, gatewayWorker, variants, workerOptions } from './lib/bench-workers.ts'
import { callgrindAvailable, startCallgrindGroup, takeInstructions, writeCallgrindWorkerd } from './lib/callgrind.ts'
import { generateEd25519Jwks } from './lib/keys.ts'

export interface SocketCostOptions {
  /** Requests each worker serves before it is counted: V8 is still compiling the gateway's code after 400. */
  warm: number
  /** Requests per counted round, and rounds (the median is reported). */
  requests: number
  rounds: number
  concurrency: number
  /** The benchmark's workers to count, by name (`bare`, `floor`, `lean`, `naive`, `ew-auth`, `ew-public`, …). */
  only: string[]
  /** Another build of the gateway, counted beside this one, its workers named `<name>-b`. */
  compareBundle?: string
  /** Copies of each worker, each its own isolate, counted in turn; the median of their medians is reported. */
  isolates?: number
  log?: (line: string) => void
}

export const DEFAULTS: SocketCostOptions = {
  warm: 1_500,
  requests: 200,
  rounds: 5,
  concurrency: 4,
  only: ['bare', 'floor', 'lean', 'ew-public-local', 'ew-public', 'ew-auth'],
}

export interface SocketCost {
  worker: string
  /** Instructions per request: the median of the isolates' medians (one isolate: of its rounds). */
  median: number
  /** Each round's, isolate after isolate. */
  rounds: number[]
  /** Each isolate's median of its rounds, with more than one isolate. */
  isolates?: number[]
}

export async function runSocketCost(opts: SocketCostOptions): Promise<SocketCost[]> {
  if (!callgrindAvailable()) {
    throw new Error('cost:sockets: needs valgrind (Debian: apt-get install -y valgrind), for callgrind_control')
  }
  const outDir = await mkdtemp(path.join(tmpdir(), 'edgeward-cost-sockets-'))
  const steps: (() => unknown)[] = [() => rm(outDir, { recursive: true, force: true })]
  try {
    const [scriptPath, { upstash, origin }] = await Promise.all([
      buildWorker(path.join(outDir, 'bundle')),
      startBenchBackends(steps),
    ])
    const keys = generateEd25519Jwks()
    const token = await mintToken(keys.privateJwk, keys.publicJwk)
    const env = { scriptPath, upstashUrl: upstash.url, upstashToken: upstash.token, originUrl: origin.url }
    const all = workerOptions({ ...env, naivePath: scriptPath, ...keys, token, answerHeaders: gatewayAnswerHeaders() })
    const workers: V4WorkerOptions[] = all
      .filter((w) => opts.only.includes(String(w.name)) && w.name !== 'naive')
      .map(patientUpstash)
    const compared = new Set<string>()
    if (opts.compareBundle !== undefined) {
      for (const w of [...workers]) {
        const name = String(w.name)
        if (!name.startsWith('ew-')) continue
        const other = gatewayWorker({ ...env, scriptPath: opts.compareBundle, privateJwk: keys.privateJwk }, name)
        // Its own Upstash lane, so its rate-limit keys never meet the first build's.
        const bindings = { ...patientUpstash(other).bindings, UPSTASH_REDIS_REST_URL: `${upstash.url}/lane-${name}-b` }
        workers.push({ ...other, name: `${name}-b`, bindings })
        compared.add(name)
      }
    }
    const isolates = opts.isolates ?? 1
    const copyName = (name: string, k: number) => (k === 1 ? name : `${name}-i${k}`)
    // Copies share their original's Upstash lane and database: nothing counted here depends on whose keys they are.
    for (const w of [...workers])
      for (let k = 2; k <= isolates; k++) workers.push({ ...w, name: copyName(String(w.name), k) })
    const { mf, pid } = await startCallgrindGroup(workers, await writeCallgrindWorkerd(outDir), steps)
    if (workers.some((w) => w.name === 'ew-auth')) await migrate(mf, 'ew-auth')

    const measured = variants(token)
      .filter((v) => opts.only.includes(v.worker) && v.worker !== 'naive')
      .flatMap((v) => (compared.has(v.worker) ? [v, { ...v, worker: `${v.worker}-b` }] : [v]))
    const list = measured.flatMap((v) =>
      Array.from({ length: isolates }, (_, i) => ({ ...v, worker: copyName(v.worker, i + 1) })),
    )
    const urls = new Map<string, URL>()
    for (const v of list) urls.set(v.worker, new URL(v.path, await mf.unsafeGetDirectURL(v.worker)))
    const load = (v: (typeof list)[number], requests: number) =>
      runCount({
        url: urls.get(v.worker) as URL,
        headers: v.headers,
        // The blocked path's first request spends its limit: warm-up requests may answer otherwise.
        expectStatus: v.expectStatus,
        concurrency: opts.concurrency,
        requests,
      })
    for (const v of list) {
      if (v.worker.startsWith('ew-blocked'))
        await (await fetch(urls.get(v.worker) as URL, { headers: v.headers })).arrayBuffer()
      await load(v, opts.warm)
    }
    const rounds = new Map<string, number[]>(list.map((v) => [v.worker, []]))
    for (let i = 0; i < opts.rounds; i++) {
      for (const v of list) {
        await takeInstructions(pid, outDir)
        await load(v, opts.requests)
        rounds.get(v.worker)?.push((await takeInstructions(pid, outDir)) / opts.requests)
      }
    }
    return measured.map((v) => {
      const perIsolate = Array.from({ length: isolates }, (_, i) => rounds.get(copyName(v.worker, i + 1)) ?? [])
      const counted = perIsolate.flat()
      opts.log?.(`cost:sockets: ${v.worker}: ${counted.map((r) => Math.round(r)).join(', ')} instructions per request`)
      if (isolates === 1) return { worker: v.worker, median: median(counted), rounds: counted }
      const medians = perIsolate.map(median)
      return { worker: v.worker, median: median(medians), rounds: counted, isolates: medians }
    })
  } finally {
    await cleanUp(steps)
  }
}

/**
 * A gateway worker with an Upstash timeout callgrind cannot reach: under it the first requests of a cold isolate
 * can take longer than the benchmark's second, and three of them would open the breaker and fail the run. The
 * timeout's length costs nothing per request (its timer is set and cleared either way).
 */
export function patientUpstash(worker: V4WorkerOptions): V4WorkerOptions {
  const bindings = worker.bindings
  if (bindings?.UPSTASH_TIMEOUT_MS === undefined) return worker
  return { ...worker, bindings: { ...bindings, UPSTASH_TIMEOUT_MS: String(PATIENT_UPSTASH_TIMEOUT_MS) } }
}
// The most the configuration accepts.
const PATIENT_UPSTASH_TIMEOUT_MS = 10_000

/** The counts as a Markdown table, in thousands of instructions. */
export function renderSocketCost(costs: SocketCost[]): string {
  const k = (n: number) => `${Math.round(n / 1_000).toLocaleString('en-US')}k`
  if (costs.some((c) => c.isolates !== undefined)) {
    const lines = ['| worker | instructions/req | isolates | rounds |', '|---|---|---|---|']
    for (const c of costs) {
      lines.push(
        `| ${c.worker} | ${k(c.median)} | ${(c.isolates ?? []).map(k).join(', ')} | ${c.rounds.map(k).join(', ')} |`,
      )
    }
    return lines.join('\n')
  }
  const lines = ['| worker | instructions/req | rounds |', '|---|---|---|']
  for (const c of costs) lines.push(`| ${c.worker} | ${k(c.median)} | ${c.rounds.map(k).join(', ')} |`)
  return lines.join('\n')
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      warm: { type: 'string' },
      requests: { type: 'string' },
      rounds: { type: 'string' },
      concurrency: { type: 'string' },
      only: { type: 'string' },
      'compare-bundle': { type: 'string' },
      isolates: { type: 'string' },
    },
  })
  const opts: SocketCostOptions = {
    warm: Number(values.warm ?? DEFAULTS.warm),
    requests: Number(values.requests ?? DEFAULTS.requests),
    rounds: Number(values.rounds ?? DEFAULTS.rounds),
    concurrency: Number(values.concurrency ?? DEFAULTS.concurrency),
    only: values.only === undefined ? DEFAULTS.only : values.only.split(','),
    ...(values['compare-bundle'] === undefined ? {} : { compareBundle: path.resolve(values['compare-bundle']) }),
    isolates: Number(values.isolates ?? 1),
    log: (line) => console.log(line),
  }
  for (const [name, value] of [
    ['warm', opts.warm],
    ['requests', opts.requests],
    ['rounds', opts.rounds],
    ['concurrency', opts.concurrency],
    ['isolates', opts.isolates ?? 1],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < (name === 'warm' ? 0 : 1))
      throw new Error(`cost:sockets: --${name} is a whole number`)
  }
  console.log(`\n${renderSocketCost(await runSocketCost(opts))}`)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}

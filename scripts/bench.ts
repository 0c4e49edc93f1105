/**
 * `npm run bench`: edgeward side by side with a bare pass-through worker, a one-Upstash-call floor, a lean
 * hand-written proxy with the proxy's per-request duties and the naive composition of its libraries, in one
 * Miniflare, against one local Upstash server and one echo origin, at +0 ms and +20 ms Upstash latency, then the
 * authenticated path while Upstash hangs. Prints a table per setting and writes docs/PERFORMANCE.md and
 * docs/performance.svg. `--runs N` repeats all of it N times, each run with its own build, Miniflare and servers
 * (so its own isolates), and reads the targets across the runs: ratios on their median, Upstash call counts and the
 * outage's bound on the worst run.
 *
 *   npm run bench -- --rounds 3 --round-ms 4000 --warm-ms 2000 --concurrency 8 --outage-ms 3000 --runs 1
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { calculateJwkThumbprint, importJWK, SignJWT } from 'jose'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { buildWorker, cleanUp, migrate, ROOT } from '../test/node/support/worker.ts'
import { startBenchBackends } from './lib/bench-backends.ts'
import { renderChart } from './lib/bench-chart.ts'
import { renderDocument } from './lib/bench-document.ts'
import { type RoundResult, runRound } from './lib/bench-load.ts'
import { renderTable, summarize, type Table, VARIANT } from './lib/bench-report.ts'
import { runSeveral } from './lib/bench-runs.ts'
import { renderTargetSummaries, summarizeTargets } from './lib/bench-targets.ts'
import {
  BENCH_UPSTASH,
  buildNaiveWorker,
  gatewayAnswerHeaders,
  OUTAGE_TRIP_MS,
  type Variant,
  variants,
  workerOptions,
} from './lib/bench-workers.ts'
import { generateEd25519Jwks } from './lib/keys.ts'
import { withMachine } from './lib/machine-load.ts'
import { childCpuReader } from './lib/process-cpu.ts'
import type { UpstashLocal } from './upstash-local.ts'

export interface BenchOptions {
  rounds: number
  roundMs: number
  /**
   * Unmeasured load per variant before the first round, in ms: V8 compiles a worker's hot code over its first
   * thousands of requests, and a round that measures that says nothing about a warm isolate's cost.
   */
  warmMs: number
  concurrency: number
  /** Added Upstash latencies to measure at, in ms (0 = none). */
  latencies: number[]
  /**
   * How long the authenticated path is measured while Upstash hangs, once the breaker has opened, in ms; 0 leaves
   * the outage out.
   */
  outageMs: number
  log?: (line: string) => void
}

// 4 s rounds keep the default run under three minutes: 8 variants × 2 s of warm-up, then 3 rounds × (8 variants at
// +0 ms + 4 at +20 ms) × 4 s, then the outage (OUTAGE_TRIP_MS + 3 s).
export const DEFAULTS: BenchOptions = {
  rounds: 3,
  roundMs: 4000,
  warmMs: 2000,
  concurrency: 8,
  latencies: [0, 20],
  outageMs: 3000,
}

/** What the authenticated path answers while Upstash cannot be asked: REVOCATION_FAILURE_MODE=closed, the default. */
const OUTAGE_STATUS = 503

/** An access token shaped as src/tokens/mint.ts mints them, valid for the whole run. */
export async function mintToken(privateJwk: object, publicJwk: object): Promise<string> {
  const key = await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA')
  const iat = Math.floor(Date.now() / 1000)
  return new SignJWT({ sid: 'bench-session', scope: '' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: await calculateJwkThumbprint(publicJwk) })
    .setIssuer('edgeward')
    .setAudience('edgeward')
    .setSubject('bench-user')
    .setJti(crypto.randomUUID())
    .setIssuedAt(iat)
    .setExpirationTime(iat + 3600)
    .sign(key)
}

export async function runBench(opts: BenchOptions): Promise<Table[]> {
  assertOutageFits(opts.outageMs)
  const log = opts.log ?? (() => {})
  const outDir = await mkdtemp(path.join(tmpdir(), 'edgeward-bench-'))
  const steps: (() => unknown)[] = [() => rm(outDir, { recursive: true, force: true })]
  try {
    const latency = Math.max(0, ...opts.latencies)
    const [scriptPath, naivePath, { upstash, origin }] = await Promise.all([
      buildWorker(path.join(outDir, 'edgeward')),
      buildNaiveWorker(path.join(outDir, 'naive')),
      startBenchBackends(steps, { slowLatencyMs: latency }),
    ])
    const keys = generateEd25519Jwks()
    const token = await mintToken(keys.privateJwk, keys.publicJwk)
    const env = { scriptPath, naivePath, upstashUrl: upstash.url, upstashToken: upstash.token, originUrl: origin.url }
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        cf: false,
        handleStructuredLogs: () => {},
        workers: workerOptions({ ...env, ...keys, token, answerHeaders: gatewayAnswerHeaders() }),
      }),
    )
    steps.unshift(() => mf.dispose())
    await mf.ready
    await migrate(mf, 'ew-auth')
    const all = variants(token)
    const urls = new Map<string, URL>()
    for (const v of all) urls.set(v.name, await mf.unsafeGetDirectURL(v.worker))
    await firstRequests(all, urls)
    // Steady state before anything is measured (the Upstash counts are reset below, so this load is not counted).
    if (opts.warmMs > 0) {
      for (const v of all) {
        const url = new URL(v.path, urls.get(v.name))
        await runRound({ ...opts, url, headers: v.headers, expectStatus: v.expectStatus, durationMs: opts.warmMs })
      }
    }
    // Every worker runs in this one workerd process, and one variant is loaded at a time.
    const workerdCpu = childCpuReader('workerd')

    const tables: Table[] = []
    // What Upstash's latency cannot change is measured once: a variant that made no Upstash call at +0 ms.
    const quiet = new Set<string>()
    for (const ms of opts.latencies) {
      upstash.setFault(ms > 0 ? 'slow' : 'none')
      if (ms > 0 && ms !== latency) throw new Error('bench: one added latency above 0 per run')
      const list = all.filter((v) => ms === 0 || !quiet.has(v.name))
      for (const v of list) if (v.lane) upstash.resetStats(v.lane)
      const rounds = new Map<string, RoundResult[]>(list.map((v) => [v.name, []]))
      // Interleaved (A B C A B C …), so drift (thermal, a neighbour, Redis growing) spreads over every variant.
      for (let i = 0; i < opts.rounds; i++) {
        for (const v of list) {
          const url = new URL(v.path, urls.get(v.name))
          const cpuBefore = workerdCpu?.()
          const { result, machine } = await withMachine(() =>
            runRound({ ...opts, url, headers: v.headers, expectStatus: v.expectStatus, durationMs: opts.roundMs }),
          )
          if (workerdCpu !== undefined && cpuBefore !== undefined) result.cpuMs = workerdCpu() - cpuBefore
          result.machine = machine
          rounds.get(v.name)?.push(result)
          if (result.firstError) log(`bench: ${v.name}: ${result.errors} errors, first: ${result.firstError}`)
        }
      }
      const rows = list.map((v) =>
        summarize(v.name, rounds.get(v.name) ?? [], v.lane ? upstash.stats(v.lane) : { requests: 0, commands: 0 }),
      )
      const table = { upstashLatencyMs: ms, rows }
      if (ms === 0) for (const r of rows) if (r.callsPerRequest === 0) quiet.add(r.variant)
      log(`\nUpstash latency +${ms} ms (median req/s of ${opts.rounds} rounds)\n${renderTable(table)}`)
      tables.push(table)
    }
    upstash.setFault('none')
    const authenticated = all.find((v) => v.name === VARIANT.authenticated)
    if (opts.outageMs > 0 && authenticated !== undefined) {
      const url = new URL(authenticated.path, urls.get(authenticated.name))
      const load = (expectStatus: number, durationMs: number) =>
        runRound({ ...opts, url, headers: authenticated.headers, expectStatus, durationMs })
      tables.push(await measureOutage(opts, upstash, authenticated, load))
    }
    return tables
  } finally {
    await cleanUp(steps)
  }
}

/**
 * Refuses an outage longer than the breaker's cooldown allows: past it one probe waits on the hung Upstash, which
 * is no longer the breaker-open state the outage measures.
 */
export function assertOutageFits(outageMs: number): void {
  const most = BENCH_UPSTASH.breakerCooldownSeconds * 1000 - OUTAGE_TRIP_MS - 1
  if (!(outageMs >= 0 && outageMs <= most)) {
    throw new Error(`bench: --outage-ms is between 0 and ${most} (the breaker's cooldown less the unmeasured start)`)
  }
}

/** The outage's Upstash side: the fault and the counters of one lane. */
export type OutageUpstash = Pick<UpstashLocal, 'setFault' | 'resetStats' | 'stats'>

/**
 * The authenticated path while its Upstash lane hangs (accepts the request, never answers), measured after the
 * breaker has opened: every answer should be the fail-closed 503 without an Upstash call or a wait for its timeout.
 * `load` drives the variant for a duration (runRound in the benchmark); the lane's fault is cleared however it ends.
 */
export async function measureOutage(
  opts: Pick<BenchOptions, 'outageMs' | 'log'>,
  upstash: OutageUpstash,
  v: Variant,
  load: (expectStatus: number, durationMs: number) => Promise<RoundResult>,
): Promise<Table> {
  const { lane } = v
  if (lane === undefined) throw new Error(`bench: ${v.name} has no Upstash lane to break`)
  assertOutageFits(opts.outageMs)
  upstash.setFault('hang', undefined, lane)
  try {
    await load(OUTAGE_STATUS, OUTAGE_TRIP_MS)
    upstash.resetStats(lane)
    const workerdCpu = childCpuReader('workerd')
    const cpuBefore = workerdCpu?.()
    const { result, machine } = await withMachine(() => load(OUTAGE_STATUS, opts.outageMs))
    if (workerdCpu !== undefined && cpuBefore !== undefined) result.cpuMs = workerdCpu() - cpuBefore
    result.machine = machine
    if (result.firstError)
      opts.log?.(`bench: ${v.name} during the outage: ${result.errors} errors, first: ${result.firstError}`)
    const table: Table = {
      upstashLatencyMs: 0,
      fault: 'hang',
      rows: [summarize(v.name, [result], upstash.stats(lane))],
    }
    opts.log?.(`\nUpstash hanging, breaker open (${opts.outageMs} ms)\n${renderTable(table)}`)
    return table
  } finally {
    upstash.setFault('none', undefined, lane)
  }
}

// Three requests each first: each answers as it must, and the blocked address spends its single allowed request.
async function firstRequests(list: Variant[], urls: Map<string, URL>): Promise<void> {
  for (const v of list) {
    for (let i = 0; i < 3; i++) {
      const res = await fetch(new URL(v.path, urls.get(v.name)), { headers: v.headers })
      await res.arrayBuffer()
      if (i === 2 && res.status !== v.expectStatus) {
        throw new Error(`bench: ${v.name} answered ${res.status} after warm-up, expected ${v.expectStatus}`)
      }
    }
  }
}

/** The chart's file name, next to the document. */
const CHART = 'performance.svg'

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      'round-ms': { type: 'string' },
      'warm-ms': { type: 'string' },
      concurrency: { type: 'string' },
      'outage-ms': { type: 'string' },
      runs: { type: 'string' },
      out: { type: 'string' },
    },
  })
  const runs = Number(values.runs ?? 1)
  const opts: BenchOptions = {
    ...DEFAULTS,
    rounds: Number(values.rounds ?? DEFAULTS.rounds),
    roundMs: Number(values['round-ms'] ?? DEFAULTS.roundMs),
    warmMs: Number(values['warm-ms'] ?? DEFAULTS.warmMs),
    concurrency: Number(values.concurrency ?? DEFAULTS.concurrency),
    outageMs: Number(values['outage-ms'] ?? DEFAULTS.outageMs),
    log: (line) => console.log(line),
  }
  const started = performance.now()
  const { runs: all, stopped } = await runSeveral(
    runs,
    () => runBench(opts),
    (line) => console.log(line),
  )
  const elapsedMs = performance.now() - started
  const args = process.argv.slice(2)
  const doc = renderDocument(
    all,
    { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, date: new Date().toISOString() },
    {
      ...opts,
      command: `npm run bench${args.length ? ` -- ${args.join(' ')}` : ''}`,
      elapsedMs,
      chart: CHART,
      stopped,
    },
  )
  const out = values.out ?? path.join(ROOT, 'docs/PERFORMANCE.md')
  const chart = path.join(path.dirname(out), CHART)
  await Promise.all([writeFile(out, doc), writeFile(chart, renderChart(all.at(-1) ?? []))])
  if (all.length > 1)
    console.log(`\nTargets across the ${all.length} runs\n${renderTargetSummaries(summarizeTargets(all))}`)
  const wrote = [out, chart].map((f) => path.relative(process.cwd(), f)).join(' and ')
  console.log(`\nbench: ${(elapsedMs / 1000).toFixed(1)} s; wrote ${wrote}`)
  if (stopped !== undefined) {
    console.error(`bench: ${stopped}`)
    process.exitCode = 1
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}

/**
 * `npm run profile`: a CPU profile of one of the benchmark's gateway paths, taken inside workerd by V8's sampling
 * profiler through the runtime's inspector, under the benchmark's load (closed-loop keep-alive clients, the local
 * Upstash server over a real redis-server, the echo origin, all on loopback). The bundle is built as wrangler
 * builds it but unminified, so frames keep their names and map to src/ files. Writes the `.cpuprofile` (Chrome
 * DevTools' Performance panel or speedscope open it) and prints the functions with the most samples.
 *
 *   npm run profile -- --worker ew-auth --seconds 10 --out edgeward-auth.cpuprofile
 *
 * The profiler slows the isolate down (each sample interrupts it), so read shares, not absolute times; the
 * benchmark and `npm run cost` measure the cost.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { buildWorker, cleanUp, migrate, ROOT } from '../test/node/support/worker.ts'
import { mintToken } from './bench.ts'
import { startBenchBackends } from './lib/bench-backends.ts'
import { runRound } from './lib/bench-load.ts'
import { GATEWAY_LIMITS, gatewayWorker, variants } from './lib/bench-workers.ts'
import {
  bundleSources,
  type CpuProfile,
  type ProfileSummary,
  renderProfileRows,
  summarizeProfile,
} from './lib/cpu-profile.ts'
import { generateEd25519Jwks } from './lib/keys.ts'

export interface ProfileOptions {
  /** One of the benchmark's gateway workers: `ew-auth`, `ew-public`, `ew-public-local`, `ew-blocked`. */
  worker: string
  /** How long the profiled load runs, in ms. */
  durationMs: number
  /** Unmeasured load first, in ms, so the profile shows optimized code rather than its compilation. */
  warmMs: number
  /** V8's sampling interval, in µs. */
  intervalUs: number
  concurrency: number
}

export const DEFAULTS: ProfileOptions = {
  worker: 'ew-public-local',
  durationMs: 10_000,
  warmMs: 3_000,
  intervalUs: 250,
  concurrency: 8,
}
/** Bounds on the run, so a typo cannot start an hour of load. */
const MAX_DURATION_MS = 120_000

export interface ProfileRun {
  profile: CpuProfile
  summary: ProfileSummary
  /** Requests answered while the profiler ran, and those with another status than the path's. */
  requests: number
  errors: number
}

/**
 * A wrangler configuration building the same worker unminified: wrangler.toml with `main` made absolute (the copy
 * lives elsewhere) and `minify = false`. Throws if either line is not where it is expected, rather than profile a
 * bundle built another way.
 */
export function unminifiedConfig(toml: string, root: string): string {
  const main = /^main = "([^"]+)"$/m
  const minify = /^minify = true$/m
  const entry = main.exec(toml)?.[1]
  if (entry === undefined || !minify.test(toml))
    throw new Error('profile: wrangler.toml has no `main` or `minify = true` line')
  return toml.replace(main, `main = ${JSON.stringify(path.resolve(root, entry))}`).replace(minify, 'minify = false')
}

/** How long one inspector command may take (stopping a long profile serialises it). */
const COMMAND_TIMEOUT_MS = 60_000

/**
 * Sends CDP commands to one inspector target and resolves with their results; a command fails, rather than waits
 * for ever, when the socket closes or errs or the runtime does not answer in time.
 */
async function inspector(url: string) {
  const socket = new WebSocket(url)
  await new Promise((resolve, reject) => {
    socket.addEventListener('open', resolve, { once: true })
    socket.addEventListener('error', () => reject(new Error(`profile: cannot reach the inspector at ${url}`)), {
      once: true,
    })
  })
  let next = 0
  const pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
  const failAll = (why: string) => {
    for (const waiter of pending.values()) waiter.reject(new Error(`profile: the inspector ${why}`))
    pending.clear()
  }
  socket.addEventListener('close', () => failAll('closed its connection'))
  socket.addEventListener('error', () => failAll('connection failed'))
  socket.addEventListener('message', (event) => {
    const message = JSON.parse(String(event.data)) as { id?: number; result?: unknown; error?: { message: string } }
    const waiter = message.id === undefined ? undefined : pending.get(message.id)
    if (waiter === undefined) return
    pending.delete(message.id as number)
    if (message.error) waiter.reject(new Error(`profile: ${message.error.message}`))
    else waiter.resolve(message.result)
  })
  return {
    send<T>(method: string, params: object = {}): Promise<T> {
      const id = ++next
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`profile: the inspector did not answer ${method} in ${COMMAND_TIMEOUT_MS / 1000} s`))
        }, COMMAND_TIMEOUT_MS)
        const settle =
          <V>(f: (v: V) => void) =>
          (v: V) => {
            clearTimeout(timer)
            f(v)
          }
        pending.set(id, { resolve: settle(resolve as (v: unknown) => void), reject: settle(reject) })
        socket.send(JSON.stringify({ id, method, params }))
      })
    },
    close: () => socket.close(),
  }
}

export async function runProfile(opts: ProfileOptions): Promise<ProfileRun> {
  if (GATEWAY_LIMITS[opts.worker] === undefined) {
    throw new Error(`profile: --worker is one of ${Object.keys(GATEWAY_LIMITS).join(', ')}`)
  }
  if (!(opts.durationMs > 0 && opts.durationMs <= MAX_DURATION_MS)) {
    throw new Error(`profile: the duration is between 1 ms and ${MAX_DURATION_MS / 1000} s`)
  }
  const outDir = await mkdtemp(path.join(tmpdir(), 'edgeward-profile-'))
  const steps: (() => unknown)[] = [() => rm(outDir, { recursive: true, force: true })]
  try {
    const config = path.join(outDir, 'wrangler.toml')
    await writeFile(config, unminifiedConfig(await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8'), ROOT))
    const [scriptPath, { upstash, origin }] = await Promise.all([
      buildWorker(path.join(outDir, 'bundle'), config),
      startBenchBackends(steps),
    ])
    const keys = generateEd25519Jwks()
    const env = { scriptPath, upstashUrl: upstash.url, upstashToken: upstash.token, originUrl: origin.url, ...keys }
    const mf = new Miniflare(
      convertV4MiniflareOptions({
        cf: false,
        inspectorPort: 0,
        handleStructuredLogs: () => {},
        workers: [gatewayWorker(env, opts.worker)],
      }),
    )
    steps.unshift(() => mf.dispose())
    await mf.ready
    await migrate(mf, opts.worker)
    const variant = variants(await mintToken(keys.privateJwk, keys.publicJwk)).find((v) => v.worker === opts.worker)
    if (variant === undefined) throw new Error(`profile: no benchmark path for ${opts.worker}`)
    const load = async (durationMs: number) =>
      runRound({
        url: new URL(variant.path, await mf.unsafeGetDirectURL(opts.worker)),
        headers: variant.headers,
        expectStatus: variant.expectStatus,
        concurrency: opts.concurrency,
        durationMs,
      })
    // The blocked path's first request spends its limit here, like every other path's compilation.
    if (opts.warmMs > 0) await load(opts.warmMs)

    const inspectorUrl = await mf.getInspectorURL()
    const listUrl = new URL('/json/list', inspectorUrl.href.replace(/^ws/, 'http'))
    const targets = (await (await fetch(listUrl)).json()) as { webSocketDebuggerUrl: string }[]
    const target = targets.find((t) => t.webSocketDebuggerUrl.endsWith(`/core:user:${opts.worker}`))
    if (target === undefined) throw new Error(`profile: workerd's inspector lists no isolate for ${opts.worker}`)
    const cdp = await inspector(target.webSocketDebuggerUrl)
    steps.unshift(() => cdp.close())
    await cdp.send('Profiler.enable')
    await cdp.send('Profiler.setSamplingInterval', { interval: opts.intervalUs })
    await cdp.send('Profiler.start')
    const round = await load(opts.durationMs)
    const { profile } = await cdp.send<{ profile: CpuProfile }>('Profiler.stop')

    const bundle = await readFile(scriptPath, 'utf8')
    const bundleName = path.basename(scriptPath)
    const summary = summarizeProfile(
      profile,
      (url) => url === bundleName || url.endsWith(`/${bundleName}`),
      // esbuild's markers are relative to the build's directory (the configuration's copy).
      bundleSources(bundle, (marker) => path.relative(ROOT, path.resolve(outDir, marker))),
    )
    return { profile, summary, requests: round.requests, errors: round.errors }
  } finally {
    await cleanUp(steps)
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      worker: { type: 'string' },
      seconds: { type: 'string' },
      'warm-ms': { type: 'string' },
      'interval-us': { type: 'string' },
      concurrency: { type: 'string' },
      top: { type: 'string' },
      out: { type: 'string' },
    },
  })
  const opts: ProfileOptions = {
    worker: values.worker ?? DEFAULTS.worker,
    durationMs: Number(values.seconds ?? DEFAULTS.durationMs / 1000) * 1000,
    warmMs: Number(values['warm-ms'] ?? DEFAULTS.warmMs),
    intervalUs: Number(values['interval-us'] ?? DEFAULTS.intervalUs),
    concurrency: Number(values.concurrency ?? DEFAULTS.concurrency),
  }
  const run = await runProfile(opts)
  const out = path.resolve(values.out ?? path.join(tmpdir(), `edgeward-${opts.worker}.cpuprofile`))
  await writeFile(out, JSON.stringify(run.profile))
  const { summary } = run
  console.log(
    `${opts.worker}: ${run.requests} requests (${run.errors} with another status) in ${opts.durationMs / 1000} s; ` +
      `the isolate was busy ${summary.busyMs.toFixed(0)} ms, ${((1000 * summary.busyMs) / Math.max(1, run.requests)).toFixed(0)} µs ` +
      'per request with the profiler on (it slows the isolate: compare shares, not times)\n',
  )
  console.log(renderProfileRows(summary.rows.slice(0, Number(values.top ?? 30))))
  console.log(`\nprofile: wrote ${out} (open it in Chrome DevTools' Performance panel or https://www.speedscope.app)`)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}

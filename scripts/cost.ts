/**
 * `npm run cost`: instructions per request, counted by valgrind's callgrind in workerd, for the paths `npm run bench`
 * times (and the bare and lean baselines), plus the runtime operations they are made of. Where the benchmark's
 * req/s and CPU time swing by 20–40 % on a shared machine with the neighbours' load, these counts do not see it;
 * only the runtime's own background work moves a round, and the median of the rounds leaves it out. Writes
 * docs/COST.md.
 *
 *   npm run cost -- --requests 200 --rounds 5 --warm 1000
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type { V4WorkerOptions } from 'miniflare'
import { cleanUp, ROOT } from '../test/node/support/worker.ts'
import { median } from './lib/bench-load.ts'
import {
  type CallgrindGroup,
  callgrindAvailable,
  startCallgrindGroup,
  takeInstructions,
  writeCallgrindWorkerd,
} from './lib/callgrind.ts'
import { renderCostDocument } from './lib/cost-document.ts'
import { COST_OPS } from './lib/cost-ops.ts'
import { type CostScenario, costWorkerName, prepareCostWorkers } from './lib/cost-workers.ts'

export interface CostOptions {
  /** Requests each worker serves before it is counted: V8 has compiled its hot code by then. */
  warm: number
  /** Requests per counted round, and rounds per scenario (the median is reported). */
  requests: number
  rounds: number
  /** Repetitions of each operation in the operations table; 0 leaves the table out. */
  opIterations: number
  /** The scenarios to measure, by name. @default all of them */
  only?: string[]
  log?: (line: string) => void
}

// About 6 minutes on a 2-core machine: two workerd processes under valgrind, one per core. Five rounds, as a
// collection or compilation landing in one round moves it by 10-20 %: the median of five leaves out two such rounds.
export const DEFAULTS: CostOptions = { warm: 1000, requests: 200, rounds: 5, opIterations: 1000 }

export interface ScenarioCost {
  name: string
  /** Median of the rounds. */
  instructionsPerRequest: number
  rounds: number[]
}

export interface CostResult {
  scenarios: ScenarioCost[]
  ops: { name: string; description: string; instructions: number }[]
}

async function serve(group: CallgrindGroup, worker: string, body: object): Promise<Record<string, number>> {
  // Miniflare types the fetcher with its own Request and Response; the harness needs only status and text.
  const fetcher = (await group.mf.getWorker(worker)) as unknown as {
    fetch(url: string, init: { method: string; body: string }): Promise<Response>
  }
  const res = await fetcher.fetch('http://127.0.0.1/', { method: 'POST', body: JSON.stringify(body) })
  const text = await res.text()
  if (!res.ok) throw new Error(`cost: ${worker} answered ${res.status}: ${text.slice(0, 300)}`)
  return JSON.parse(text) as Record<string, number>
}

async function measureScenario(
  group: CallgrindGroup,
  dir: string,
  s: CostScenario,
  opts: CostOptions,
): Promise<ScenarioCost> {
  const ask = (n: number) => serve(group, costWorkerName(s), { n, path: s.path, headers: s.headers })
  await ask(opts.warm)
  await takeInstructions(group.pid, dir)
  const rounds: number[] = []
  for (let i = 0; i < opts.rounds; i++) {
    const statuses = await ask(opts.requests)
    const instructions = await takeInstructions(group.pid, dir)
    if (statuses[String(s.expectStatus)] !== opts.requests) {
      throw new Error(`cost: ${s.name} answered ${JSON.stringify(statuses)}, expected ${s.expectStatus} every time`)
    }
    rounds.push(instructions / opts.requests)
  }
  opts.log?.(`cost: ${s.name}: ${rounds.map((r) => Math.round(r)).join(', ')} instructions per request`)
  return { name: s.name, instructionsPerRequest: median(rounds), rounds }
}

async function measureOps(group: CallgrindGroup, dir: string, opts: CostOptions): Promise<CostResult['ops']> {
  const ops: CostResult['ops'] = []
  for (const { name, description } of COST_OPS) {
    const run = async (k: number) => {
      await serve(group, 'ops', { op: name, k })
      return takeInstructions(group.pid, dir)
    }
    await run(opts.opIterations) // compiles the loop
    // k and 2k repetitions, rather than none and k: both requests then do the same work around the loop. The
    // runtime's background work (a major collection, a compilation) lands in one request of a pair now and then:
    // the median of three pairs leaves it out.
    const differences: number[] = []
    for (let i = 0; i < 3; i++) {
      const single = await run(opts.opIterations)
      differences.push((await run(2 * opts.opIterations)) - single)
    }
    ops.push({ name, description, instructions: Math.max(0, median(differences) / opts.opIterations) })
  }
  return ops
}

export async function runCost(opts: CostOptions): Promise<CostResult> {
  if (!callgrindAvailable()) {
    throw new Error('cost: needs valgrind (Debian: apt-get install -y valgrind), which provides callgrind_control')
  }
  const outDir = await mkdtemp(path.join(tmpdir(), 'edgeward-cost-'))
  const steps: (() => unknown)[] = [() => rm(outDir, { recursive: true, force: true })]
  try {
    const prepared = await prepareCostWorkers(outDir)
    const scenarios = prepared.scenarios.filter((s) => opts.only === undefined || opts.only.includes(s.name))
    const withOps = opts.opIterations > 0
    // Two workerd processes, one per core: the scenarios alternate between them, the operations go to the second.
    const halves = [scenarios.filter((_, i) => i % 2 === 0), scenarios.filter((_, i) => i % 2 === 1)]
    const wrapper = await writeCallgrindWorkerd(outDir)
    const groups: (CallgrindGroup | undefined)[] = []
    for (const [i, half] of halves.entries()) {
      const list = half.map((s) => prepared.workers.get(s.name) as V4WorkerOptions)
      if (i === 1 && withOps) list.push(prepared.ops)
      groups.push(list.length === 0 ? undefined : await startCallgrindGroup(list, wrapper, steps))
    }
    const measured = await Promise.all(
      halves.map(async (half, i) => {
        const group = groups[i]
        if (group === undefined) return { costs: [], ops: [] }
        const costs: ScenarioCost[] = []
        for (const s of half) costs.push(await measureScenario(group, outDir, s, opts))
        return { costs, ops: i === 1 && withOps ? await measureOps(group, outDir, opts) : [] }
      }),
    )
    const byName = new Map(measured.flatMap((m) => m.costs).map((c) => [c.name, c]))
    return {
      scenarios: scenarios.map((s) => byName.get(s.name) as ScenarioCost),
      ops: measured.flatMap((m) => m.ops),
    }
  } finally {
    await cleanUp(steps)
  }
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      warm: { type: 'string' },
      requests: { type: 'string' },
      rounds: { type: 'string' },
      'op-iterations': { type: 'string' },
      out: { type: 'string' },
    },
  })
  const opts: CostOptions = {
    warm: Number(values.warm ?? DEFAULTS.warm),
    requests: Number(values.requests ?? DEFAULTS.requests),
    rounds: Number(values.rounds ?? DEFAULTS.rounds),
    opIterations: Number(values['op-iterations'] ?? DEFAULTS.opIterations),
    log: (line) => console.log(line),
  }
  const started = performance.now()
  const result = await runCost(opts)
  const elapsedMs = performance.now() - started
  const args = process.argv.slice(2)
  const doc = renderCostDocument(result, {
    ...opts,
    command: `npm run cost${args.length ? ` -- ${args.join(' ')}` : ''}`,
    elapsedMs,
    machine: {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      node: process.version,
      date: new Date().toISOString(),
    },
  })
  const out = values.out ?? path.join(ROOT, 'docs/COST.md')
  await writeFile(out, doc)
  console.log(`\n${doc}\ncost: ${(elapsedMs / 1000).toFixed(1)} s; wrote ${path.relative(process.cwd(), out)}`)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err)
    process.exit(1)
  })
}

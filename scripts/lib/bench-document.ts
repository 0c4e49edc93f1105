/**
 * docs/PERFORMANCE.md as `npm run bench` writes it: the setting, the targets, the chart and the tables; over several
 * runs (`--runs N`), the targets read across them and every run's tables.
 */
import { median } from './bench-load.ts'
import { fixed, ratio, renderTable, settingName, type Table, VARIANT } from './bench-report.ts'
import { evaluateTargets, renderTargetSummaries, renderTargets, summarizeTargets } from './bench-targets.ts'
import { BENCH_UPSTASH, OUTAGE_TRIP_MS } from './bench-workers.ts'

export interface Machine {
  cores: number
  cpu: string
  node: string
  date: string
}

export interface RunSettings {
  rounds: number
  roundMs: number
  /** Unmeasured load per variant before the first round. */
  warmMs: number
  concurrency: number
  /** How long the outage was measured, once the breaker had opened. */
  outageMs: number
  command: string
  elapsedMs: number
  /** The chart's file name, relative to the document. */
  chart: string
  /** Why the command stopped before its last run, when it did: the document then reads the runs that finished. */
  stopped?: string | undefined
}

/** The variants of the first table that a later one lacks: measured once, as Upstash's latency cannot change them. */
function measuredOnce(tables: Table[]): { variants: string[]; latencies: number[] } {
  const [first, ...later] = tables
  if (!first) return { variants: [], latencies: [] }
  const variants = first.rows
    .map((r) => r.variant)
    .filter((v) => later.some((t) => !t.rows.some((r) => r.variant === v)))
  return { variants, latencies: later.map((t) => t.upstashLatencyMs) }
}

/** What the outage measures: once per document, whatever the number of runs. */
function outageText(settings: RunSettings): string {
  return `Upstash accepts every request of the authenticated path's lane and answers none (the local server's \`hang\`
fault). Its first requests wait the gateway's \`UPSTASH_TIMEOUT_MS\` (${BENCH_UPSTASH.timeoutMs} ms) each and open the
breaker (\`RATE_LIMIT_BREAKER_THRESHOLD\`, ${BENCH_UPSTASH.breakerThreshold} failures in a row); after ${OUTAGE_TRIP_MS} ms of that,
unmeasured, the path is measured for ${settings.outageMs} ms, well within the breaker's cooldown
(\`RATE_LIMIT_BREAKER_COOLDOWN_SECONDS\`, ${BENCH_UPSTASH.breakerCooldownSeconds} s), so no probe falls in it. Every answer must have status 503, the fail-closed answer of
\`REVOCATION_FAILURE_MODE=closed\` (\`revocation_unavailable\`); any other status is counted as an error. The Upstash
calls are counted as above.`
}

/** One run's outage table, with its slowest answer. */
function outageTable(table: Table): string {
  return `The slowest answer took ${fixed(table.rows[0]?.maxMs ?? Number.NaN, 1)} ms.\n\n${renderTable(table)}\n`
}

/** The setting a table was measured at, as the machine section names it. */
const settingOf = (table: Table) => settingName(table.fault, table.upstashLatencyMs)

function machineSection(runs: Table[][]): string {
  const several = runs.length > 1
  const head = ['Upstash', 'variant', 'slowest answer ms', "driver's longest pause ms", 'CPU stolen, worst round %']
  if (several) head.unshift('run')
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const [i, tables] of runs.entries()) {
    for (const table of tables) {
      for (const r of table.rows) {
        const cells = [
          ...(several ? [String(i + 1)] : []),
          settingOf(table),
          r.variant,
          fixed(r.maxMs ?? Number.NaN, 1),
          fixed(r.driverPauseMs ?? Number.NaN, 1),
        ]
        lines.push(`| ${[...cells, fixed(r.stealPercent ?? Number.NaN, 1)].join(' | ')} |`)
      }
    }
  }
  return `## The machine during the ${several ? 'runs' : 'run'}

What the machine itself did while each variant was measured, so a slow machine is not read as a slow gateway.
*Driver's longest pause* is how late the load driver's event loop ran at worst in any round (node's
\`monitorEventLoopDelay\`, sampled every 10 ms): the driver, the Upstash server and the origin share that loop, so
a pause there delays every answer in flight, and a slowest answer close to it says more about this process than
about the gateway. *CPU stolen* is the share of the machine's CPU time the hypervisor gave to other guests in the
worst round (Linux \`/proc/stat\`; n/a elsewhere): rounds with a few percent stolen ran slower for a reason outside
the benchmark.

What neither column shows is the runtime's own pauses. Traced on 2026-12-03 (workerd's V8 flag \`--trace-gc\`,
which Miniflare passes on from \`MINIFLARE_WORKERD_V8_FLAGS\`), a bare worker under this load paused for V8's full
collections: every 2-4 s, each isolate on the request path dropped 14-36 MB of promoted garbage to 0.5 MB in a
\`Mark-Compact\` of 87-170 ms, on workerd's main thread, and every answer in flight waited for it (the answers' stalls
matched the collections one for one, in time and length, while the driver's loop never paused more than a few
milliseconds). So a slowest answer far above the driver's pause, with little CPU stolen, is most likely such a
collection (the trace covered a bare worker at +0 ms only).

${lines.join('\n')}
`
}

function section(table: Table, heading = '##'): string {
  const versusBare = [VARIANT.publicNoUpstash, VARIANT.lean]
    .map((variant) => [variant, ratio(table, variant, VARIANT.bare)] as const)
    .filter(([, value]) => Number.isFinite(value))
    .map(([variant, value]) => `${variant}: req/s ÷ bare = ${fixed(value, 2)}.`)
  const note = versusBare.length > 0 ? `\n\n${versusBare.join(' ')}` : ''
  return `${heading} Upstash latency +${table.upstashLatencyMs} ms\n\n${renderTable(table)}${note}\n`
}

/**
 * The lean proxy's req/s ÷ bare in each run and their median, beside the public route's target: what the proxy's
 * duties alone reach in the same runs. Empty when no run measured it.
 */
function leanAcross(runs: Table[][]): string {
  const all = runs
    .map((tables) => tables.find((t) => t.fault === undefined && t.upstashLatencyMs === 0))
    .map((table) => (table === undefined ? Number.NaN : ratio(table, VARIANT.lean, VARIANT.bare)))
  const values = all.filter(Number.isFinite)
  if (values.length === 0) return ''
  // One entry per run, in order, so the list lines up with the targets' (`fixed` shows n/a for a run without it).
  const each = all.map((v) => fixed(v, 2)).join(', ')
  return `\n\nIn the same runs the *${VARIANT.lean}* (the proxy's per-request duties alone) reached ${each} × bare's req/s at +0 ms, median ${fixed(median(values), 2)}.`
}

/** One run's tables: each Upstash latency, then the outage's, after `outageIntro` when given. */
function runSections(tables: Table[], heading: string, outageIntro?: string): string {
  const outage = tables.find((t) => t.fault === 'hang')
  const latencies = tables.filter((t) => t.fault === undefined).map((t) => section(t, heading))
  if (outage === undefined) return latencies.join('\n')
  const intro = outageIntro === undefined ? '' : `${outageIntro} `
  return `${latencies.join('\n')}\n${heading} Upstash hanging\n\n${intro}${outageTable(outage)}`
}

/**
 * The document of one run (`runs` of one) or of several, which are read together: the targets over every run, then
 * each run's tables. The chart shows the last run.
 */
export function renderDocument(runs: Table[][], machine: Machine, settings: RunSettings): string {
  const tables = runs.at(-1) ?? []
  const several = runs.length > 1
  const latencies = tables.filter((t) => t.fault === undefined)
  const outage = tables.find((t) => t.fault === 'hang')
  const once = measuredOnce(latencies)
  const onceNote = once.variants.length
    ? ` ${once.variants.map((v) => `*${v}*`).join(', ')} made no Upstash call at +${latencies[0]?.upstashLatencyMs} ms, so
they are not measured again at +${once.latencies.join(' and +')} ms: Upstash's latency cannot change them.`
    : ''
  const targets = several
    ? `Read across the ${runs.length} runs.\n\n${renderTargetSummaries(summarizeTargets(runs))}${leanAcross(runs)}`
    : `Computed from this run's tables.\n\n${renderTargets(evaluateTargets(tables))}`
  // Several runs: how the outage is measured, once, then each run's tables under its own heading.
  const howOutage = outage === undefined ? '' : `## How the outage is measured\n\n${outageText(settings)}\n\n`
  const results = several
    ? `${howOutage}${runs.map((run, i) => `## Run ${i + 1} of ${runs.length}\n\n${runSections(run, '###')}`).join('\n')}`
    : runSections(tables, '##', outageText(settings))
  return `# Performance

Generated by \`${settings.command}\` on ${machine.date}${settings.stopped === undefined ? '' : `; ${settings.stopped}`}; do not edit by hand, run it again.

Machine: ${machine.cores} cores, ${machine.cpu}, node ${machine.node}. Run: ${settings.warmMs} ms of unmeasured load
per variant, then ${settings.rounds} interleaved rounds of ${settings.roundMs} ms per variant and latency setting,
${settings.concurrency} concurrent keep-alive clients${several ? `; ${runs.length} such runs one after the other, each with its own build, Miniflare and local servers, so its own isolates` : ''}, ${(settings.elapsedMs / 1000).toFixed(0)} s in all. The
default rounds are 4 s (they were 5 s before the naive and no-Upstash variants came), so the default run stays under
three minutes. The warm-up is there because V8 compiles a worker's hot code over its first thousands of requests:
without it (three requests each, before 2026-12-03), the first rounds measured that compilation (in one such run
the authenticated path's workerd CPU per request fell from 3.4 ms to 1.9 ms over its first five 2 s rounds, the
floor's settled after the first). One run's ratios vary by 20 % or more on a
shared machine (a neighbour's load lands on some rounds, not others, and one isolate's compiled code can run 5-15 %
off another's of the same bundle): ${several ? "so the targets below are read across the runs, a ratio on their median, a count of Upstash calls and the outage's bound on the worst run" : 'read a target against the median of several runs (`--runs N` reads them together), not against this one run alone'}.

What runs: one Miniflare (one workerd) with every worker on its own direct socket, one local Upstash REST server
(\`scripts/upstash-local.ts\` over a real redis-server) and one echo origin (\`scripts/echo-upstream.ts\`), all on
loopback. The load driver, the Upstash server and the origin share one node process, so absolute numbers are low
and machine-bound: read the ratios to the floor, and the calls per request, which do not depend on the machine.
The Upstash server answers with an \`upstash-sync-token\` as Upstash does (since 2026-12-03): \`@upstash/redis\` in
the naive worker sends it back with every call, edgeward only with reads, none of which is on these paths.

- **bare**: a worker that forwards to the origin. What the platform and the origin cost.
- **floor**: bare plus one Upstash call (one MGET) before forwarding: the least any gateway that consults Redis
  per request pays.
- **naive**: what a developer composes without edgeward (\`scripts/lib/bench-naive-worker.ts\`, bundled by
  wrangler): Hono, \`hono/jwt\` verifying the same EdDSA access token (it supports EdDSA; the middleware is built
  per request from a binding, as Hono documents), two \`@upstash/ratelimit\` sliding windows (per address and per
  user, limits out of reach, 1 s timeout, analytics off) and an \`EXISTS\` revocation check on \`@upstash/redis\`,
  one after the other, then the origin.
- **edgeward authenticated**: the built bundle (\`wrangler deploy --dry-run\`), \`GET /api/items\` with a valid
  access token, global and per-user limits on (set out of reach), the \`EVENTS\` Analytics Engine dataset bound
  as in every deployed environment.
- **edgeward public**: \`GET /api/public/catalogue\`, no token, global limit on.
- **edgeward public, no Upstash**: the same route with every rate limit off, so no Upstash call: compared with
  bare, as the public route's own cost.
- **lean proxy**: a reference, not a product: a hand-written worker (\`scripts/lib/bench-workers.ts\`) that does
  only the proxy's per-request duties for that route: the client's headers plus \`X-Forwarded-*\` and a request id
  to the origin, an HMAC-SHA256 identity signature (key imported once), a timeout on the response head, and the
  answer with the gateway's security headers (taken from its middleware), \`Vary: Origin\` and the request id.
  No routing, CORS, limits, body checks, logs, metrics or problem answers. Compared with bare, it shows what those
  duties alone cost here, so *edgeward public, no Upstash* can be read against it as well as against bare.
- **edgeward blocked**: the same route from an address already over a global limit of 1 per day: the 429 path.

Upstash latency: +0 ms is loopback; +20 ms is the local server's \`slow\` fault delaying every Upstash request,
roughly a client in another region than its database. Upstash calls and commands per request are counted by the
server per lane (each variant's worker has its own). p50 and p99 are over every request of every round; req/s is
the median of the rounds. *workerd CPU µs/req* is the user and system time of the one workerd process (all its
threads: HTTP, the isolate, the subrequests) over a round, divided by the round's requests, median of the rounds
(Linux \`/proc\`; n/a elsewhere). At +0 ms workerd is the busy process, so req/s ÷ floor is close to the inverse
ratio of CPU per request; the CPU column is the steadier of the two on a shared machine.${onceNote}

## Targets

${targets}

![req/s ÷ floor per variant and Upstash latency${several ? ', the last run' : ''}](${settings.chart})

${results}
${machineSection(runs)}
## Reproduce

\`\`\`sh
npm install
${settings.command}
\`\`\`
`
}

/** The tables of `npm run bench`: one row per variant and latency setting. */
import { quantile, type RoundResult } from './bench-load.ts'

/** The names of the variants, as they appear in the tables, the targets and the chart. */
export const VARIANT = {
  bare: 'bare',
  floor: 'floor',
  naive: 'naive',
  authenticated: 'edgeward authenticated',
  public: 'edgeward public',
  publicNoUpstash: 'edgeward public, no Upstash',
  lean: 'lean proxy',
  blocked: 'edgeward blocked',
} as const

export interface Row {
  variant: string
  reqPerSec: number
  p50: number
  p99: number
  /** The slowest answer of every round, in ms. */
  maxMs?: number
  /** Upstash HTTP calls and commands per request, from the variant's lane; undefined without a lane. */
  callsPerRequest: number
  commandsPerRequest: number
  /** The runtime's CPU per request (workerd, all its threads), median of the rounds; NaN where not measured. */
  cpuUsPerRequest: number
  errors: number
  /** The largest share of CPU time the hypervisor stole in any round, in percent; NaN where not measured. */
  stealPercent?: number
  /** The load driver's longest event-loop pause in any round, in ms; NaN where not measured. */
  driverPauseMs?: number
}

export interface Table {
  upstashLatencyMs: number
  /**
   * Set on the outage table: Upstash accepted every connection and answered none (the local server's `hang`
   * fault), and the rows were measured once the breaker had opened.
   */
  fault?: 'hang'
  rows: Row[]
}

/** Folds a variant's rounds: req/s is the median round; p50 and p99 are over every latency of every round. */
export function summarize(
  variant: string,
  rounds: RoundResult[],
  upstash: { requests: number; commands: number },
): Row {
  const rates = rounds.map((r) => (r.latencies.length * 1000) / r.durationMs).sort((a, b) => a - b)
  const all = rounds.flatMap((r) => r.latencies).sort((a, b) => a - b)
  const total = rounds.reduce((n, r) => n + r.requests, 0)
  const cpu = rounds
    .map((r) => (r.cpuMs === undefined || r.requests === 0 ? Number.NaN : (r.cpuMs * 1000) / r.requests))
    .filter(Number.isFinite)
    .sort((a, b) => a - b)
  return {
    variant,
    reqPerSec: quantile(rates, 0.5),
    p50: quantile(all, 0.5),
    p99: quantile(all, 0.99),
    maxMs: quantile(all, 1),
    callsPerRequest: total === 0 ? 0 : upstash.requests / total,
    commandsPerRequest: total === 0 ? 0 : upstash.commands / total,
    cpuUsPerRequest: quantile(cpu, 0.5),
    errors: rounds.reduce((n, r) => n + r.errors, 0),
    stealPercent: largest(rounds.map((r) => (r.machine?.stealShare ?? Number.NaN) * 100)),
    driverPauseMs: largest(rounds.map((r) => r.machine?.driverPauseMs ?? Number.NaN)),
  }
}

/** The largest finite value; NaN when there is none. */
function largest(values: number[]): number {
  const finite = values.filter(Number.isFinite)
  return finite.length === 0 ? Number.NaN : Math.max(...finite)
}

/** How the documents name an Upstash setting: `hanging` for the outage, else the added latency (`+20 ms`). */
export const settingName = (fault: 'hang' | undefined, latencyMs: number): string =>
  fault === 'hang' ? 'hanging' : `+${latencyMs} ms`

export const fixed = (n: number, digits: number) => (Number.isFinite(n) ? n.toFixed(digits) : 'n/a')

/** `field` of variant `a` divided by that of variant `b` in `table`; NaN when either row is missing. */
export function ratio(table: Table, a: string, b: string, field: 'reqPerSec' | 'p50' = 'reqPerSec'): number {
  const top = table.rows.find((r) => r.variant === a)
  const bottom = table.rows.find((r) => r.variant === b)
  return top && bottom ? top[field] / bottom[field] : Number.NaN
}

/** A markdown table; ratios are against the `floor` row (the cost of one Upstash round trip plus the origin). */
export function renderTable(table: Table): string {
  const head = [
    'variant',
    'req/s',
    'p50 ms',
    'p99 ms',
    'Upstash calls/req',
    'commands/req',
    'workerd CPU µs/req',
    'req/s ÷ floor',
    'p50 ÷ floor',
    'errors',
  ]
  const lines = [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`]
  for (const r of table.rows) {
    lines.push(
      `| ${[
        r.variant,
        fixed(r.reqPerSec, 0),
        fixed(r.p50, 2),
        fixed(r.p99, 2),
        fixed(r.callsPerRequest, 2),
        fixed(r.commandsPerRequest, 2),
        fixed(r.cpuUsPerRequest, 0),
        fixed(ratio(table, r.variant, VARIANT.floor), 2),
        fixed(ratio(table, r.variant, VARIANT.floor, 'p50'), 2),
        String(r.errors),
      ].join(' | ')} |`,
    )
  }
  return lines.join('\n')
}

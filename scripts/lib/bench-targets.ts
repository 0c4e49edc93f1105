/**
 * The product's performance targets, checked against a run of `npm run bench`: each is one number read from the
 * table of one Upstash latency, compared with a bound. A value is compared as the document shows it (two
 * decimals), so a shown 1.00 never reads "not met" against a bound of 1. Over several runs (`--runs N`) a ratio
 * is read on the runs' median, as single runs of one build spread by 20 % or more on a shared machine; a count of
 * Upstash calls and the outage's bound must hold in every run, so they are read on the worst one.
 */
import { median } from './bench-load.ts'
import { fixed, ratio, settingName, type Table, VARIANT } from './bench-report.ts'

export interface Target {
  /** What is measured, in words. */
  label: string
  /** The variant whose answers it measures: any answer of it with another status than expected fails the target. */
  variant: string
  /** The Upstash latency, in ms, of the table it is read from. */
  latencyMs: number
  /** Read from the outage table (Upstash hanging, breaker open) instead of a latency's. */
  fault?: 'hang'
  comparison: 'at most' | 'at least'
  bound: number
  /**
   * How several runs are read: `median` for a ratio of throughput or latency, which the machine moves from run to
   * run; `worst` for what does not depend on the machine (calls and commands per request) or is a bound on every
   * answer (the outage's p99), where one run missing it is a miss.
   */
  across: 'median' | 'worst'
  /** The measured number; NaN when the table lacks a row it needs. */
  measure(table: Table): number
}

export interface TargetResult {
  target: Target
  /** Undefined when the run has no table at the target's latency or no row it needs. */
  value: number | undefined
  met: boolean | undefined
  /** The variant's answers with another status than expected, in that table. */
  errors: number
}

const perRequest = (variant: string, field: 'callsPerRequest' | 'commandsPerRequest') => (table: Table) =>
  table.rows.find((r) => r.variant === variant)?.[field] ?? Number.NaN

const { authenticated, bare, blocked, floor, publicNoUpstash } = VARIANT

export const TARGETS: Target[] = [
  {
    label: `${authenticated}: Upstash calls per request`,
    variant: authenticated,
    latencyMs: 0,
    across: 'worst',
    comparison: 'at most',
    bound: 1,
    measure: perRequest(authenticated, 'callsPerRequest'),
  },
  {
    label: `${authenticated}: Upstash commands per request`,
    variant: authenticated,
    latencyMs: 0,
    across: 'worst',
    comparison: 'at most',
    bound: 1,
    measure: perRequest(authenticated, 'commandsPerRequest'),
  },
  {
    label: `${blocked}: Upstash calls per request`,
    variant: blocked,
    latencyMs: 0,
    across: 'worst',
    comparison: 'at most',
    bound: 0,
    measure: perRequest(blocked, 'callsPerRequest'),
  },
  {
    label: `${authenticated}: req/s ÷ floor`,
    variant: authenticated,
    latencyMs: 0,
    across: 'median',
    comparison: 'at least',
    bound: 0.6,
    measure: (t) => ratio(t, authenticated, floor),
  },
  {
    label: `${authenticated}: p50 ÷ floor`,
    variant: authenticated,
    latencyMs: 20,
    across: 'median',
    comparison: 'at most',
    bound: 1.1,
    measure: (t) => ratio(t, authenticated, floor, 'p50'),
  },
  {
    label: `${authenticated}: req/s ÷ floor`,
    variant: authenticated,
    latencyMs: 20,
    across: 'median',
    comparison: 'at least',
    bound: 0.9,
    measure: (t) => ratio(t, authenticated, floor),
  },
  {
    label: `${authenticated}: p99 ms once the breaker is open`,
    variant: authenticated,
    latencyMs: 0,
    fault: 'hang',
    across: 'worst',
    comparison: 'at most',
    bound: 100,
    measure: (t) => t.rows.find((r) => r.variant === authenticated)?.p99 ?? Number.NaN,
  },
  {
    label: `${publicNoUpstash}: req/s ÷ bare`,
    variant: publicNoUpstash,
    latencyMs: 0,
    across: 'median',
    comparison: 'at least',
    bound: 0.6,
    measure: (t) => ratio(t, publicNoUpstash, bare),
  },
]

/** Compared as the document shows the value, with two decimals. */
function isMet(target: Target, value: number): boolean {
  const shown = Number(value.toFixed(2))
  return target.comparison === 'at most' ? shown <= target.bound : shown >= target.bound
}

const settingOf = (target: Target) => settingName(target.fault, target.latencyMs)
const goalOf = (target: Target) => `${target.comparison === 'at most' ? '≤' : '≥'} ${target.bound}`
const verdict = (met: boolean | undefined, errors: number) =>
  met === undefined
    ? 'not measured'
    : met
      ? 'met'
      : `**not met**${errors > 0 ? ` (${errors} answers with another status)` : ''}`

export function evaluateTargets(tables: Table[], targets: Target[] = TARGETS): TargetResult[] {
  return targets.map((target) => {
    const table = tables.find((t) => t.upstashLatencyMs === target.latencyMs && t.fault === target.fault)
    const measured = table ? target.measure(table) : Number.NaN
    const value = Number.isFinite(measured) ? measured : undefined
    // A variant that answered otherwise than it must (a 200 where the outage expects a fail-closed 503, a 5xx on
    // the allowed path) fails its target whatever the number of its expected answers says.
    const errors = table?.rows.find((r) => r.variant === target.variant)?.errors ?? 0
    if (errors > 0) return { target, value, met: false, errors }
    if (value === undefined) return { target, value, met: undefined, errors }
    return { target, value, met: isMet(target, value), errors }
  })
}

/** A markdown table of the targets: the bound, the measured value and whether it is met. */
export function renderTargets(results: TargetResult[]): string {
  const lines = ['| target | Upstash | goal | measured | result |', '|---|---|---|---|---|']
  for (const { target, value, met, errors } of results) {
    const shown = value === undefined ? 'n/a' : fixed(value, 2)
    lines.push(`| ${target.label} | ${settingOf(target)} | ${goalOf(target)} | ${shown} | ${verdict(met, errors)} |`)
  }
  return lines.join('\n')
}

export interface TargetSummary {
  target: Target
  /** Each run's value, in run order; undefined where that run did not measure it. */
  values: (number | undefined)[]
  /**
   * What the verdict reads (`Target.across`): the median of the runs that measured it, or the worst run, which needs
   * every run to have measured it; undefined otherwise.
   */
  value: number | undefined
  met: boolean | undefined
  /** The variant's answers with another status than expected, over every run. */
  errors: number
}

/**
 * The value a target's verdict reads from the runs that measured it: their median, over however many did; or the
 * worst, only when every run measured it (a bound that must hold in every run is not met by the runs that lacked it).
 */
function readAcross(target: Target, measured: number[], runs: number): number | undefined {
  if (measured.length === 0) return undefined
  if (target.across === 'median') return median(measured)
  if (measured.length < runs) return undefined
  return target.comparison === 'at most' ? Math.max(...measured) : Math.min(...measured)
}

/** Each target over several runs of the benchmark: every run's value and the verdict on the median or the worst. */
export function summarizeTargets(runs: Table[][], targets: Target[] = TARGETS): TargetSummary[] {
  const perRun = runs.map((tables) => evaluateTargets(tables, targets))
  return targets.map((target, i) => {
    const results = perRun.map((results) => results[i] as TargetResult)
    const values = results.map((r) => r.value)
    const errors = results.reduce((sum, r) => sum + r.errors, 0)
    const measured = values.filter((v): v is number => v !== undefined)
    const value = readAcross(target, measured, values.length)
    if (errors > 0) return { target, values, value, met: false, errors }
    if (value === undefined) return { target, values, value, met: undefined, errors }
    return { target, values, value, met: isMet(target, value), errors }
  })
}

/** A markdown table of the targets over several runs: the bound, each run's value, the value read and the verdict. */
export function renderTargetSummaries(summaries: TargetSummary[]): string {
  const lines = ['| target | Upstash | goal | each run | read on | result |', '|---|---|---|---|---|---|']
  for (const { target, values, value, met, errors } of summaries) {
    const each = values.map((v) => (v === undefined ? 'n/a' : fixed(v, 2))).join(', ')
    const read = value === undefined ? 'n/a' : `${target.across} ${fixed(value, 2)}`
    lines.push(
      `| ${target.label} | ${settingOf(target)} | ${goalOf(target)} | ${each} | ${read} | ${verdict(met, errors)} |`,
    )
  }
  return lines.join('\n')
}

/**
 * The product's performance targets, checked against a run of `npm run bench`: each is one number read from the
 * table of one Upstash latency, compared with a bound. A value is compared as the document shows it (two
 * decimals), so a shown 1.00 never reads "not met" against a bound of 1.
 */
import { fixed, ratio, type Table, VARIANT } from './bench-report.ts'

export interface Target {
  /** What is measured, in words. */
  label: string
  /** The Upstash latency, in ms, of the table it is read from. */
  latencyMs: number
  /** Read from the outage table (Upstash hanging, breaker open) instead of a latency's. */
  fault?: 'hang'
  comparison: 'at most' | 'at least'
  bound: number
  /** The measured number; NaN when the table lacks a row it needs. */
  measure(table: Table): number
}

export interface TargetResult {
  target: Target
  /** Undefined when the run has no table at the target's latency or no row it needs. */
  value: number | undefined
  met: boolean | undefined
}

const perRequest = (variant: string, field: 'callsPerRequest' | 'commandsPerRequest') => (table: Table) =>
  table.rows.find((r) => r.variant === variant)?.[field] ?? Number.NaN

const { authenticated, bare, blocked, floor, publicNoUpstash } = VARIANT

export const TARGETS: Target[] = [
  {
    label: `${authenticated}: Upstash calls per request`,
    latencyMs: 0,
    comparison: 'at most',
    bound: 1,
    measure: perRequest(authenticated, 'callsPerRequest'),
  },
  {
    label: `${authenticated}: Upstash commands per request`,
    latencyMs: 0,
    comparison: 'at most',
    bound: 1,
    measure: perRequest(authenticated, 'commandsPerRequest'),
  },
  {
    label: `${blocked}: Upstash calls per request`,
    latencyMs: 0,
    comparison: 'at most',
    bound: 0,
    measure: perRequest(blocked, 'callsPerRequest'),
  },
  {
    label: `${authenticated}: req/s ÷ floor`,
    latencyMs: 0,
    comparison: 'at least',
    bound: 0.6,
    measure: (t) => ratio(t, authenticated, floor),
  },
  {
    label: `${authenticated}: p50 ÷ floor`,
    latencyMs: 20,
    comparison: 'at most',
    bound: 1.1,
    measure: (t) => ratio(t, authenticated, floor, 'p50'),
  },
  {
    label: `${authenticated}: req/s ÷ floor`,
    latencyMs: 20,
    comparison: 'at least',
    bound: 0.9,
    measure: (t) => ratio(t, authenticated, floor),
  },
  {
    label: `${authenticated}: p99 ms once the breaker is open`,
    latencyMs: 0,
    fault: 'hang',
    comparison: 'at most',
    bound: 100,
    measure: (t) => t.rows.find((r) => r.variant === authenticated)?.p99 ?? Number.NaN,
  },
  {
    label: `${publicNoUpstash}: req/s ÷ bare`,
    latencyMs: 0,
    comparison: 'at least',
    bound: 0.6,
    measure: (t) => ratio(t, publicNoUpstash, bare),
  },
]

export function evaluateTargets(tables: Table[], targets: Target[] = TARGETS): TargetResult[] {
  return targets.map((target) => {
    const table = tables.find((t) => t.upstashLatencyMs === target.latencyMs && t.fault === target.fault)
    const measured = table ? target.measure(table) : Number.NaN
    if (!Number.isFinite(measured)) return { target, value: undefined, met: undefined }
    const shown = Number(measured.toFixed(2))
    const met = target.comparison === 'at most' ? shown <= target.bound : shown >= target.bound
    return { target, value: measured, met }
  })
}

/** A markdown table of the targets: the bound, the measured value and whether it is met. */
export function renderTargets(results: TargetResult[]): string {
  const lines = ['| target | Upstash | goal | measured | result |', '|---|---|---|---|---|']
  for (const { target, value, met } of results) {
    const goal = `${target.comparison === 'at most' ? '≤' : '≥'} ${target.bound}`
    const result = met === undefined ? 'not measured' : met ? 'met' : '**not met**'
    lines.push(
      `| ${target.label} | ${target.fault === 'hang' ? 'hanging' : `+${target.latencyMs} ms`} | ${goal} | ${value === undefined ? 'n/a' : fixed(value, 2)} | ${result} |`,
    )
  }
  return lines.join('\n')
}

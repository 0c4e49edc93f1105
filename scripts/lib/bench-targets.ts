/**
 * The product's performance targets, checked against a run of `npm run bench`: each is one number read from the
 * table of one Upstash latency, compared with a bound. A value is compared as the document shows it (two
 * decimals), so a shown 1.00 never reads "not met" against a bound of 1.
 */
import { fixed, ratio, type Table, VARIANT } from './bench-report.ts'

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
    comparison: 'at most',
    bound: 1,
    measure: perRequest(authenticated, 'callsPerRequest'),
  },
  {
    label: `${authenticated}: Upstash commands per request`,
    variant: authenticated,
    latencyMs: 0,
    comparison: 'at most',
    bound: 1,
    measure: perRequest(authenticated, 'commandsPerRequest'),
  },
  {
    label: `${blocked}: Upstash calls per request`,
    variant: blocked,
    latencyMs: 0,
    comparison: 'at most',
    bound: 0,
    measure: perRequest(blocked, 'callsPerRequest'),
  },
  {
    label: `${authenticated}: req/s ÷ floor`,
    variant: authenticated,
    latencyMs: 0,
    comparison: 'at least',
    bound: 0.6,
    measure: (t) => ratio(t, authenticated, floor),
  },
  {
    label: `${authenticated}: p50 ÷ floor`,
    variant: authenticated,
    latencyMs: 20,
    comparison: 'at most',
    bound: 1.1,
    measure: (t) => ratio(t, authenticated, floor, 'p50'),
  },
  {
    label: `${authenticated}: req/s ÷ floor`,
    variant: authenticated,
    latencyMs: 20,
    comparison: 'at least',
    bound: 0.9,
    measure: (t) => ratio(t, authenticated, floor),
  },
  {
    label: `${authenticated}: p99 ms once the breaker is open`,
    variant: authenticated,
    latencyMs: 0,
    fault: 'hang',
    comparison: 'at most',
    bound: 100,
    measure: (t) => t.rows.find((r) => r.variant === authenticated)?.p99 ?? Number.NaN,
  },
  {
    label: `${publicNoUpstash}: req/s ÷ bare`,
    variant: publicNoUpstash,
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
    const value = Number.isFinite(measured) ? measured : undefined
    // A variant that answered otherwise than it must (a 200 where the outage expects a fail-closed 503, a 5xx on
    // the allowed path) fails its target whatever the number of its expected answers says.
    const errors = table?.rows.find((r) => r.variant === target.variant)?.errors ?? 0
    if (errors > 0) return { target, value, met: false, errors }
    if (value === undefined) return { target, value, met: undefined, errors }
    const shown = Number(value.toFixed(2))
    const met = target.comparison === 'at most' ? shown <= target.bound : shown >= target.bound
    return { target, value, met, errors }
  })
}

/** A markdown table of the targets: the bound, the measured value and whether it is met. */
export function renderTargets(results: TargetResult[]): string {
  const lines = ['| target | Upstash | goal | measured | result |', '|---|---|---|---|---|']
  for (const { target, value, met, errors } of results) {
    const goal = `${target.comparison === 'at most' ? '≤' : '≥'} ${target.bound}`
    const wrong = errors > 0 ? ` (${errors} answers with another status)` : ''
    const result = met === undefined ? 'not measured' : met ? 'met' : `**not met**${wrong}`
    lines.push(
      `| ${target.label} | ${target.fault === 'hang' ? 'hanging' : `+${target.latencyMs} ms`} | ${goal} | ${value === undefined ? 'n/a' : fixed(value, 2)} | ${result} |`,
    )
  }
  return lines.join('\n')
}

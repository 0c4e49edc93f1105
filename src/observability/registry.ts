/**
 * Tiny per-isolate metric primitives (counter, gauge, histogram) and their Prometheus text exposition (0.0.4).
 * Label values come only from enums fixed at definition time, never from a request, so the number of series is
 * bounded and known up front; every series exists (at 0) from the start. No dependency, no I/O.
 */

/** Label name → the only values it may take. */
export type LabelSpec = Readonly<Record<string, readonly string[]>>

/** One value per label of `L`, each from that label's enum. */
export type LabelValues<L extends LabelSpec> = { readonly [K in keyof L]: L[K][number] }

/** Upper bound on series per metric (the product of the label enums' sizes). */
export const MAX_SERIES_PER_METRIC = 1_000

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/

interface MetricOptions<L extends LabelSpec> {
  /** `[a-zA-Z_:][a-zA-Z0-9_:]*`; counters end in `_total` by convention. */
  name: string
  /** One line of text for `# HELP`. */
  help: string
  /** Label names and their allowed values. Omit for a metric without labels. */
  labels?: L
}

export interface HistogramOptions<L extends LabelSpec> extends MetricOptions<L> {
  /** Upper bounds, strictly increasing and finite; `+Inf` is added. */
  buckets: readonly number[]
}

type MetricType = 'counter' | 'gauge' | 'histogram'

interface Metric {
  readonly name: string
  readonly help: string
  readonly type: MetricType
  /** The sample lines of this metric, in a stable order. */
  samples(): string[]
}

/** Holds the metrics of one isolate, in definition order. */
export class MetricRegistry {
  readonly #metrics: Metric[] = []
  readonly #names = new Set<string>()

  counter<const L extends LabelSpec = Record<never, never>>(options: MetricOptions<L>): Counter<L> {
    return this.#add(new Counter(options))
  }

  gauge<const L extends LabelSpec = Record<never, never>>(options: MetricOptions<L>): Gauge<L> {
    return this.#add(new Gauge(options))
  }

  histogram<const L extends LabelSpec = Record<never, never>>(options: HistogramOptions<L>): Histogram<L> {
    return this.#add(new Histogram(options))
  }

  /** The metrics in the order they were defined. */
  get metrics(): readonly Metric[] {
    return this.#metrics
  }

  #add<M extends Metric>(metric: M): M {
    // A histogram also owns name_bucket, name_sum and name_count.
    const owned =
      metric.type === 'histogram' ? ['', '_bucket', '_sum', '_count'].map((s) => metric.name + s) : [metric.name]
    if (owned.some((n) => this.#names.has(n))) throw new TypeError(`metric ${metric.name} is defined twice`)
    for (const n of owned) this.#names.add(n)
    this.#metrics.push(metric)
    return metric
  }
}

/**
 * Prometheus text exposition format 0.0.4 of every metric in `registry`: `# HELP`, `# TYPE`, then one line per
 * sample. Serve it as `text/plain; version=0.0.4; charset=utf-8`.
 * @see https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
 */
export function renderPrometheus(registry: MetricRegistry): string {
  const lines: string[] = []
  for (const metric of registry.metrics) {
    lines.push(`# HELP ${metric.name} ${escapeHelp(metric.help)}`, `# TYPE ${metric.name} ${metric.type}`)
    lines.push(...metric.samples())
  }
  return `${lines.join('\n')}\n`
}

/** A sample value as Prometheus writes it (Go ParseFloat syntax). */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN'
  if (value === Number.POSITIVE_INFINITY) return '+Inf'
  if (value === Number.NEGATIVE_INFINITY) return '-Inf'
  return String(value)
}

/** Label value escaping: backslash, double quote and line feed (the only three the format defines). */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')
}

/** HELP escaping: backslash and line feed. */
function escapeHelp(help: string): string {
  return help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

/** The base of every metric kind: validated names, and one slot per label combination, created up front. */
abstract class LabelledMetric<L extends LabelSpec, Slot> implements Metric {
  readonly name: string
  readonly help: string
  abstract readonly type: MetricType
  readonly #labelNames: string[]
  readonly #allowed: Map<string, Set<string>>
  /** Series key (values joined by NUL) → [rendered label pairs, slot]. */
  readonly #series = new Map<string, { labels: [string, string][]; slot: Slot }>()

  constructor(options: MetricOptions<L>, newSlot: () => Slot, reservedLabels: readonly string[] = []) {
    const labels: LabelSpec = options.labels ?? {}
    if (!METRIC_NAME.test(options.name)) throw new TypeError(`invalid metric name ${JSON.stringify(options.name)}`)
    this.name = options.name
    this.help = options.help
    this.#labelNames = Object.keys(labels)
    this.#allowed = new Map()
    let combinations = 1
    for (const label of this.#labelNames) {
      const values = labels[label] ?? []
      if (!LABEL_NAME.test(label) || label.startsWith('__') || reservedLabels.includes(label)) {
        throw new TypeError(`${options.name}: invalid label name ${JSON.stringify(label)}`)
      }
      if (values.length === 0 || new Set(values).size !== values.length) {
        throw new TypeError(`${options.name}: label ${label} needs a non-empty list of distinct values`)
      }
      this.#allowed.set(label, new Set(values))
      combinations *= values.length
    }
    if (combinations > MAX_SERIES_PER_METRIC) {
      throw new TypeError(`${options.name}: ${combinations} label combinations exceed ${MAX_SERIES_PER_METRIC}`)
    }
    for (const values of cartesian(this.#labelNames.map((l) => labels[l] ?? []))) {
      this.#series.set(values.join('\0'), {
        labels: this.#labelNames.map((l, i) => [l, values[i] ?? ''] as [string, string]),
        slot: newSlot(),
      })
    }
  }

  /** The slot of a label combination. A value outside its enum is a programming error (TypeError). */
  protected slot(values: LabelValues<L>): Slot {
    const given = values as Record<string, string>
    // The values joined by NUL, built without an array: this runs for every count of every request.
    const names = this.#labelNames
    let key = ''
    for (let i = 0; i < names.length; i++) {
      const label = names[i] as string
      const value = given[label]
      if (value === undefined || !this.#allowed.get(label)?.has(value)) {
        throw new TypeError(`${this.name}: label ${label} does not allow ${JSON.stringify(value)}`)
      }
      key = i === 0 ? value : `${key}\0${value}`
    }
    const series = this.#series.get(key)
    if (series === undefined || Object.keys(given).length !== this.#labelNames.length) {
      throw new TypeError(`${this.name}: expected exactly the labels ${this.#labelNames.join(', ') || '(none)'}`)
    }
    return series.slot
  }

  /** Every series in definition order of its label values. */
  protected series(): Iterable<{ labels: [string, string][]; slot: Slot }> {
    return this.#series.values()
  }

  abstract samples(): string[]
}

/** A monotonically increasing count. */
export class Counter<L extends LabelSpec> extends LabelledMetric<L, { value: number }> {
  readonly type = 'counter'

  constructor(options: MetricOptions<L>) {
    super(options, () => ({ value: 0 }))
  }

  /** Adds `by` (default 1; finite and ≥ 0) to the series of `labels`. */
  inc(labels: LabelValues<L>, by = 1): void {
    if (!Number.isFinite(by) || by < 0) throw new TypeError(`${this.name}: a counter only goes up (got ${by})`)
    this.slot(labels).value += by
  }

  /** The current value of one series (for tests and derived gauges). */
  get(labels: LabelValues<L>): number {
    return this.slot(labels).value
  }

  samples(): string[] {
    return [...this.series()].map(({ labels, slot }) => sample(this.name, labels, slot.value))
  }
}

/** A value that goes up and down. */
export class Gauge<L extends LabelSpec> extends LabelledMetric<L, { value: number }> {
  readonly type = 'gauge'

  constructor(options: MetricOptions<L>) {
    super(options, () => ({ value: 0 }))
  }

  /** Sets the series of `labels` to `value`. */
  set(labels: LabelValues<L>, value: number): void {
    this.slot(labels).value = value
  }

  get(labels: LabelValues<L>): number {
    return this.slot(labels).value
  }

  samples(): string[] {
    return [...this.series()].map(({ labels, slot }) => sample(this.name, labels, slot.value))
  }
}

interface HistogramSlot {
  /** Non-cumulative count per bucket; the last entry is the +Inf bucket. */
  counts: number[]
  sum: number
  count: number
}

/** Observations counted into fixed buckets, rendered cumulatively with `_sum` and `_count`. */
export class Histogram<L extends LabelSpec> extends LabelledMetric<L, HistogramSlot> {
  readonly type = 'histogram'
  readonly buckets: readonly number[]

  constructor(options: HistogramOptions<L>) {
    const { buckets } = options
    if (
      buckets.length === 0 ||
      buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] ?? Number.NaN)))
    ) {
      throw new TypeError(`${options.name}: buckets must be finite and strictly increasing`)
    }
    // `le` is the histogram's own label and cannot be declared.
    super(options, () => ({ counts: new Array<number>(buckets.length + 1).fill(0), sum: 0, count: 0 }), ['le'])
    this.buckets = [...buckets]
  }

  /** Records one observation. NaN is ignored (it would poison `_sum`). */
  observe(labels: LabelValues<L>, value: number): void {
    const slot = this.slot(labels)
    if (Number.isNaN(value)) return
    let index = this.buckets.findIndex((upper) => value <= upper)
    if (index === -1) index = this.buckets.length
    slot.counts[index] = (slot.counts[index] ?? 0) + 1
    slot.sum += value
    slot.count += 1
  }

  /** Observations so far in one series (for tests). */
  count(labels: LabelValues<L>): number {
    return this.slot(labels).count
  }

  samples(): string[] {
    const lines: string[] = []
    for (const { labels, slot } of this.series()) {
      let cumulative = 0
      this.buckets.forEach((upper, i) => {
        cumulative += slot.counts[i] ?? 0
        lines.push(sample(`${this.name}_bucket`, [...labels, ['le', formatValue(upper)]], cumulative))
      })
      lines.push(sample(`${this.name}_bucket`, [...labels, ['le', '+Inf']], slot.count))
      lines.push(sample(`${this.name}_sum`, labels, slot.sum), sample(`${this.name}_count`, labels, slot.count))
    }
    return lines
  }
}

function sample(name: string, labels: [string, string][], value: number): string {
  const rendered = labels.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(',')
  return `${name}${rendered ? `{${rendered}}` : ''} ${formatValue(value)}`
}

function cartesian(lists: (readonly string[])[]): string[][] {
  return lists.reduce<string[][]>((acc, list) => acc.flatMap((prefix) => list.map((v) => [...prefix, v])), [[]])
}

import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { escapeLabelValue, formatValue, MAX_SERIES_PER_METRIC, MetricRegistry, renderPrometheus } from './registry'

/**
 * A strict reader of the text exposition format 0.0.4, enough to prove what the registry writes is valid:
 * HELP/TYPE before a family's samples, legal names, `name{label="value",…} value` samples with escapes undone.
 */
function parse(text: string) {
  expect(text.endsWith('\n')).toBe(true)
  const types = new Map<string, string>()
  const samples: { name: string; labels: Record<string, string>; value: number }[] = []
  for (const line of text.slice(0, -1).split('\n')) {
    const comment = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*)$/.exec(line)
    if (comment) {
      if (comment[1] === 'TYPE') {
        expect(comment[3]).toMatch(/^(counter|gauge|histogram|summary|untyped)$/)
        types.set(comment[2] ?? '', comment[3] ?? '')
      } else expect(comment[3]).toMatch(/^(?:[^\\\n]|\\[\\n])*$/)
      continue
    }
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? ([^ ]+)$/.exec(line)
    if (!match) throw new Error(`not a sample line: ${JSON.stringify(line)}`)
    const [, name = '', rawLabels = '', rawValue = ''] = match
    const labels: Record<string, string> = {}
    const labelPattern = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\[\\"n])*)"(,|$)/y
    let rest = rawLabels
    while (rest.length > 0) {
      labelPattern.lastIndex = 0
      const pair = labelPattern.exec(rest)
      if (!pair) throw new Error(`bad labels in ${JSON.stringify(line)}`)
      labels[pair[1] ?? ''] = (pair[2] ?? '').replace(/\\(.)/g, (_, ch: string) => (ch === 'n' ? '\n' : ch))
      rest = rest.slice(pair[0].length)
    }
    expect(rawValue).toMatch(/^(?:[+-]?Inf|NaN|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)$/)
    const family = name.replace(/_(bucket|sum|count)$/, '')
    expect(types.has(name) || types.get(family) === 'histogram').toBe(true)
    const value = rawValue === '+Inf' ? Infinity : rawValue === '-Inf' ? -Infinity : Number(rawValue)
    samples.push({ name, labels, value })
  }
  return { types, samples }
}

describe('MetricRegistry', () => {
  it('renders counters with HELP, TYPE and every label combination from the start', () => {
    const registry = new MetricRegistry()
    const counter = registry.counter({
      name: 'x_requests_total',
      help: 'Requests.',
      labels: { method: ['get', 'post'], class: ['2xx', '4xx'] },
    })
    counter.inc({ method: 'get', class: '2xx' })
    counter.inc({ method: 'get', class: '2xx' }, 2)
    counter.inc({ method: 'post', class: '4xx' })
    expect(renderPrometheus(registry)).toBe(
      [
        '# HELP x_requests_total Requests.',
        '# TYPE x_requests_total counter',
        'x_requests_total{method="get",class="2xx"} 3',
        'x_requests_total{method="get",class="4xx"} 0',
        'x_requests_total{method="post",class="2xx"} 0',
        'x_requests_total{method="post",class="4xx"} 1',
        '',
      ].join('\n'),
    )
  })

  it('renders a metric without labels as a bare name, and gauges go both ways', () => {
    const registry = new MetricRegistry()
    const gauge = registry.gauge({ name: 'x_degraded', help: 'Degraded.' })
    gauge.set({}, 1)
    gauge.set({}, 0.5)
    expect(renderPrometheus(registry)).toBe('# HELP x_degraded Degraded.\n# TYPE x_degraded gauge\nx_degraded 0.5\n')
  })

  it('renders histograms cumulatively with le buckets, +Inf, _sum and _count', () => {
    const registry = new MetricRegistry()
    const h = registry.histogram({ name: 'x_ms', help: 'Latency.', labels: { op: ['a', 'b'] }, buckets: [1, 2.5, 10] })
    for (const v of [0.5, 1, 2, 3, 50]) h.observe({ op: 'a' }, v)
    const lines = renderPrometheus(registry).split('\n')
    expect(lines).toEqual([
      '# HELP x_ms Latency.',
      '# TYPE x_ms histogram',
      'x_ms_bucket{op="a",le="1"} 2',
      'x_ms_bucket{op="a",le="2.5"} 3',
      'x_ms_bucket{op="a",le="10"} 4',
      'x_ms_bucket{op="a",le="+Inf"} 5',
      'x_ms_sum{op="a"} 56.5',
      'x_ms_count{op="a"} 5',
      'x_ms_bucket{op="b",le="1"} 0',
      'x_ms_bucket{op="b",le="2.5"} 0',
      'x_ms_bucket{op="b",le="10"} 0',
      'x_ms_bucket{op="b",le="+Inf"} 0',
      'x_ms_sum{op="b"} 0',
      'x_ms_count{op="b"} 0',
      '',
    ])
    expect(h.count({ op: 'a' })).toBe(5)
  })

  it('keeps histogram buckets monotonic, +Inf equal to _count, for any observations (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.double({ noNaN: false })), (values) => {
        const registry = new MetricRegistry()
        const h = registry.histogram({ name: 'p_ms', help: 'p', buckets: [0, 1, 10, 100] })
        for (const v of values) h.observe({}, v)
        const { samples } = parse(renderPrometheus(registry))
        const buckets = samples.filter((s) => s.name === 'p_ms_bucket').map((s) => s.value)
        const count = samples.find((s) => s.name === 'p_ms_count')?.value
        for (let i = 1; i < buckets.length; i++) expect(buckets[i]).toBeGreaterThanOrEqual(buckets[i - 1] ?? 0)
        expect(buckets.at(-1)).toBe(count)
        expect(count).toBe(values.filter((v) => !Number.isNaN(v)).length)
      }),
    )
  })

  it('escapes backslash, double quote and newline in label values, and HELP text', () => {
    expect(escapeLabelValue('a\\b"c\nd')).toBe('a\\\\b\\"c\\nd')
    const registry = new MetricRegistry()
    const odd = 'a\\b"c\nd} 1\n# TYPE evil counter'
    registry.counter({ name: 'x_total', help: 'line one\nline \\two', labels: { v: [odd] } }).inc({ v: odd })
    const text = renderPrometheus(registry)
    expect(text.split('\n')).toHaveLength(4)
    expect(text).toContain('# HELP x_total line one\\nline \\\\two\n')
    const { samples, types } = parse(text)
    expect(samples).toEqual([{ name: 'x_total', labels: { v: odd }, value: 1 }])
    expect(types.has('evil')).toBe(false)
  })

  it('writes values the way Prometheus reads them', () => {
    expect([0, 1, 1.5, 1e21, 1e-7, Infinity, -Infinity, Number.NaN].map(formatValue)).toEqual([
      '0',
      '1',
      '1.5',
      '1e+21',
      '1e-7',
      '+Inf',
      '-Inf',
      'NaN',
    ])
  })

  it.each([
    ['a label value outside its enum', () => counter().inc({ kind: 'other' as 'a' })],
    ['a missing label', () => counter().inc({} as { kind: 'a' })],
    ['an extra label', () => counter().inc({ kind: 'a', extra: 'x' } as { kind: 'a' })],
    ['a negative increment', () => counter().inc({ kind: 'a' }, -1)],
    ['an infinite increment', () => counter().inc({ kind: 'a' }, Infinity)],
  ])('refuses %s (bounded cardinality: labels come from the enum only)', (_, act) => {
    expect(act).toThrow(TypeError)
  })

  it.each([
    ['an invalid metric name', () => new MetricRegistry().counter({ name: 'x-total', help: '' })],
    ['an invalid label name', () => new MetricRegistry().counter({ name: 'x', help: '', labels: { 'a-b': ['1'] } })],
    ['a reserved label name', () => new MetricRegistry().counter({ name: 'x', help: '', labels: { __a: ['1'] } })],
    ['an empty enum', () => new MetricRegistry().counter({ name: 'x', help: '', labels: { a: [] } })],
    ['a duplicate enum value', () => new MetricRegistry().counter({ name: 'x', help: '', labels: { a: ['1', '1'] } })],
    [
      'le on a histogram',
      () => new MetricRegistry().histogram({ name: 'h', help: '', labels: { le: ['1'] }, buckets: [1] }),
    ],
    ['unsorted buckets', () => new MetricRegistry().histogram({ name: 'h', help: '', buckets: [2, 1] })],
    ['an infinite bucket', () => new MetricRegistry().histogram({ name: 'h', help: '', buckets: [1, Infinity] })],
    [
      'too many label combinations',
      () => {
        const values = Array.from({ length: Math.ceil(Math.sqrt(MAX_SERIES_PER_METRIC)) + 1 }, (_, i) => `${i}`)
        new MetricRegistry().counter({ name: 'x', help: '', labels: { a: values, b: values } })
      },
    ],
    [
      'a name defined twice (histogram series included)',
      () => {
        const registry = new MetricRegistry()
        registry.histogram({ name: 'h', help: '', buckets: [1] })
        registry.counter({ name: 'h_count', help: '' })
      },
    ],
  ])('refuses %s at definition time', (_, define) => {
    expect(define).toThrow(TypeError)
  })
})

function counter() {
  return new MetricRegistry().counter({ name: 'c_total', help: 'c', labels: { kind: ['a', 'b'] } })
}

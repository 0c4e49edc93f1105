/**
 * `npm run bench` end to end at a tiny size: every variant answers, and the Upstash calls per request show what
 * each path costs (the numbers the benchmark exists to report), not only that a table comes out.
 */
import { describe, expect, it } from 'vitest'
import { runBench } from './bench.ts'
import { renderTable } from './lib/bench-report.ts'

describe('npm run bench', () => {
  it('measures every variant and counts their Upstash calls per lane', async () => {
    const [table, ...rest] = await runBench({ rounds: 1, roundMs: 300, concurrency: 4, latencies: [0] })
    expect(rest).toEqual([])
    const rows = new Map(table?.rows.map((r) => [r.variant, r]))
    expect([...rows.keys()]).toEqual(['bare', 'floor', 'edgeward authenticated', 'edgeward public', 'edgeward blocked'])
    for (const row of rows.values()) {
      expect(row.reqPerSec, row.variant).toBeGreaterThan(0)
      expect(row.p50, row.variant).toBeGreaterThan(0)
      expect(row.p99, row.variant).toBeGreaterThanOrEqual(row.p50)
      expect(row.errors, row.variant).toBe(0)
    }
    expect(rows.get('bare')?.callsPerRequest).toBe(0)
    expect(rows.get('floor')?.callsPerRequest).toBeCloseTo(1, 5)
    expect(rows.get('edgeward authenticated')?.callsPerRequest).toBeGreaterThanOrEqual(1)
    // A blocked client is refused from the gateway's local cache, without costing an Upstash call.
    expect(rows.get('edgeward blocked')?.callsPerRequest).toBe(0)
    expect(renderTable(table as NonNullable<typeof table>)).toMatch(/^\| variant \| req\/s/)
  }, 30_000)
})

/**
 * `npm run cost`: the harness and the operations worker answer as the counts assume (every scenario with its
 * expected status, in plain Miniflare), the callgrind plumbing counts a real workerd process, and the document says
 * what its numbers say.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type CostResult, runCost } from './cost.ts'
import { callgrindAvailable, callgrindTotal } from './lib/callgrind.ts'
import { renderCostDocument } from './lib/cost-document.ts'
import { COST_OPS } from './lib/cost-ops.ts'
import { costWorkerName, prepareCostWorkers } from './lib/cost-workers.ts'

type Fetcher = { fetch(url: string, init: { method: string; body: string }): Promise<Response> }

describe('the cost harness, without callgrind', () => {
  let dir: string
  let mf: Miniflare
  let prepared: Awaited<ReturnType<typeof prepareCostWorkers>>
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'edgeward-cost-test-'))
    prepared = await prepareCostWorkers(dir)
    mf = new Miniflare(
      convertV4MiniflareOptions({
        cf: false,
        handleStructuredLogs: () => {},
        workers: [...prepared.workers.values(), prepared.ops],
      }),
    )
    await mf.ready
  })
  afterAll(async () => {
    await mf?.dispose()
    await rm(dir, { recursive: true, force: true })
  })
  const post = async (worker: string, body: object) => {
    const fetcher = (await mf.getWorker(worker)) as unknown as Fetcher
    const res = await fetcher.fetch('http://127.0.0.1/', { method: 'POST', body: JSON.stringify(body) })
    return { status: res.status, body: (await res.json()) as Record<string, number> }
  }

  it('serves every scenario with its expected status, the blocked one after its first request', async () => {
    for (const s of prepared.scenarios) {
      const { status, body } = await post(costWorkerName(s), { n: 4, path: s.path, headers: s.headers })
      expect(status, s.name).toBe(200)
      // The blocked scenario's first request spends its limit of 1: Upstash's stand-in refuses it.
      expect(body, s.name).toEqual({ [s.expectStatus]: 4 })
    }
  })

  it('runs every operation of the table', async () => {
    for (const { name } of COST_OPS) {
      const { status } = await post('ops', { op: name, k: 3 })
      expect(status, name).toBe(200)
    }
    expect((await post('ops', { op: 'nothing', k: 1 })).status).toBe(400)
  })
})

describe('callgrind dumps', () => {
  it('reads the totals line, old and new, and refuses a dump without one', () => {
    expect(callgrindTotal('version: 1\ncreator: callgrind-3.19.0\nsummary: 406841864\n')).toBe(406841864)
    expect(callgrindTotal('events: Ir\ntotals: 1234\n')).toBe(1234)
    expect(() => callgrindTotal('')).toThrow(/totals/)
  })

  it.skipIf(!callgrindAvailable())(
    'counts a scenario in workerd under callgrind',
    async () => {
      const result = await runCost({ warm: 5, requests: 5, rounds: 1, opIterations: 0, only: ['bare'] })
      expect(result.ops).toEqual([])
      expect(result.scenarios.map((s) => s.name)).toEqual(['bare'])
      // A request through the harness runs hundreds of thousands of instructions; zero would mean nothing was read.
      expect(result.scenarios[0]?.instructionsPerRequest).toBeGreaterThan(50_000)
    },
    120_000,
  )
})

describe('docs/COST.md', () => {
  const result: CostResult = {
    scenarios: [
      { name: 'bare', instructionsPerRequest: 250_000, rounds: [250_000] },
      { name: 'lean proxy', instructionsPerRequest: 450_000, rounds: [450_000] },
      { name: 'edgeward public, no Upstash', instructionsPerRequest: 650_000, rounds: [650_000] },
      { name: 'edgeward public', instructionsPerRequest: 950_000, rounds: [950_000] },
      { name: 'edgeward authenticated', instructionsPerRequest: 1_000_000, rounds: [990_000, 1_000_000] },
    ],
    ops: [
      { name: 'headers-set', description: 'new Headers, then Headers.set of 14 fields', instructions: 98_000 },
      { name: 'headers-record', description: 'new Headers from a record of 14 fields', instructions: 90_000 },
      { name: 'headers-copy', description: 'new Headers copied from a Headers of 14 fields', instructions: 21_000 },
      { name: 'headers-entries', description: 'iterating pairs', instructions: 92_000 },
      { name: 'headers-keys', description: 'iterating names', instructions: 63_000 },
    ],
  }
  const doc = renderCostDocument(result, {
    warm: 1000,
    requests: 200,
    rounds: 3,
    opIterations: 1000,
    command: 'npm run cost',
    elapsedMs: 150_000,
    machine: { cores: 2, cpu: 'test', node: 'v22', date: '2026-01-01T00:00:00.000Z' },
  })

  it('tabulates each scenario over bare, and each operation', () => {
    expect(doc).toContain('| bare | 250k | — | 250k |')
    expect(doc).toContain('| edgeward authenticated | 1,000k | 750k | 990k, 1,000k |')
    expect(doc).toContain('| new Headers, then Headers.set of 14 fields | 98,000 |')
    expect(doc).toContain('rounds of one\nscenario differ by up to 1 %')
  })

  it('computes its findings from the numbers', () => {
    expect(doc).toContain('the lean proxy adds 200k instructions per request')
    expect(doc).toContain('without Upstash 400k: 2.00 times')
    expect(doc).toContain('Deciding the global limit (one admission call, answered in the isolate) adds 300k')
    expect(doc).toContain('adds 350k to the public route without Upstash')
    expect(doc).toContain('14 header fields cost 98,000 instructions set one by one, 90,000 from a record and 21,000')
    expect(doc).toContain('iterating 14 fields 92,000 instructions as pairs and 63,000 as names')
  })
})

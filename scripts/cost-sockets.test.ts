/**
 * `npm run cost:sockets`: the benchmark's workers counted in a workerd under callgrind behind real sockets, a build
 * compared with another in the same run, and the table it prints.
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { buildWorker } from '../test/node/support/worker.ts'
import { patientUpstash, renderSocketCost, runSocketCost } from './cost-sockets.ts'
import { callgrindAvailable } from './lib/callgrind.ts'

describe('npm run cost:sockets', () => {
  it('tabulates each worker in thousands of instructions, median first', () => {
    expect(
      renderSocketCost([{ worker: 'ew-auth', median: 2_740_400, rounds: [2_646_000, 2_740_400, 2_757_200] }]),
    ).toBe(`| worker | instructions/req | rounds |
|---|---|---|
| ew-auth | 2,740k | 2,646k, 2,740k, 2,757k |`)
  })

  it("adds each isolate's median when more than one ran", () => {
    expect(
      renderSocketCost([
        { worker: 'bare', median: 700_000, rounds: [690_000, 700_000, 705_000, 702_000], isolates: [690_000, 702_000] },
      ]),
    ).toBe(`| worker | instructions/req | isolates | rounds |
|---|---|---|---|
| bare | 700k | 690k, 702k | 690k, 700k, 705k, 702k |`)
  })

  it('gives the gateway workers the longest Upstash timeout the configuration takes, and leaves the rest alone', () => {
    const gateway = { name: 'ew-auth', script: '', bindings: { UPSTASH_TIMEOUT_MS: '1000', UPSTREAM_URL: 'http://o' } }
    expect(patientUpstash(gateway).bindings).toEqual({ UPSTASH_TIMEOUT_MS: '10000', UPSTREAM_URL: 'http://o' })
    const bare = { name: 'bare', script: '', bindings: { ORIGIN: 'http://o' } }
    expect(patientUpstash(bare)).toBe(bare)
  })

  it.skipIf(!callgrindAvailable())(
    'counts a baseline and a gateway path, and the same path of a second build beside it, each in two isolates',
    async () => {
      const dir = await mkdtemp(path.join(tmpdir(), 'edgeward-cost-sockets-test-'))
      try {
        // The same source built again stands in for another checkout's build.
        const compareBundle = await buildWorker(dir)
        // The blocked path's first request spends its limit, so every counted one is the 429 from memory.
        const costs = await runSocketCost({
          warm: 10,
          requests: 5,
          rounds: 1,
          concurrency: 2,
          only: ['bare', 'ew-blocked'],
          compareBundle,
          isolates: 2,
        })
        expect(costs.map((c) => c.worker)).toEqual(['bare', 'ew-blocked', 'ew-blocked-b'])
        for (const c of costs) {
          // A request over a socket runs hundreds of thousands of instructions; zero would mean nothing was read.
          for (const isolate of c.isolates ?? []) expect(isolate, c.worker).toBeGreaterThan(100_000)
          expect(c.isolates, c.worker).toHaveLength(2)
          expect(c.rounds, c.worker).toHaveLength(2)
        }
      } finally {
        await rm(dir, { recursive: true, force: true })
      }
    },
    180_000,
  )
})

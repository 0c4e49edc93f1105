/** `--runs N`: the runs in a row, the bounds on N, and what a failing run leaves behind. */
import { describe, expect, it } from 'vitest'
import type { Table } from './bench-report.ts'
import { MAX_RUNS, runSeveral } from './bench-runs.ts'

const table = (n: number): Table[] => [{ upstashLatencyMs: n, rows: [] }]

describe('bench runs', () => {
  it('runs N times in a row and logs each start only when there are several', async () => {
    let n = 0
    const lines: string[] = []
    const result = await runSeveral(
      3,
      async () => table(n++),
      (line) => lines.push(line),
    )
    expect(result).toEqual({ runs: [table(0), table(1), table(2)] })
    expect(lines).toEqual(['\nbench: run 1 of 3', '\nbench: run 2 of 3', '\nbench: run 3 of 3'])
    const once: string[] = []
    await runSeveral(
      1,
      async () => table(0),
      (line) => once.push(line),
    )
    expect(once).toEqual([])
  })

  it('refuses a count outside 1 to MAX_RUNS before running anything', async () => {
    let ran = 0
    for (const count of [0, -1, 1.5, Number.NaN, MAX_RUNS + 1]) {
      await expect(runSeveral(count, async () => table(ran++))).rejects.toThrow(`--runs takes 1 to ${MAX_RUNS}`)
    }
    expect(ran).toBe(0)
  })

  it('keeps the runs that finished when a later one fails, says why, and runs no more', async () => {
    let n = 0
    const runOne = async () => {
      n++
      if (n === 3) throw new Error('an answer with status 500')
      return table(n)
    }
    const result = await runSeveral(5, runOne)
    expect(result.runs).toEqual([table(1), table(2)])
    expect(result.stopped).toBe('run 3 of 5 failed (an answer with status 500), so this document reads the 2 before it')
    expect(n).toBe(3)
  })

  it('throws when the first run fails: there is nothing to read', async () => {
    await expect(runSeveral(3, () => Promise.reject(new Error('no redis-server')))).rejects.toThrow('no redis-server')
  })
})

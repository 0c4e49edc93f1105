/**
 * `npm run bench -- --runs N`: the whole benchmark N times in a row. A run that fails after others finished does
 * not throw their minutes away (five runs take about a quarter of an hour): what finished is returned with why the
 * rest did not run, for the document to say so.
 */
import type { Table } from './bench-report.ts'

/** Most runs one command reads together: each takes about three minutes with the defaults. */
export const MAX_RUNS = 10

export interface SeveralRuns {
  runs: Table[][]
  /** Why the command stopped before its last run, when it did. */
  stopped?: string
}

/** Runs `runOne` `count` times in a row; throws only when the first run fails. */
export async function runSeveral(
  count: number,
  runOne: () => Promise<Table[]>,
  log: (line: string) => void = () => {},
): Promise<SeveralRuns> {
  if (!Number.isInteger(count) || count < 1 || count > MAX_RUNS) {
    throw new Error(`bench: --runs takes 1 to ${MAX_RUNS}`)
  }
  const runs: Table[][] = []
  for (let i = 0; i < count; i++) {
    if (count > 1) log(`\nbench: run ${i + 1} of ${count}`)
    try {
      runs.push(await runOne())
    } catch (err) {
      if (i === 0) throw err
      const why = err instanceof Error ? err.message : String(err)
      return { runs, stopped: `run ${i + 1} of ${count} failed (${why}), so this document reads the ${i} before it` }
    }
  }
  return { runs }
}

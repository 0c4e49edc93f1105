/**
 * The decision behind `npm run deploy`: run the doctor on the configuration the arguments select, and hand the
 * same arguments to `wrangler deploy` only when it found no error.
 */
import { parseArgs } from 'node:util'
import type { Diagnosis, DoctorMode } from './doctor-checks.ts'

export interface DeployDeps {
  doctor: (options: { env?: string; config?: string; mode: DoctorMode }) => Promise<Diagnosis>
  /** Runs wrangler with these arguments; resolves to its exit code. */
  wrangler: (args: string[]) => Promise<number>
  print: (line: string) => void
}

/** `--env`/`-e` and `--config`/`-c` as wrangler reads them; every other argument is wrangler's alone. */
export function deployTarget(args: string[]): { env?: string; config?: string } {
  const { values } = parseArgs({
    args,
    options: { env: { type: 'string', short: 'e' }, config: { type: 'string', short: 'c' } },
    strict: false,
  })
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined)
  return { env: text(values.env), config: text(values.config) }
}

/** The exit code of `npm run deploy -- ARGS`: 1 when the doctor refuses, else wrangler's. */
export async function deploy(argv: string[], deps: DeployDeps): Promise<number> {
  const args = argv[0] === '--' ? argv.slice(1) : argv
  const target = deployTarget(args)
  const diagnosis = await deps.doctor({ ...target, mode: 'deploy' })
  if (diagnosis.errors.length > 0) {
    deps.print('deploy: refused: the doctor found errors (above); nothing was deployed')
    return 1
  }
  return deps.wrangler(['deploy', ...args])
}

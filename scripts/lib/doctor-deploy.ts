/**
 * The decision behind `npm run deploy`: run the doctor on the configuration the arguments select, and hand the
 * same arguments to `wrangler deploy` only when it found no error.
 */
import { parseArgs } from 'node:util'
import type { Diagnosis, DoctorMode } from './doctor-checks.ts'

export interface DeployDeps {
  doctor: (options: {
    env?: string
    config?: string
    mode: DoctorMode
    deploying: { skipSecretCheck: boolean }
  }) => Promise<Diagnosis>
  /** Runs wrangler with these arguments; resolves to its exit code. */
  wrangler: (args: string[]) => Promise<number>
  print: (line: string) => void
}

/**
 * `--env`/`-e` and `--config`/`-c` as wrangler reads them, the environment falling back to `CLOUDFLARE_ENV` as
 * wrangler's does; every other argument is wrangler's alone.
 */
export function deployTarget(
  args: string[],
  environ: Record<string, string | undefined> = process.env,
): { env?: string; config?: string } {
  const { values } = parseArgs({
    args,
    options: { env: { type: 'string', short: 'e' }, config: { type: 'string', short: 'c' } },
    strict: false,
  })
  const text = (v: unknown) => (typeof v === 'string' && v !== '' ? v : undefined)
  return { env: text(values.env) ?? text(environ.CLOUDFLARE_ENV), config: text(values.config) }
}

/**
 * wrangler deploy options that change what ships after the doctor has read wrangler.toml: vars and defines from
 * the command line, vars kept from the dashboard, secrets from a file. Refused: put them in wrangler.toml, or set
 * secrets with `wrangler secret put`, where the doctor sees them.
 */
const UNCHECKED_OPTIONS = ['--var', '--keep-vars', '--define', '--secrets-file']

/** This script's own option: deploy although the secrets could not be listed. */
const SKIP_SECRET_CHECK = '--skip-secret-check'

/** The exit code of `npm run deploy -- ARGS`: 1 when the doctor refuses, else wrangler's. */
export async function deploy(
  argv: string[],
  deps: DeployDeps,
  environ: Record<string, string | undefined> = process.env,
): Promise<number> {
  const given = argv[0] === '--' ? argv.slice(1) : argv
  const unchecked = given.find((arg) => UNCHECKED_OPTIONS.some((o) => arg === o || arg.startsWith(`${o}=`)))
  if (unchecked !== undefined) {
    deps.print(
      `deploy: refused: ${unchecked.split('=')[0]} changes what ships after the doctor's check; put vars in wrangler.toml and secrets in \`npx wrangler secret put\`; nothing was deployed`,
    )
    return 1
  }
  const skipSecretCheck = given.includes(SKIP_SECRET_CHECK)
  const args = given.filter((arg) => arg !== SKIP_SECRET_CHECK)
  const target = deployTarget(args, environ)
  const diagnosis = await deps.doctor({ ...target, mode: 'deploy', deploying: { skipSecretCheck } })
  if (diagnosis.errors.length > 0) {
    deps.print('deploy: refused: the doctor found errors (above); nothing was deployed')
    return 1
  }
  return deps.wrangler(['deploy', ...args])
}

/**
 * The decision behind `npm run deploy`: run the doctor on the configuration the arguments select, and hand
 * `wrangler deploy` exactly that configuration (`--config FILE --env NAME`, always spelled out) only when the
 * doctor found no error. Only options that cannot change what ships are passed on: wrangler reads many more
 * (camelCase spellings, `--cwd`, `--name`, `--var`, a `CLOUDFLARE_ENV` from a `.env` file, a `wrangler.jsonc`
 * that wins over `wrangler.toml`, a redirected configuration), and each of those would let it ship something the
 * doctor never read.
 */
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

/** The configuration file when `--config` is not given: the repository's (npm runs scripts from there). */
export const DEFAULT_CONFIG = 'wrangler.toml'

/** Options passed on to `wrangler deploy` as given: what they change is how it uploads, not what. */
const PASSED_FLAGS = new Set(['--dry-run', '--minify'])
const PASSED_WITH_VALUE = new Set(['--outdir', '--message', '--tag'])

/** This script's own option: deploy although the secrets could not be listed. */
const SKIP_SECRET_CHECK = '--skip-secret-check'

export type DeployArgs =
  | { ok: true; env?: string; config?: string; passed: string[]; skipSecretCheck: boolean }
  | { ok: false; problem: string }

/**
 * The arguments of `npm run deploy -- ARGS`: `--env`/`-e` and `--config`/`-c` (`NAME`, `=NAME`; an empty name is
 * the top level), the environment falling back to `CLOUDFLARE_ENV` as wrangler's does; the options in
 * PASSED_FLAGS and PASSED_WITH_VALUE; `--skip-secret-check`. Anything else is refused, naming it.
 */
export function parseDeployArgs(args: string[], environ: Record<string, string | undefined> = process.env): DeployArgs {
  let env: string | undefined
  let config: string | undefined
  let skipSecretCheck = false
  const passed: string[] = []
  const refuse = (problem: string): DeployArgs => ({ ok: false, problem })
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] as string
    const equals = arg.indexOf('=')
    const name = equals === -1 ? arg : arg.slice(0, equals)
    const inline = equals === -1 ? undefined : arg.slice(equals + 1)
    const value = () => inline ?? args[++i]
    if (name === '--env' || name === '-e' || name === '--config' || name === '-c') {
      const text = value()
      if (text === undefined) return refuse(`${name} needs a value`)
      // An empty --env is the top level; an empty --config names no file.
      if (text === '' && (name === '--config' || name === '-c')) return refuse(`${name} needs a file name`)
      if (name === '--env' || name === '-e') {
        if (env !== undefined) return refuse('--env is given twice')
        env = text
      } else {
        if (config !== undefined) return refuse('--config is given twice')
        config = text
      }
    } else if (arg === SKIP_SECRET_CHECK) {
      skipSecretCheck = true
    } else if (PASSED_FLAGS.has(arg)) {
      passed.push(arg)
    } else if (PASSED_WITH_VALUE.has(name)) {
      const text = value()
      if (text === undefined) return refuse(`${name} needs a value`)
      passed.push(name, text)
    } else {
      return refuse(
        `${name} is not passed on: npm run deploy gives wrangler deploy only --env, --config, ${[...PASSED_FLAGS, ...PASSED_WITH_VALUE].join(', ')} (others can change what ships after the doctor's check; put vars in wrangler.toml and secrets in \`npx wrangler secret put\`)`,
      )
    }
  }
  const fromEnvironment = environ.CLOUDFLARE_ENV === '' ? undefined : environ.CLOUDFLARE_ENV
  const chosen = env ?? fromEnvironment
  return { ok: true, env: chosen === '' ? undefined : chosen, config, passed, skipSecretCheck }
}

/** The exit code of `npm run deploy -- ARGS`: 1 when the arguments or the doctor refuse, else wrangler's. */
export async function deploy(
  argv: string[],
  deps: DeployDeps,
  environ: Record<string, string | undefined> = process.env,
): Promise<number> {
  const parsed = parseDeployArgs(argv[0] === '--' ? argv.slice(1) : argv, environ)
  if (!parsed.ok) {
    deps.print(`deploy: refused: ${parsed.problem}; nothing was deployed`)
    return 1
  }
  if (environ.WRANGLER_CI_OVERRIDE_NAME) {
    deps.print(
      'deploy: refused: WRANGLER_CI_OVERRIDE_NAME makes wrangler deploy to another worker than the one whose secrets the doctor checks; unset it; nothing was deployed',
    )
    return 1
  }
  const { env, config, passed, skipSecretCheck } = parsed
  const diagnosis = await deps.doctor({ env, config, mode: 'deploy', deploying: { skipSecretCheck } })
  if (diagnosis.errors.length > 0) {
    deps.print('deploy: refused: the doctor found errors (above); nothing was deployed')
    return 1
  }
  // Spelled out, so wrangler resolves neither the environment nor the file on its own: an empty --env is the top
  // level, and an explicit --config wins over a wrangler.jsonc and a redirected configuration.
  return deps.wrangler(['deploy', '--config', config ?? DEFAULT_CONFIG, '--env', env ?? '', ...passed])
}

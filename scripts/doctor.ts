/**
 * `npm run doctor [-- --env NAME]`: everything that would make a deployed gateway answer 500 (or deploy unsafely),
 * found before `wrangler deploy`, all at once, each with its fix. Exit 1 on an error, 0 otherwise.
 *
 *   npm run doctor -- --env production   # [env.production] and its secrets (`wrangler secret list`)
 *   npm run doctor                       # the top level (what a bare `wrangler deploy` ships)
 *   npm run doctor -- --local            # what plain `wrangler dev` serves: the top level with .dev.vars
 *   npm run doctor -- --offline          # no secrets, every configuration: what `npm run build` runs
 *   npm run doctor -- --env production --secrets-file prod.env   # secret values checked before `secret put`
 *   npm run doctor -- --config other/wrangler.toml
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { type Diagnosis, type DoctorMode, diagnose, formatDiagnosis } from './lib/doctor-checks.ts'
import { type SecretSource, secretsFileSource, wranglerRunner, wranglerSecretSource } from './lib/doctor-secrets.ts'
import { loadGatewayChecks } from './lib/doctor-worker.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

export interface DoctorOptions {
  env?: string
  /** wrangler.toml to read. @default the repository's */
  config?: string
  mode: DoctorMode
  /** Set by `npm run deploy` (see DoctorInput). */
  deploying?: { skipSecretCheck: boolean }
  /** Overrides where secrets come from (tests). @default `wrangler secret list`, or .dev.vars with `local` */
  secrets?: SecretSource
  /** @default now */
  today?: Date
  /** @default console.log */
  print?: (line: string) => void
}

/** The doctor's arguments (`--env`, `--config`, `--local`, `--offline`, `--secrets-file`); nothing else. */
export function parseDoctorArgs(argv: string[]): DoctorOptions {
  const { values } = parseArgs({
    args: argv[0] === '--' ? argv.slice(1) : argv,
    options: {
      env: { type: 'string', short: 'e' },
      config: { type: 'string', short: 'c' },
      local: { type: 'boolean', default: false },
      offline: { type: 'boolean', default: false },
      'secrets-file': { type: 'string' },
    },
    strict: true,
  })
  if (values.local && values.env !== undefined)
    throw new Error('--local checks the top level (what `wrangler dev` serves): drop --env')
  const mode: DoctorMode = values.offline ? 'build' : values.local ? 'local' : 'deploy'
  const file = values['secrets-file']
  return {
    env: values.env,
    config: values.config,
    mode,
    ...(file === undefined ? {} : { secrets: secretsFileSource(path.resolve(file)) }),
  }
}

/** Runs the checks, prints the report, and returns it. */
export async function runDoctor(options: DoctorOptions): Promise<Diagnosis> {
  const file = path.resolve(options.config ?? path.join(ROOT, 'wrangler.toml'))
  const source =
    options.secrets ??
    (options.mode === 'local'
      ? secretsFileSource(path.join(path.dirname(file), '.dev.vars'))
      : wranglerSecretSource(wranglerRunner(ROOT), options.env, options.config))
  const diagnosis = diagnose({
    toml: readFileSync(file, 'utf8'),
    mode: options.mode,
    env: options.env,
    ...(options.deploying === undefined ? {} : { deploying: options.deploying }),
    secrets: options.mode === 'build' ? undefined : await source(),
    today: options.today ?? new Date(),
    checks: await loadGatewayChecks(),
  })
  const print = options.print ?? ((line: string) => console.log(line))
  for (const line of formatDiagnosis(diagnosis)) print(line)
  return diagnosis
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    const diagnosis = await runDoctor(parseDoctorArgs(process.argv.slice(2)))
    process.exitCode = diagnosis.errors.length > 0 ? 1 : 0
  } catch (error) {
    console.error(`doctor: ${error instanceof Error ? error.message : String(error)}`)
    process.exitCode = 2
  }
}

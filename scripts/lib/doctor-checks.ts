/**
 * The doctor's verdict on one configuration: every problem at once, each with its fix. The configuration rules
 * are the gateway's own (`GatewayChecks`, loaded from src/); what is read from wrangler.toml is checked in
 * doctor-config.ts; the secrets come from a `SecretReport`. Pure: text, report and clock in, findings out.
 */
import {
  compatibilityDateProblems,
  d1Problems,
  environmentNames,
  parseWrangler,
  placeholderVarProblems,
  secretInVarsProblems,
  selectTarget,
  type Target,
} from './doctor-config.ts'
import { SECRET_NAMES, type SecretReport, secretBindings } from './doctor-secrets.ts'
import type { GatewayChecks } from './doctor-worker.ts'
import { wranglerConfigProblems } from './wrangler-config.ts'

/**
 * `deploy`: what `wrangler deploy [--env NAME]` would ship, with its secrets. `local`: what plain `wrangler dev`
 * serves (the top level, `.dev.vars` over its vars); database ids do not matter there. `build`: the checks that
 * need neither secrets nor an environment's values, for every configuration in the file (`npm run build`).
 */
export type DoctorMode = 'deploy' | 'local' | 'build'

export interface DoctorInput {
  toml: string
  mode: DoctorMode
  /** The `--env` name (deploy only); undefined for the top level. */
  env?: string
  /** The secrets (deploy and local); ignored by `build`. */
  secrets?: SecretReport
  /**
   * Set by `npm run deploy`, which ships what passes: secrets that could not be listed, a development
   * configuration, and an ENVIRONMENT other than a staging or production environment's name are errors, not notes
   * or warnings. `skipSecretCheck` (`--skip-secret-check`) keeps the first a note.
   */
  deploying?: { skipSecretCheck: boolean }
  today: Date
  checks: GatewayChecks
}

export interface Diagnosis {
  /** What was checked, for the heading: "[env.production] (worker edgeward-production)". */
  subject: string
  errors: string[]
  warnings: string[]
  /** How the secrets were checked, or why they were not. */
  notes: string[]
}

function routeTable(checks: GatewayChecks): string[] {
  return checks.routeTableProblems().map((p) => `src/policies.ts: the route table: ${p}`)
}

export function diagnose(input: DoctorInput): Diagnosis {
  const parsed = parseWrangler(input.toml)
  if ('problem' in parsed) return { subject: 'wrangler.toml', errors: [parsed.problem], warnings: [], notes: [] }
  const { config } = parsed
  const fileWide = [...wranglerConfigProblems(input.toml), ...routeTable(input.checks)]
  if (input.mode === 'build') {
    const dates = [undefined, ...environmentNames(config)].flatMap((env) => {
      const target = selectTarget(config, env) as Target
      return compatibilityDateProblems(target.compatibilityDate, input.today).map((p) => `${target.label}: ${p}`)
    })
    return {
      subject: 'wrangler.toml (every configuration) and the route table',
      errors: [...fileWide, ...new Set(dates)],
      warnings: [],
      notes: [],
    }
  }
  const env = input.mode === 'local' ? undefined : input.env
  const target = selectTarget(config, env)
  if (target === undefined) {
    const known = environmentNames(config)
    return {
      subject: `[env.${env}]`,
      errors: [
        `wrangler.toml has no [env.${env}]: use one of ${known.length > 0 ? known.join(', ') : '(none)'}, or no --env for the top level`,
      ],
      warnings: [],
      notes: [],
    }
  }
  const errors = [...fileWide, ...compatibilityDateProblems(target.compatibilityDate, input.today)]
  const warnings: string[] = []
  const notes: string[] = []
  if (input.mode === 'deploy') errors.push(...d1Problems(target))
  const environment = target.vars.ENVIRONMENT
  if (input.mode === 'deploy' || environment !== 'development') errors.push(...placeholderVarProblems(target))
  errors.push(...secretInVarsProblems(target, SECRET_NAMES))
  if (env !== undefined && environment !== env && (env === 'staging' || env === 'production')) {
    ;(input.deploying ? errors : warnings).push(
      `ENVIRONMENT in ${target.varsTable} is ${JSON.stringify(environment)}, not "${env}": the ${env} rules do not apply to it`,
    )
  }
  if (input.deploying && target.keepVars) {
    errors.push(
      `keep_vars = true in wrangler.toml: a deploy would keep vars set in the Cloudflare dashboard, which the doctor cannot check; remove it and put every var in ${target.varsTable}`,
    )
  }
  if (input.deploying && (environment === undefined || environment === 'development')) {
    errors.push(
      `ENVIRONMENT in ${target.varsTable} is "development" (or unset): a deployed development gateway answers 500 to every request not sent to a local host; set "staging" or "production", or deploy with --env`,
    )
  }
  const report = input.secrets ?? { kind: 'skipped', reason: 'no secret source' }
  if (report.kind === 'skipped' && input.deploying !== undefined && !input.deploying.skipSecretCheck) {
    errors.push(
      `secrets: could not be listed (${report.reason}), and a deploy needs the required ones set: log in (\`npx wrangler login\`); before a first deploy put them (\`npx wrangler secret put NAME${target.env === undefined ? '' : ` --env ${target.env}`}\` creates the worker); or deploy with --skip-secret-check`,
    )
  } else {
    notes.push(secretNote(report, target))
  }
  const bindings = { ...target.vars, ...secretBindings(report) }
  errors.push(...input.checks.configIssues(bindings).map((i) => i.message))
  return { subject: `${target.label}${target.name ? ` (worker ${target.name})` : ''}`, errors, warnings, notes }
}

function secretNote(report: SecretReport, target: Target): string {
  if (report.kind === 'values') return `secrets: read from ${report.from} (presence and strength checked)`
  if (report.kind === 'names') {
    return `secrets: ${report.names.length} set according to \`${report.from}\`; presence checked, strength cannot be (Cloudflare never returns a value): make each with \`npm run keys -- secret\``
  }
  const again = `npm run doctor${target.env === undefined ? '' : ` -- --env ${target.env}`}`
  return `secrets: check skipped (${report.reason}); the required ones were assumed set. Run \`npx wrangler login\`, then \`${again}\` again to check them`
}

/** The report, as lines for a terminal. */
export function formatDiagnosis(d: Diagnosis): string[] {
  const lines = [`doctor: ${d.subject}`]
  for (const note of d.notes) lines.push(`  ${note}`)
  for (const error of d.errors) lines.push(`  ✖ ${error}`)
  for (const warning of d.warnings) lines.push(`  ⚠ ${warning}`)
  const n = (count: number, word: string) => `${count} ${word}${count === 1 ? '' : 's'}`
  lines.push(
    d.errors.length > 0
      ? `doctor: ${n(d.errors.length, 'error')}, ${n(d.warnings.length, 'warning')}: fix the errors before deploying`
      : `doctor: no errors${d.warnings.length > 0 ? `, ${n(d.warnings.length, 'warning')}` : ''}`,
  )
  return lines
}

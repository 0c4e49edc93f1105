/**
 * What the doctor reads from wrangler.toml for one deployable configuration (the top level, or one `[env.NAME]`):
 * its vars, its D1 databases and its compatibility date, and the problems in them that wrangler itself accepts.
 * Pure: the file's text in, findings out.
 */
import { parse, type TomlTable } from 'smol-toml'

/** One configuration `wrangler deploy [--env NAME]` ships. */
export interface Target {
  /** The `--env` name; undefined for the top level. */
  env: string | undefined
  /** How a reader finds it: "the top level" or "[env.production]". */
  label: string
  /** Where its vars go: "[vars]" or "[env.production.vars]". */
  varsTable: string
  /** The worker's name (what `wrangler secret list` looks up). */
  name: string | undefined
  vars: Record<string, unknown>
  d1: { binding?: unknown; database_id?: unknown; database_name?: unknown }[]
  /** `compatibility_date`, the environment's own or inherited from the top level. */
  compatibilityDate: unknown
  /** `keep_vars = true`: a deploy keeps vars set in the dashboard, which the doctor cannot see. */
  keepVars: boolean
}

export const isTable = (value: unknown): value is TomlTable =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

/** The parsed file, or the TOML syntax error as a problem. */
export function parseWrangler(text: string): { config: TomlTable } | { problem: string } {
  try {
    return { config: parse(text) }
  } catch (error) {
    return { problem: `wrangler.toml is not valid TOML: ${error instanceof Error ? error.message : String(error)}` }
  }
}

/** The environments wrangler.toml defines, in file order. */
export function environmentNames(config: TomlTable): string[] {
  return isTable(config.env) ? Object.keys(config.env) : []
}

/** The configuration `--env env` selects, or undefined when wrangler.toml has no such environment. */
export function selectTarget(config: TomlTable, env: string | undefined): Target | undefined {
  if (env !== undefined && !(isTable(config.env) && isTable(config.env[env]))) return undefined
  const table = env === undefined ? config : ((config.env as TomlTable)[env] as TomlTable)
  const prefix = env === undefined ? '' : `env.${env}.`
  return {
    env,
    label: env === undefined ? 'the top level' : `[env.${env}]`,
    varsTable: `[${prefix}vars]`,
    name: typeof table.name === 'string' ? table.name : undefined,
    // Wrangler inherits neither vars nor bindings into an environment; it does inherit compatibility_date.
    vars: isTable(table.vars) ? { ...table.vars } : {},
    d1: Array.isArray(table.d1_databases) ? table.d1_databases.filter(isTable) : [],
    compatibilityDate: table.compatibility_date ?? config.compatibility_date,
    keepVars: (table.keep_vars ?? config.keep_vars) === true,
  }
}

const DATE = /^(\d{4})-(\d{2})-(\d{2})$/

/** Missing, malformed or future `compatibility_date` (wrangler refuses a future one at deploy, not before). */
export function compatibilityDateProblems(value: unknown, today: Date): string[] {
  const fix = 'set compatibility_date = "YYYY-MM-DD" at the top of wrangler.toml to a date no later than today'
  if (value === undefined) return [`compatibility_date is missing: ${fix}`]
  const text = value instanceof Date ? value.toISOString().slice(0, 10) : String(value)
  const match = DATE.exec(text)
  const date = match ? new Date(`${text}T00:00:00Z`) : undefined
  if (date === undefined || Number.isNaN(date.getTime())) return [`compatibility_date "${text}" is not a date: ${fix}`]
  const day = today.toISOString().slice(0, 10)
  if (text > day) return [`compatibility_date ${text} is in the future (today is ${day}): ${fix}`]
  return []
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

/** The D1 binding `DB`: present, with a real database id (a placeholder deploys against no database). */
export function d1Problems(target: Target): string[] {
  const table = `[[${target.env === undefined ? '' : `env.${target.env}.`}d1_databases]]`
  const create = `npx wrangler d1 create ${target.name ?? 'edgeward'}`
  const db = target.d1.find((d) => d.binding === 'DB')
  if (db === undefined) {
    return [`${target.label} has no D1 binding "DB": run \`${create}\` and add a ${table} entry with binding = "DB"`]
  }
  const id = typeof db.database_id === 'string' ? db.database_id : ''
  if (!UUID.test(id)) {
    return [
      `database_id in ${table} (binding DB) is not a D1 database id: run \`${create}\` and paste the id it prints`,
    ]
  }
  if (new Set(id.replaceAll('-', '')).size < 4) {
    return [
      `database_id in ${table} (binding DB) is the placeholder ${id}: run \`${create}\` and paste the id it prints`,
    ]
  }
  return []
}

/** Hosts reserved for documentation (RFC 2606): a URL or origin naming one was never filled in. */
function isExampleHost(hostname: string): boolean {
  return /(^|\.)example(\.(com|net|org))?$/i.test(hostname)
}

const URL_VARS = ['UPSTASH_REDIS_REST_URL', 'UPSTREAM_URL', 'ACCOUNT_EVENTS_URL', 'CORS_ORIGINS'] as const

/** URL vars left at an example value (a deployed gateway would call, or admit, a host nobody owns). */
export function placeholderVarProblems(target: Target): string[] {
  const problems: string[] = []
  for (const name of URL_VARS) {
    const value = target.vars[name]
    if (typeof value !== 'string') continue
    for (const entry of value.split(',').map((v) => v.trim())) {
      let host: string
      try {
        host = new URL(entry).hostname
      } catch {
        continue // not a URL: the validator says so
      }
      if (isExampleHost(host)) {
        problems.push(
          `${name} in ${target.varsTable} names the documentation host ${host}, a placeholder: set your real one`,
        )
        break
      }
    }
  }
  return problems
}

/** Secrets written as plain vars: readable by anyone with the repository, and shipped in every `wrangler deploy`. */
export function secretInVarsProblems(target: Target, secrets: readonly string[]): string[] {
  const env = target.env === undefined ? '' : ` --env ${target.env}`
  return secrets
    .filter((name) => target.vars[name] !== undefined)
    .map(
      (name) =>
        `${name} is a secret but is set in ${target.varsTable}: remove it from wrangler.toml and run \`npx wrangler secret put ${name}${env}\``,
    )
}

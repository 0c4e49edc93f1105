/**
 * Checks on wrangler.toml that wrangler does not make itself, run by `npm run dev` and `npm run build`.
 * Pure: the file's text in, fix-it messages out.
 */
import { parse, type TomlTable } from 'smol-toml'

/** What the gateway uses when JWT_AUDIENCE is unset (the default in src/config/schema.ts). */
export const DEFAULT_JWT_AUDIENCE = 'edgeward'

/** One configuration `wrangler deploy` can ship: the top level, or one `[env.NAME]`. */
interface Deployable {
  /** How a reader finds it in the file: "the top level" or "[env.staging]". */
  label: string
  /** Where its vars go: "[vars]" or "[env.staging.vars]". */
  varsTable: string
  /** The environment's name; undefined for the top level. */
  env?: string
  audience: string
  /** False when JWT_AUDIENCE is not set for it and the gateway's default applies. */
  explicit: boolean
}

const isTable = (value: unknown): value is TomlTable =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

function deployable(label: string, varsTable: string, env: string | undefined, vars: unknown): Deployable {
  const value = isTable(vars) ? vars.JWT_AUDIENCE : undefined
  const explicit = value !== undefined && value !== ''
  return { label, varsTable, env, audience: explicit ? String(value) : DEFAULT_JWT_AUDIENCE, explicit }
}

/** The top level and every `[env.*]`. Wrangler does not inherit `vars` into an environment, so each stands alone. */
function deployables(config: TomlTable): Deployable[] {
  const found = [deployable('the top level', '[vars]', undefined, config.vars)]
  const envs = isTable(config.env) ? config.env : {}
  for (const [name, table] of Object.entries(envs)) {
    found.push(deployable(`[env.${name}]`, `[env.${name}.vars]`, name, isTable(table) ? table.vars : undefined))
  }
  return found
}

const listed = (items: string[]) =>
  items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`

/**
 * Two deployable configurations with one audience accept each other's tokens whenever their signing keys match
 * (a copied secret, a shared key pair): a staging token would then work in production.
 */
function sharedAudienceProblems(configs: Deployable[]): string[] {
  const byAudience = new Map<string, Deployable[]>()
  for (const config of configs) byAudience.set(config.audience, [...(byAudience.get(config.audience) ?? []), config])
  const problems: string[] = []
  for (const [audience, group] of byAudience) {
    if (group.length < 2) continue
    const who = group.map((d) => (d.explicit ? d.label : `${d.label} (unset there, so the gateway's default)`))
    // The first keeps its audience (the top level when it is one of them); the others get one of their own.
    const fixes = group.slice(1).map((d) => `JWT_AUDIENCE = "${audience}-${d.env ?? 'default'}" in ${d.varsTable}`)
    problems.push(
      `JWT_AUDIENCE "${audience}" is shared by ${listed(who)}: a token issued by one is accepted by the other whenever their signing keys match. ` +
        `Give each deployable configuration its own audience, e.g. ${listed(fixes)}.`,
    )
  }
  return problems
}

/** Everything wrong with this wrangler.toml text, as messages that say how to fix it; empty when nothing is. */
export function wranglerConfigProblems(text: string): string[] {
  let config: TomlTable
  try {
    config = parse(text)
  } catch (error) {
    return [`it is not valid TOML: ${error instanceof Error ? error.message : String(error)}`]
  }
  return sharedAudienceProblems(deployables(config))
}

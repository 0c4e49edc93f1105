/**
 * The configuration's public entry: `parseConfig` turns the raw worker bindings into the nested `Config` the rest
 * of the gateway uses, or into issues that name each variable at fault and how to fix it. The variables live in
 * vars.ts, the environment rules in rules.ts, and the shape of `Config` in config.ts.
 */
import type * as z from 'zod/mini'
import { type Config, toConfig } from './config'
import { type ConfigIssue, checkPolicy, type PolicyVars } from './rules'
import { HOW_KEYS, type Vars, VarsSchema } from './vars'

export type { Config, Ed25519PrivateJwk, Ed25519PublicJwk, SigningConfig } from './config'
export { type ConfigIssue, isDevelopmentHost, servingHostIssue } from './rules'
export {
  DEVELOPMENT_CORS_ORIGINS,
  DEVELOPMENT_PASSWORD_PEPPER,
  DEVELOPMENT_UPSTREAM_SIGNING_SECRET,
  ENVIRONMENTS,
  type Environment,
  parseRateLimitSpec,
  type RateLimitSpec,
} from './vars'

/** The names the schema reads: every var and secret of the gateway. */
export const CONFIG_VARIABLES = Object.keys(VarsSchema.shape) as (keyof Vars)[]

export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] }

/** A zod issue as a config issue: our own messages start with the variable; nested ones get a fix-it hint. */
function toConfigIssue(i: z.core.$ZodIssue): ConfigIssue {
  const variable = String(i.path[0] ?? 'configuration')
  if (i.message.startsWith(variable)) return { variable, message: i.message }
  const where = i.path.slice(1).join('.')
  const hint = variable === 'JWT_PRIVATE_KEY' ? `: it must be an Ed25519 private JWK; ${HOW_KEYS}` : ''
  return { variable, message: `${variable} is invalid${where ? ` at ${where}` : ''} (${i.code})${hint}` }
}

/**
 * Parses raw worker bindings. Pure: no logging, no caching (see load.ts). Every problem is reported in one round:
 * each variable is parsed on its own, and the environment rules run even when some variables failed (a failed
 * one counts as its default, or as unset, and its own issue stands for it: the rules add none for it).
 */
export function parseConfig(env: Record<string, unknown>): ConfigResult {
  const issues: ConfigIssue[] = []
  const values: Record<string, unknown> = {}
  const failed = new Set<string>()
  for (const name of CONFIG_VARIABLES) {
    const field = VarsSchema.shape[name] as z.ZodMiniType
    const parsed = field.safeParse(env[name] === '' ? undefined : env[name])
    if (parsed.success) {
      values[name] = parsed.data
      continue
    }
    failed.add(name)
    issues.push(...parsed.error.issues.map((i) => toConfigIssue({ ...i, path: [name, ...i.path] })))
    const fallback = field.safeParse(undefined)
    if (fallback.success) values[name] = fallback.data
  }
  // Which rules apply depends on the environment: without a valid one, only the variables' own issues are known.
  if (values.ENVIRONMENT === undefined) return { ok: false, issues }
  checkPolicy(values as PolicyVars, (variable, message) => {
    if (!failed.has(variable)) issues.push({ variable, message })
  })
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: toConfig(values as Vars) }
}

/**
 * The configuration's public entry: `parseConfig` turns the raw worker bindings into the nested `Config` the rest
 * of the gateway uses, or into issues that name each variable at fault and how to fix it. The variables live in
 * vars.ts, the environment rules in rules.ts, and the shape of `Config` in config.ts.
 */
import type * as z from 'zod/mini'
import { type Config, toConfig } from './config'
import { type ConfigIssue, checkPolicy } from './rules'
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

/** Parses raw worker bindings. Pure: no logging, no caching (see load.ts). */
export function parseConfig(env: Record<string, unknown>): ConfigResult {
  const raw: Record<string, unknown> = {}
  for (const name of CONFIG_VARIABLES) raw[name] = env[name] === '' ? undefined : env[name]
  const parsed = VarsSchema.safeParse(raw)
  if (!parsed.success) {
    return { ok: false, issues: parsed.error.issues.map(toConfigIssue) }
  }
  const issues: ConfigIssue[] = []
  checkPolicy(parsed.data, (variable, message) => issues.push({ variable, message }))
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: toConfig(parsed.data) }
}

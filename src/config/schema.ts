/**
 * Every worker variable and secret, its default and its production rule: the only file that knows env names.
 * `parseConfig` turns the raw bindings into the nested `Config` the rest of the gateway uses.
 */
import * as z from 'zod/mini'
import { weakSecretReason } from './secrets'

export const ENVIRONMENTS = ['development', 'staging', 'production'] as const
export type Environment = (typeof ENVIRONMENTS)[number]

const required = (name: string, how: string) => (iss: { input?: unknown }) =>
  iss.input === undefined || iss.input === '' ? `${name} is required: ${how}` : `${name} is invalid: ${how}`

/** A wrangler var may arrive as a TOML boolean or as a string ("true"/"false"). */
const flag = (name: string) =>
  z._default(z.union([z.boolean(), z.stringbool()], { error: `${name} must be true or false` }), false)

/** An integer var that may arrive as a TOML number or a string. */
const integer = (name: string, min: number, max: number, fallback: number) =>
  z._default(
    z.coerce
      .number({ error: `${name} must be an integer from ${min} to ${max}` })
      .check(
        z.int({ error: `${name} must be an integer from ${min} to ${max}` }),
        z.gte(min, { error: `${name} must be at least ${min}` }),
        z.lte(max, { error: `${name} must be at most ${max}` }),
      ),
    fallback,
  )

const httpUrl = (name: string, how: string) =>
  z.string({ error: required(name, how) }).check(
    z.minLength(1, { error: `${name} is required: ${how}` }),
    z.refine((v) => parseHttpUrl(v) !== undefined, { error: `${name} must be an absolute http(s) URL: ${how}` }),
  )

function parseHttpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined
  } catch {
    return undefined
  }
}

function isLoopbackHost(hostname: string): boolean {
  return hostname === 'localhost' || hostname === '[::1]' || /^127(\.\d{1,3}){3}$/.test(hostname)
}

const VarsSchema = z.object({
  ENVIRONMENT: z.enum(ENVIRONMENTS, {
    error: required('ENVIRONMENT', 'set it in wrangler.toml [vars] to development, staging or production'),
  }),
  UPSTASH_REDIS_REST_URL: httpUrl(
    'UPSTASH_REDIS_REST_URL',
    'the REST URL of your Upstash database (https://…upstash.io); `npm run dev` sets a local one',
  ),
  UPSTASH_REDIS_REST_TOKEN: z
    .string({
      error: required(
        'UPSTASH_REDIS_REST_TOKEN',
        'run `wrangler secret put UPSTASH_REDIS_REST_TOKEN` (locally `npm run dev` writes it to .dev.vars)',
      ),
    })
    .check(
      z.minLength(1, {
        error:
          'UPSTASH_REDIS_REST_TOKEN is required: run `wrangler secret put UPSTASH_REDIS_REST_TOKEN` (locally `npm run dev` writes it to .dev.vars)',
      }),
    ),
  REDIS_INSECURE_ALLOW_PLAINTEXT: flag('REDIS_INSECURE_ALLOW_PLAINTEXT'),
  UPSTASH_TIMEOUT_MS: integer('UPSTASH_TIMEOUT_MS', 50, 10_000, 1_000),
  UPSTASH_RETRIES: integer('UPSTASH_RETRIES', 0, 3, 1),
  UPSTREAM_URL: z.optional(
    httpUrl('UPSTREAM_URL', 'the base URL of the API edgeward protects, e.g. https://api.internal.example.com'),
  ),
})

type Vars = z.output<typeof VarsSchema>

/** Environment-dependent rules (S-CF-1, S-CF-3): what is tolerated locally is refused in staging and production. */
function checkPolicy(vars: Vars, issue: (variable: keyof Vars, message: string) => void): void {
  const env = vars.ENVIRONMENT
  const strict = env !== 'development'
  const redisUrl = parseHttpUrl(vars.UPSTASH_REDIS_REST_URL)
  if (redisUrl?.protocol === 'http:') {
    if (strict) {
      issue('UPSTASH_REDIS_REST_URL', `UPSTASH_REDIS_REST_URL must start with https:// in ${env} (got http://…)`)
    } else if (!isLoopbackHost(redisUrl.hostname) && !vars.REDIS_INSECURE_ALLOW_PLAINTEXT) {
      issue(
        'UPSTASH_REDIS_REST_URL',
        'UPSTASH_REDIS_REST_URL uses plain http:// to a host that is not loopback: use https://, or set REDIS_INSECURE_ALLOW_PLAINTEXT=true (development only)',
      )
    }
  }
  if (strict && vars.REDIS_INSECURE_ALLOW_PLAINTEXT) {
    issue(
      'REDIS_INSECURE_ALLOW_PLAINTEXT',
      `REDIS_INSECURE_ALLOW_PLAINTEXT is honoured only in development: remove it from the ${env} configuration`,
    )
  }
  if (strict) {
    const weak = weakSecretReason(vars.UPSTASH_REDIS_REST_TOKEN)
    if (weak)
      issue(
        'UPSTASH_REDIS_REST_TOKEN',
        `UPSTASH_REDIS_REST_TOKEN ${weak}: copy the token from the Upstash console and run \`wrangler secret put UPSTASH_REDIS_REST_TOKEN --env ${env}\``,
      )
    if (vars.UPSTREAM_URL === undefined) {
      issue(
        'UPSTREAM_URL',
        `UPSTREAM_URL is required in ${env}: set the origin's https:// base URL in wrangler.toml [env.${env}.vars]`,
      )
    } else if (parseHttpUrl(vars.UPSTREAM_URL)?.protocol !== 'https:') {
      issue('UPSTREAM_URL', `UPSTREAM_URL must start with https:// in ${env} (got http://…)`)
    }
  }
}

function toConfig(vars: Vars) {
  return {
    environment: vars.ENVIRONMENT,
    redis: {
      url: vars.UPSTASH_REDIS_REST_URL,
      token: vars.UPSTASH_REDIS_REST_TOKEN,
      timeoutMs: vars.UPSTASH_TIMEOUT_MS,
      retries: vars.UPSTASH_RETRIES,
      /** True when the Redis URL is plain http:// to a host other than loopback (the override is in use). */
      insecurePlaintext:
        vars.REDIS_INSECURE_ALLOW_PLAINTEXT &&
        parseHttpUrl(vars.UPSTASH_REDIS_REST_URL)?.protocol === 'http:' &&
        !isLoopbackHost(parseHttpUrl(vars.UPSTASH_REDIS_REST_URL)?.hostname ?? ''),
      allowPlaintextOverride: vars.REDIS_INSECURE_ALLOW_PLAINTEXT,
    },
    upstream: { url: vars.UPSTREAM_URL },
  }
}

export type Config = ReturnType<typeof toConfig>

/** The names the schema reads: every var and secret of the gateway. */
export const CONFIG_VARIABLES = Object.keys(VarsSchema.shape) as (keyof Vars)[]

export interface ConfigIssue {
  /** The variable at fault. Never its value. */
  variable: string
  /** What is wrong and how to fix it. May name a URL scheme, never a value. */
  message: string
}

export type ConfigResult = { ok: true; config: Config } | { ok: false; issues: ConfigIssue[] }

/** Parses raw worker bindings. Pure: no logging, no caching (see load.ts). */
export function parseConfig(env: Record<string, unknown>): ConfigResult {
  const raw: Record<string, unknown> = {}
  for (const name of CONFIG_VARIABLES) raw[name] = env[name] === '' ? undefined : env[name]
  const parsed = VarsSchema.safeParse(raw)
  if (!parsed.success) {
    return {
      ok: false,
      issues: parsed.error.issues.map((i) => ({ variable: String(i.path[0] ?? 'configuration'), message: i.message })),
    }
  }
  const issues: ConfigIssue[] = []
  checkPolicy(parsed.data, (variable, message) => issues.push({ variable, message }))
  return issues.length > 0 ? { ok: false, issues } : { ok: true, config: toConfig(parsed.data) }
}

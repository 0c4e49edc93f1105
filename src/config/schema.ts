/**
 * Every worker variable and secret, its default and its production rule: the only file that knows env names.
 * `parseConfig` turns the raw bindings into the nested `Config` the rest of the gateway uses.
 */
import * as z from 'zod/mini'
import { MIN_HMAC_SECRET_BYTES, weakSecretReason } from './secrets'

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

const BASE64URL_32_BYTES = /^[A-Za-z0-9_-]{43}$/

/** A JSON-encoded value (secrets and vars hold text); an unparseable value becomes a zod issue. */
const json = <T extends z.ZodMiniType>(name: string, how: string, schema: T) =>
  z.pipe(
    z.pipe(
      z.string(),
      z.transform((text, ctx) => {
        try {
          return JSON.parse(text) as unknown
        } catch {
          ctx.issues.push({ code: 'custom', input: undefined, message: `${name} is not valid JSON: ${how}` })
          return z.NEVER
        }
      }),
    ),
    schema,
  )

const ed25519PublicJwk = z.object({
  kty: z.literal('OKP'),
  crv: z.literal('Ed25519'),
  x: z.string().check(z.regex(BASE64URL_32_BYTES)),
})
const ed25519PrivateJwk = z.object({ ...ed25519PublicJwk.shape, d: z.string().check(z.regex(BASE64URL_32_BYTES)) })

/** Local origins allowed by default in development only (common dev-server ports). */
export const DEVELOPMENT_CORS_ORIGINS = [
  'http://localhost:3000',
  'http://127.0.0.1:3000',
  'http://localhost:5173',
  'http://127.0.0.1:5173',
  'http://localhost:8080',
  'http://127.0.0.1:8080',
]

/**
 * Why `value` is not a serialized origin (`scheme://host[:port]`, R-CORS-1 in docs/requirements.md), or undefined when
 * it is one.
 */
function originProblem(value: string): string | undefined {
  if (value === '*') return 'is a wildcard; list every allowed origin explicitly'
  if (value === 'null') return 'is the opaque origin "null", which is never allowed'
  const url = parseHttpUrl(value)
  if (url === undefined) return 'is not an http(s) origin'
  if (url.origin !== value) return 'must be exactly scheme://host[:port], lower-case, with no path or trailing slash'
  return undefined
}

export interface RateLimitSpec {
  limit: number
  windowSeconds: number
}

const RATE_SPEC = /^(\d+)\s*\/\s*(\d+)\s*(s|m|h)$/
const UNIT_SECONDS = { s: 1, m: 60, h: 3_600 } as const

/** `N/<window>` (`100/15m`, `5/900s`, `1000/1h`) or `off`; undefined when it is neither. */
export function parseRateLimitSpec(value: string): RateLimitSpec | 'off' | undefined {
  if (value.trim() === 'off') return 'off'
  const match = RATE_SPEC.exec(value.trim())
  if (!match) return undefined
  const limit = Number(match[1])
  const windowSeconds = Number(match[2]) * UNIT_SECONDS[match[3] as keyof typeof UNIT_SECONDS]
  if (limit < 1 || limit > 1_000_000 || windowSeconds < 1 || windowSeconds > 86_400) return undefined
  return { limit, windowSeconds }
}

const rateSpec = (name: string, fallback: string) =>
  z._default(
    z.string().check(
      z.refine((v) => parseRateLimitSpec(v) !== undefined, {
        error: `${name} must be N/<window> with N from 1 to 1000000 and a window from 1s to 24h (e.g. 100/15m), or off`,
      }),
    ),
    fallback,
  )

const HOW_PEPPER = 'generate one with `npm run keys -- secret` and store it with `wrangler secret put PASSWORD_PEPPER`'

/**
 * The pepper used in development when PASSWORD_PEPPER is not set (`npm run dev` writes a random one to .dev.vars).
 * Not a secret: staging and production refuse to start without their own PASSWORD_PEPPER.
 */
export const DEVELOPMENT_PASSWORD_PEPPER = 'edgeward-development-only-pepper'

const HOW_SIGNING =
  'generate one with `npm run keys -- secret` and store it with `wrangler secret put UPSTREAM_SIGNING_SECRET`; give the origin the same value'

/**
 * The upstream signing secret in development when UPSTREAM_SIGNING_SECRET is not set (`npm run dev` writes a
 * random one to .dev.vars). Not a secret: staging and production refuse to start without their own.
 */
export const DEVELOPMENT_UPSTREAM_SIGNING_SECRET = 'edgeward-development-only-upstream-signing-secret'

const HOW_KEYS = 'run `npm run keys -- generate` and store the private JWK with `wrangler secret put JWT_PRIVATE_KEY`'

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
  JWT_PRIVATE_KEY: z.optional(
    json(
      'JWT_PRIVATE_KEY',
      HOW_KEYS,
      z.pipe(
        ed25519PrivateJwk,
        z.transform((jwk) => ({ kty: jwk.kty, crv: jwk.crv, x: jwk.x, d: jwk.d })),
      ),
    ),
  ),
  JWT_PUBLIC_KEYS: z.optional(
    json(
      'JWT_PUBLIC_KEYS',
      'a JSON array of Ed25519 public JWKs (upcoming or retired signing keys), e.g. [{"kty":"OKP","crv":"Ed25519","x":"…"}]',
      z.array(
        z.pipe(
          ed25519PublicJwk,
          z.transform((jwk) => ({ kty: jwk.kty, crv: jwk.crv, x: jwk.x })),
        ),
      ),
    ),
  ),
  JWT_SECRET: z.optional(z.string()),
  JWT_PREVIOUS_SECRETS: z.optional(z.string()),
  JWT_ISSUER: z._default(z.string().check(z.minLength(1, { error: 'JWT_ISSUER must not be empty' })), 'edgeward'),
  JWT_AUDIENCE: z._default(z.string().check(z.minLength(1, { error: 'JWT_AUDIENCE must not be empty' })), 'edgeward'),
  ACCESS_TOKEN_TTL_SECONDS: integer('ACCESS_TOKEN_TTL_SECONDS', 60, 3_600, 900),
  CLOCK_SKEW_SECONDS: integer('CLOCK_SKEW_SECONDS', 0, 60, 60),
  REVOCATION_FAILURE_MODE: z._default(
    z.enum(['closed', 'open'], { error: 'REVOCATION_FAILURE_MODE must be closed or open' }),
    'closed',
  ),
  REVOCATION_FAIL_OPEN_ACKNOWLEDGED: flag('REVOCATION_FAIL_OPEN_ACKNOWLEDGED'),
  CORS_ORIGINS: z.optional(z.string()),
  CORS_MAX_AGE_SECONDS: integer('CORS_MAX_AGE_SECONDS', 0, 7_200, 600),
  CORS_ALLOW_CREDENTIALS: flag('CORS_ALLOW_CREDENTIALS'),
  BODY_LIMIT_BYTES: integer('BODY_LIMIT_BYTES', 1_024, 100 * 1_024 * 1_024, 1_024 * 1_024),
  AUTH_BODY_LIMIT_BYTES: integer('AUTH_BODY_LIMIT_BYTES', 1_024, 64 * 1_024, 8 * 1_024),
  METRICS_TOKEN: z.optional(z.string()),
  RATE_LIMIT_GLOBAL: rateSpec('RATE_LIMIT_GLOBAL', '100/15m'),
  RATE_LIMIT_AUTH: rateSpec('RATE_LIMIT_AUTH', '5/15m'),
  RATE_LIMIT_USER: rateSpec('RATE_LIMIT_USER', '1000/15m'),
  RATE_LIMIT_DEGRADED_FRACTION: z._default(
    z.coerce
      .number({ error: 'RATE_LIMIT_DEGRADED_FRACTION must be a number above 0 and at most 1' })
      .check(
        z.gt(0, { error: 'RATE_LIMIT_DEGRADED_FRACTION must be above 0' }),
        z.lte(1, { error: 'RATE_LIMIT_DEGRADED_FRACTION must be at most 1' }),
      ),
    0.1,
  ),
  RATE_LIMIT_BREAKER_THRESHOLD: integer('RATE_LIMIT_BREAKER_THRESHOLD', 1, 20, 3),
  RATE_LIMIT_BREAKER_COOLDOWN_SECONDS: integer('RATE_LIMIT_BREAKER_COOLDOWN_SECONDS', 1, 600, 30),
  PASSWORD_PEPPER: z.optional(z.string()),
  PASSWORD_MIN_LENGTH: integer('PASSWORD_MIN_LENGTH', 8, 64, 8),
  REGISTRATION: z.optional(z.enum(['open', 'closed'], { error: 'REGISTRATION must be open or closed' })),
  DEFAULT_USER_SCOPES: z._default(
    z.string().check(
      z.maxLength(1_024, { error: 'DEFAULT_USER_SCOPES must be at most 1024 characters' }),
      z.regex(/^[\x21\x23-\x5B\x5D-\x7E ]*$/, {
        error: 'DEFAULT_USER_SCOPES must be space-separated scope tokens (RFC 6749 §3.3 characters), e.g. "read:items"',
      }),
    ),
    '',
  ),
  LOCKOUT_THRESHOLD: integer('LOCKOUT_THRESHOLD', 3, 20, 5),
  LOCKOUT_SECONDS: integer('LOCKOUT_SECONDS', 60, 86_400, 900),
  REFRESH_GRACE_SECONDS: integer('REFRESH_GRACE_SECONDS', 0, 60, 10),
  REFRESH_IDLE_SECONDS: integer('REFRESH_IDLE_SECONDS', 300, 90 * 86_400, 7 * 86_400),
  REFRESH_ABSOLUTE_SECONDS: integer('REFRESH_ABSOLUTE_SECONDS', 3_600, 365 * 86_400, 30 * 86_400),
  UPSTREAM_URL: z.optional(
    httpUrl('UPSTREAM_URL', 'the base URL of the API edgeward protects, e.g. https://api.internal.example.com'),
  ),
  UPSTREAM_SIGNING_SECRET: z.optional(z.string()),
  UPSTREAM_TIMEOUT_MS: integer('UPSTREAM_TIMEOUT_MS', 100, 60_000, 10_000),
  UPSTREAM_RETRIES: integer('UPSTREAM_RETRIES', 0, 1, 1),
  UPSTREAM_BREAKER_THRESHOLD: integer('UPSTREAM_BREAKER_THRESHOLD', 1, 100, 5),
  UPSTREAM_BREAKER_COOLDOWN_SECONDS: integer('UPSTREAM_BREAKER_COOLDOWN_SECONDS', 1, 600, 30),
  UPSTREAM_BREAKER_MIN_CLIENTS: integer('UPSTREAM_BREAKER_MIN_CLIENTS', 1, 100, 3),
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
  checkSigningPolicy(vars, issue)
  checkCorsPolicy(vars, issue)
  if (strict && vars.RATE_LIMIT_AUTH.trim() === 'off') {
    issue(
      'RATE_LIMIT_AUTH',
      `RATE_LIMIT_AUTH=off is refused in ${env}: the auth limit protects accounts; set N/<window>, e.g. 5/15m`,
    )
  }
  if (vars.UPSTREAM_SIGNING_SECRET !== undefined) {
    const secret = vars.UPSTREAM_SIGNING_SECRET
    const weak = weakSecretReason(secret, MIN_HMAC_SECRET_BYTES, new TextEncoder().encode(secret).length)
    if (weak) issue('UPSTREAM_SIGNING_SECRET', `UPSTREAM_SIGNING_SECRET ${weak}: ${HOW_SIGNING}`)
  }
  if (vars.REFRESH_IDLE_SECONDS > vars.REFRESH_ABSOLUTE_SECONDS) {
    issue(
      'REFRESH_IDLE_SECONDS',
      'REFRESH_IDLE_SECONDS must not exceed REFRESH_ABSOLUTE_SECONDS: the idle timeout ends a session that is not used; the absolute lifetime ends every session',
    )
  }
  if (vars.METRICS_TOKEN !== undefined && strict) {
    const weak = weakSecretReason(vars.METRICS_TOKEN)
    if (weak)
      issue(
        'METRICS_TOKEN',
        `METRICS_TOKEN ${weak}: generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put METRICS_TOKEN --env ${env}\``,
      )
  }
  if (vars.REVOCATION_FAILURE_MODE === 'open' && env === 'production' && !vars.REVOCATION_FAIL_OPEN_ACKNOWLEDGED) {
    issue(
      'REVOCATION_FAILURE_MODE',
      'REVOCATION_FAILURE_MODE=open lets revoked tokens through while Upstash is down; in production also set REVOCATION_FAIL_OPEN_ACKNOWLEDGED=true, or use closed',
    )
  }
  if (strict) {
    const weak = weakSecretReason(vars.UPSTASH_REDIS_REST_TOKEN)
    if (weak)
      issue(
        'UPSTASH_REDIS_REST_TOKEN',
        `UPSTASH_REDIS_REST_TOKEN ${weak}: copy the token from the Upstash console and run \`wrangler secret put UPSTASH_REDIS_REST_TOKEN --env ${env}\``,
      )
    if (vars.PASSWORD_PEPPER === undefined) {
      issue('PASSWORD_PEPPER', `PASSWORD_PEPPER is required in ${env}: ${HOW_PEPPER} --env ${env}`)
    } else {
      const weakPepper = weakSecretReason(vars.PASSWORD_PEPPER)
      if (weakPepper) issue('PASSWORD_PEPPER', `PASSWORD_PEPPER ${weakPepper}: ${HOW_PEPPER} --env ${env}`)
    }
    if (vars.UPSTREAM_SIGNING_SECRET === undefined) {
      issue('UPSTREAM_SIGNING_SECRET', `UPSTREAM_SIGNING_SECRET is required in ${env}: ${HOW_SIGNING} --env ${env}`)
    }
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

/** Exactly one signing family (R-JWT-3, R-JWT-12): an Ed25519 key pair, or an HMAC secret of 32+ bytes. */
function checkSigningPolicy(vars: Vars, issue: (variable: keyof Vars, message: string) => void): void {
  const hasKey = vars.JWT_PRIVATE_KEY !== undefined
  const hasSecret = vars.JWT_SECRET !== undefined
  if (hasKey && hasSecret) {
    issue(
      'JWT_SECRET',
      'JWT_PRIVATE_KEY and JWT_SECRET are both set: choose one algorithm family (EdDSA or HS256) and remove the other',
    )
  } else if (!hasKey && !hasSecret) {
    issue(
      'JWT_PRIVATE_KEY',
      `JWT_PRIVATE_KEY is required (or JWT_SECRET for HS256): ${HOW_KEYS}; locally \`npm run dev\` writes one to .dev.vars`,
    )
  }
  if (hasSecret) {
    for (const [variable, secret] of [
      ['JWT_SECRET', vars.JWT_SECRET],
      ...splitList(vars.JWT_PREVIOUS_SECRETS).map((s) => ['JWT_PREVIOUS_SECRETS', s] as const),
    ] as const) {
      const weak = weakSecretReason(secret ?? '', MIN_HMAC_SECRET_BYTES, new TextEncoder().encode(secret ?? '').length)
      if (weak)
        issue(
          variable,
          `${variable} ${weak}: generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put ${variable}\``,
        )
    }
  }
  if (!hasSecret && vars.JWT_PREVIOUS_SECRETS !== undefined) {
    issue('JWT_PREVIOUS_SECRETS', 'JWT_PREVIOUS_SECRETS is only used with JWT_SECRET (HS256): remove it')
  }
  if (!hasKey && vars.JWT_PUBLIC_KEYS !== undefined) {
    issue('JWT_PUBLIC_KEYS', 'JWT_PUBLIC_KEYS is only used with JWT_PRIVATE_KEY (EdDSA): remove it')
  }
}

/**
 * Explicit, exact origins, never `*` or `null` (R-CORS-1, R-CORS-2, R-CORS-3); https only and required outside
 * development.
 */
function checkCorsPolicy(vars: Vars, issue: (variable: keyof Vars, message: string) => void): void {
  const env = vars.ENVIRONMENT
  const origins = splitList(vars.CORS_ORIGINS)
  if (env !== 'development' && origins.length === 0) {
    issue(
      'CORS_ORIGINS',
      `CORS_ORIGINS is required in ${env}: the comma-separated https:// origins of your web apps, e.g. https://app.example.com`,
    )
  }
  for (const origin of origins) {
    const problem = originProblem(origin)
    if (problem) issue('CORS_ORIGINS', `CORS_ORIGINS entry #${origins.indexOf(origin) + 1} ${problem}`)
    else if (env !== 'development' && !origin.startsWith('https://')) {
      issue('CORS_ORIGINS', `CORS_ORIGINS entry #${origins.indexOf(origin) + 1} must be https:// in ${env}`)
    }
  }
}

function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0)
}

function toSigning(vars: Vars): SigningConfig {
  if (vars.JWT_PRIVATE_KEY !== undefined) {
    return { alg: 'EdDSA', privateJwk: vars.JWT_PRIVATE_KEY, publicJwks: vars.JWT_PUBLIC_KEYS ?? [] }
  }
  return { alg: 'HS256', secret: vars.JWT_SECRET ?? '', previousSecrets: splitList(vars.JWT_PREVIOUS_SECRETS) }
}

export type Ed25519PublicJwk = { kty: 'OKP'; crv: 'Ed25519'; x: string }
export type Ed25519PrivateJwk = Ed25519PublicJwk & { d: string }
export type SigningConfig =
  | { alg: 'EdDSA'; privateJwk: Ed25519PrivateJwk; publicJwks: Ed25519PublicJwk[] }
  | { alg: 'HS256'; secret: string; previousSecrets: string[] }

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
    jwt: {
      issuer: vars.JWT_ISSUER,
      audience: vars.JWT_AUDIENCE,
      accessTtlSeconds: vars.ACCESS_TOKEN_TTL_SECONDS,
      clockSkewSeconds: vars.CLOCK_SKEW_SECONDS,
      signing: toSigning(vars),
    },
    revocation: { failureMode: vars.REVOCATION_FAILURE_MODE },
    cors: {
      origins:
        vars.CORS_ORIGINS === undefined && vars.ENVIRONMENT === 'development'
          ? DEVELOPMENT_CORS_ORIGINS
          : splitList(vars.CORS_ORIGINS),
      maxAgeSeconds: vars.CORS_MAX_AGE_SECONDS,
      allowCredentials: vars.CORS_ALLOW_CREDENTIALS,
    },
    bodyLimits: { defaultBytes: vars.BODY_LIMIT_BYTES, authBytes: vars.AUTH_BODY_LIMIT_BYTES },
    metrics: { token: vars.METRICS_TOKEN },
    rateLimit: {
      global: parseRateLimitSpec(vars.RATE_LIMIT_GLOBAL) as RateLimitSpec | 'off',
      auth: parseRateLimitSpec(vars.RATE_LIMIT_AUTH) as RateLimitSpec | 'off',
      user: parseRateLimitSpec(vars.RATE_LIMIT_USER) as RateLimitSpec | 'off',
      degradedFraction: vars.RATE_LIMIT_DEGRADED_FRACTION,
      breaker: {
        failureThreshold: vars.RATE_LIMIT_BREAKER_THRESHOLD,
        cooldownMs: vars.RATE_LIMIT_BREAKER_COOLDOWN_SECONDS * 1_000,
      },
    },
    /** The origin (src/routes/proxy.ts). `url` is unset only in development, where proxied paths then get 502. */
    upstream: {
      url: vars.UPSTREAM_URL,
      signingSecret: vars.UPSTREAM_SIGNING_SECRET ?? DEVELOPMENT_UPSTREAM_SIGNING_SECRET,
      timeoutMs: vars.UPSTREAM_TIMEOUT_MS,
      retries: vars.UPSTREAM_RETRIES,
      breaker: {
        failureThreshold: vars.UPSTREAM_BREAKER_THRESHOLD,
        cooldownMs: vars.UPSTREAM_BREAKER_COOLDOWN_SECONDS * 1_000,
        /** Distinct client identities among the failures before it opens (capped at the threshold). */
        minSources: vars.UPSTREAM_BREAKER_MIN_CLIENTS,
      },
    },
    /** Password hashing (src/passwords/password.ts): the HMAC pepper (never stored) and the policy minimum. */
    passwords: {
      pepper: vars.PASSWORD_PEPPER ?? DEVELOPMENT_PASSWORD_PEPPER,
      minLength: vars.PASSWORD_MIN_LENGTH,
    },
    /** Accounts and sessions (src/routes/auth): registration, lockout (S-LO-1, S-LO-2, R-BF-1) and refresh families. */
    accounts: {
      /** Open by default in development only: a deployed gateway creates accounts only if told to. */
      registration: vars.REGISTRATION ?? (vars.ENVIRONMENT === 'development' ? 'open' : 'closed'),
      defaultScopes: vars.DEFAULT_USER_SCOPES.split(' ').filter((s) => s.length > 0),
      lockout: {
        threshold: vars.LOCKOUT_THRESHOLD,
        lockSeconds: vars.LOCKOUT_SECONDS,
        /** NIST SP 800-63B §3.2.2: never more than 100 failed attempts per account per hour. */
        hourlyCeiling: 100,
      },
      refresh: {
        graceSeconds: vars.REFRESH_GRACE_SECONDS,
        idleSeconds: vars.REFRESH_IDLE_SECONDS,
        absoluteSeconds: vars.REFRESH_ABSOLUTE_SECONDS,
      },
    },
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

/** A zod issue as a config issue: our own messages start with the variable; nested ones get a fix-it hint. */
function toConfigIssue(i: z.core.$ZodIssue): ConfigIssue {
  const variable = String(i.path[0] ?? 'configuration')
  if (i.message.startsWith(variable)) return { variable, message: i.message }
  const where = i.path.slice(1).join('.')
  const hint = variable === 'JWT_PRIVATE_KEY' ? `: it must be an Ed25519 private JWK; ${HOW_KEYS}` : ''
  return { variable, message: `${variable} is invalid${where ? ` at ${where}` : ''} (${i.code})${hint}` }
}

/**
 * Hosts a development configuration may answer: loopback (`localhost`, 127.0.0.0/8, `[::1]`) and the names
 * reserved for local use and testing that never resolve publicly (`*.localhost`, `*.test`: RFC 6761, RFC 2606).
 */
export function isDevelopmentHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '')
  return isLoopbackHost(host) || host.endsWith('.localhost') || host.endsWith('.test')
}

/**
 * Why `config` must not answer a request for `hostname`, or undefined when it may. Development settings (weak
 * default secrets, open registration, local CORS origins) are only for a worker reachable from this machine.
 */
export function servingHostIssue(config: Config, hostname: string): ConfigIssue | undefined {
  if (config.environment !== 'development' || isDevelopmentHost(hostname)) return undefined
  return {
    variable: 'ENVIRONMENT',
    message: `ENVIRONMENT=development is served on host ${hostname}, which is not a loopback address: use ENVIRONMENT=staging or production for a deployed worker, or reach the dev server through localhost or 127.0.0.1`,
  }
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

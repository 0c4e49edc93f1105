/**
 * Every worker variable and secret the gateway reads, with its default and its own validation: the only
 * module that knows env names. Rules that depend on the environment or on several variables live in rules.ts.
 */
import * as z from 'zod/mini'

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

export function parseHttpUrl(value: string): URL | undefined {
  try {
    const url = new URL(value)
    return url.protocol === 'https:' || url.protocol === 'http:' ? url : undefined
  } catch {
    return undefined
  }
}

export function isLoopbackHost(hostname: string): boolean {
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

const rateSpec = (name: string, fallback: string, maxWindowSeconds = 86_400, why = '') =>
  z._default(
    z.string().check(
      z.refine((v) => parseRateLimitSpec(v) !== undefined, {
        error: `${name} must be N/<window> with N from 1 to 1000000 and a window from 1s to 24h (e.g. 100/15m), or off`,
      }),
      z.refine(
        (v) => {
          const spec = parseRateLimitSpec(v)
          return spec === undefined || spec === 'off' || spec.windowSeconds <= maxWindowSeconds
        },
        { error: `${name}'s window must be at most ${maxWindowSeconds / 60}m${why}` },
      ),
    ),
    fallback,
  )

/**
 * The lifetime of a password-reset link (PASSWORD_RESET_TOKEN_TTL_SECONDS): the longest RATE_LIMIT_PASSWORD_RESET
 * window, so an owner refused a message still holds a live link, the last one sent (the window is an exact log).
 */
export const PASSWORD_RESET_MAX_WINDOW_SECONDS = 30 * 60

/** How to make and store each secret: the fix-it tail of the messages that ask for one. */

/** How to make and store PASSWORD_PEPPER, for the environment `env` when one is named. */
export const howPepper = (env?: string) =>
  `generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put PASSWORD_PEPPER${env ? ` --env ${env}` : ''}\``

/**
 * The pepper used in development when PASSWORD_PEPPER is not set (`npm run dev` writes a random one to .dev.vars).
 * Not a secret: staging and production refuse to start without their own PASSWORD_PEPPER.
 */
export const DEVELOPMENT_PASSWORD_PEPPER = 'edgeward-development-only-pepper'

/** How to make and store UPSTREAM_SIGNING_SECRET, for the environment `env` when one is named. */
export const howSigning = (env?: string) =>
  `generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put UPSTREAM_SIGNING_SECRET${env ? ` --env ${env}` : ''}\`; give the origin the same value`

/**
 * The upstream signing secret in development when UPSTREAM_SIGNING_SECRET is not set (`npm run dev` writes a
 * random one to .dev.vars). Not a secret: staging and production refuse to start without their own.
 */
export const DEVELOPMENT_UPSTREAM_SIGNING_SECRET = 'edgeward-development-only-upstream-signing-secret'

export const HOW_KEYS =
  'run `npm run keys -- generate` and store the private JWK with `wrangler secret put JWT_PRIVATE_KEY`'

export const VarsSchema = z.object({
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
      // It travels in a header: for a character outside ASCII (a curly quote pasted with it) workerd logs a
      // warning that quotes the whole value, and a line break fails every call. Never echoes the value.
      z.regex(/^[\x21-\x7e]*$/, {
        error:
          'UPSTASH_REDIS_REST_TOKEN must be printable ASCII without spaces or line breaks: copy it again from the Upstash console',
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
  RATE_LIMIT_REFRESH: rateSpec('RATE_LIMIT_REFRESH', '30/15m'),
  RATE_LIMIT_PASSWORD_RESET: rateSpec(
    'RATE_LIMIT_PASSWORD_RESET',
    '3/30m',
    PASSWORD_RESET_MAX_WINDOW_SECONDS,
    ', the reset link lifetime: an owner refused a message must still hold the last link sent',
  ),
  RATE_LIMIT_REPEAT_REGISTRATION: rateSpec('RATE_LIMIT_REPEAT_REGISTRATION', '3/1h'),
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
  REGISTRATION: z.optional(
    z.enum(['open', 'verify', 'closed'], { error: 'REGISTRATION must be open, verify or closed' }),
  ),
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
  ACCOUNT_EVENTS_URL: z.optional(
    httpUrl(
      'ACCOUNT_EVENTS_URL',
      'the origin URL that receives account events (verification and password-reset tokens), e.g. https://api.internal.example.com/edgeward/account-events',
    ),
  ),
  UPSTREAM_TIMEOUT_MS: integer('UPSTREAM_TIMEOUT_MS', 100, 60_000, 10_000),
  UPSTREAM_RETRIES: integer('UPSTREAM_RETRIES', 0, 1, 1),
  UPSTREAM_BREAKER_THRESHOLD: integer('UPSTREAM_BREAKER_THRESHOLD', 1, 100, 5),
  UPSTREAM_BREAKER_COOLDOWN_SECONDS: integer('UPSTREAM_BREAKER_COOLDOWN_SECONDS', 1, 600, 30),
  UPSTREAM_BREAKER_MIN_CLIENTS: integer('UPSTREAM_BREAKER_MIN_CLIENTS', 1, 100, 3),
})

/** The variables once parsed: defaults applied, JSON decoded, numbers and flags coerced. */
export type Vars = z.output<typeof VarsSchema>

/** A comma-separated list var, trimmed, without empty entries. */
export function splitList(value: string | undefined): string[] {
  return (value ?? '')
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v.length > 0)
}

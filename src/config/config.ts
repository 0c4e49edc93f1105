/**
 * The nested `Config` the rest of the gateway reads, written out so its shape and meaning can be read in one
 * place, and `toConfig`, which shapes validated variables into it. The compiler checks the two against each
 * other and against the schema's output (see the assertion below `shapeConfig`).
 */
import {
  DEVELOPMENT_CORS_ORIGINS,
  DEVELOPMENT_PASSWORD_PEPPER,
  DEVELOPMENT_UPSTREAM_SIGNING_SECRET,
  type Environment,
  isLoopbackHost,
  parseHttpUrl,
  parseRateLimitSpec,
  type RateLimitSpec,
  splitList,
  type Vars,
} from './vars'

export type Ed25519PublicJwk = { kty: 'OKP'; crv: 'Ed25519'; x: string }
export type Ed25519PrivateJwk = Ed25519PublicJwk & { d: string }
export type SigningConfig =
  | { alg: 'EdDSA'; privateJwk: Ed25519PrivateJwk; publicJwks: Ed25519PublicJwk[] }
  | { alg: 'HS256'; secret: string; previousSecrets: string[] }

/** The gateway's configuration once parsed and checked: defaults applied, durations in the unit each user wants. */
export interface Config {
  environment: Environment
  /** The Upstash REST endpoint that holds revocations, rate-limit windows and lockouts. */
  redis: {
    url: string
    token: string
    timeoutMs: number
    retries: number
    /** True when the Redis URL is plain http:// to a host other than loopback (the override is in use). */
    insecurePlaintext: boolean
    /** REDIS_INSECURE_ALLOW_PLAINTEXT as set, whether or not the URL needs it. */
    allowPlaintextOverride: boolean
  }
  /** Access tokens: the claims they carry, how long they live, and the one signing family in use. */
  jwt: {
    issuer: string
    audience: string
    accessTtlSeconds: number
    clockSkewSeconds: number
    signing: SigningConfig
  }
  /** What authentication does when the revocation list cannot be read: refuse (`closed`) or let through (`open`). */
  revocation: { failureMode: 'closed' | 'open' }
  cors: {
    /** Exact serialized origins; in development a set of local dev-server origins when none is configured. */
    origins: string[]
    maxAgeSeconds: number
    allowCredentials: boolean
  }
  /** Request body ceilings: proxied routes by default, and the auth routes. */
  bodyLimits: { defaultBytes: number; authBytes: number }
  /** The bearer token that opens the metrics endpoint; unset, the endpoint stays closed. */
  metrics: { token: string | undefined }
  rateLimit: {
    global: RateLimitSpec | 'off'
    auth: RateLimitSpec | 'off'
    user: RateLimitSpec | 'off'
    /** Per session (refresh-token family), on /auth/refresh. */
    refresh: RateLimitSpec | 'off'
    /** Reset messages per account, from /auth/password/forgot (decided after the answer). */
    password_reset: RateLimitSpec | 'off'
    /** Messages per account from registering its address again (decided after the answer). */
    repeat_registration: RateLimitSpec | 'off'
    /** The share of each limit still granted, per isolate, while Redis is unreachable. */
    degradedFraction: number
    breaker: { failureThreshold: number; cooldownMs: number }
  }
  /** The origin (src/routes/proxy.ts). `url` is unset only in development, where proxied paths then get 502. */
  upstream: {
    url: string | undefined
    /** The HMAC secret that signs the identity headers sent to the origin. */
    signingSecret: string
    timeoutMs: number
    retries: number
    breaker: {
      failureThreshold: number
      cooldownMs: number
      /** Distinct client identities among the failures before it opens (capped at the threshold). */
      minSources: number
    }
  }
  /**
   * Account events (src/accounts): POSTed to `url`, signed with `upstream.signingSecret`. Unset, each event is
   * logged (`account_event_undeliverable`) and dropped, so verification and reset mails cannot be sent.
   */
  accountEvents: { url: string | undefined }
  /** Password hashing (src/passwords/password.ts): the HMAC pepper (never stored) and the policy minimum. */
  passwords: { pepper: string; minLength: number }
  /** Accounts and sessions (src/routes/auth): registration, lockout and refresh-token families. */
  accounts: {
    /**
     * `open`: an account is usable at once (the default in development only); `verify`: it is pending until its
     * address is proven (the default in staging and production); `closed`: no registration at all.
     */
    registration: 'open' | 'verify' | 'closed'
    defaultScopes: string[]
    lockout: {
      threshold: number
      lockSeconds: number
      /** NIST SP 800-63B §3.2.2: never more than 100 failed attempts per account per hour. */
      hourlyCeiling: number
    }
    refresh: { graceSeconds: number; idleSeconds: number; absoluteSeconds: number }
  }
}

/** Shapes variables that passed the schema and the environment rules into the configuration. */
export function toConfig(vars: Vars): Config {
  return shapeConfig(vars)
}

function toSigning(vars: Vars): SigningConfig {
  if (vars.JWT_PRIVATE_KEY !== undefined) {
    return { alg: 'EdDSA', privateJwk: vars.JWT_PRIVATE_KEY, publicJwks: vars.JWT_PUBLIC_KEYS ?? [] }
  }
  return { alg: 'HS256', secret: vars.JWT_SECRET ?? '', previousSecrets: splitList(vars.JWT_PREVIOUS_SECRETS) }
}

/** Left to inference, so the assertion below compares what it builds with `Config` in both directions. */
function shapeConfig(vars: Vars) {
  const redisUrl = parseHttpUrl(vars.UPSTASH_REDIS_REST_URL)
  return {
    environment: vars.ENVIRONMENT,
    redis: {
      url: vars.UPSTASH_REDIS_REST_URL,
      token: vars.UPSTASH_REDIS_REST_TOKEN,
      timeoutMs: vars.UPSTASH_TIMEOUT_MS,
      retries: vars.UPSTASH_RETRIES,
      insecurePlaintext:
        vars.REDIS_INSECURE_ALLOW_PLAINTEXT && redisUrl?.protocol === 'http:' && !isLoopbackHost(redisUrl.hostname),
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
    // Empty is unset, as for a shell variable: `--var METRICS_TOKEN:` (or a test's binding) turns the route off.
    metrics: { token: vars.METRICS_TOKEN === '' ? undefined : vars.METRICS_TOKEN },
    rateLimit: {
      // The schema accepted each spec, so parsing again cannot fail.
      global: parseRateLimitSpec(vars.RATE_LIMIT_GLOBAL) as RateLimitSpec | 'off',
      auth: parseRateLimitSpec(vars.RATE_LIMIT_AUTH) as RateLimitSpec | 'off',
      user: parseRateLimitSpec(vars.RATE_LIMIT_USER) as RateLimitSpec | 'off',
      refresh: parseRateLimitSpec(vars.RATE_LIMIT_REFRESH) as RateLimitSpec | 'off',
      password_reset: parseRateLimitSpec(vars.RATE_LIMIT_PASSWORD_RESET) as RateLimitSpec | 'off',
      repeat_registration: parseRateLimitSpec(vars.RATE_LIMIT_REPEAT_REGISTRATION) as RateLimitSpec | 'off',
      degradedFraction: vars.RATE_LIMIT_DEGRADED_FRACTION,
      breaker: {
        failureThreshold: vars.RATE_LIMIT_BREAKER_THRESHOLD,
        cooldownMs: vars.RATE_LIMIT_BREAKER_COOLDOWN_SECONDS * 1_000,
      },
    },
    upstream: {
      url: vars.UPSTREAM_URL,
      signingSecret: vars.UPSTREAM_SIGNING_SECRET ?? DEVELOPMENT_UPSTREAM_SIGNING_SECRET,
      timeoutMs: vars.UPSTREAM_TIMEOUT_MS,
      retries: vars.UPSTREAM_RETRIES,
      breaker: {
        failureThreshold: vars.UPSTREAM_BREAKER_THRESHOLD,
        cooldownMs: vars.UPSTREAM_BREAKER_COOLDOWN_SECONDS * 1_000,
        minSources: vars.UPSTREAM_BREAKER_MIN_CLIENTS,
      },
    },
    accountEvents: { url: vars.ACCOUNT_EVENTS_URL },
    passwords: {
      pepper: vars.PASSWORD_PEPPER ?? DEVELOPMENT_PASSWORD_PEPPER,
      minLength: vars.PASSWORD_MIN_LENGTH,
    },
    accounts: {
      registration: vars.REGISTRATION ?? (vars.ENVIRONMENT === 'development' ? 'open' : 'verify'),
      defaultScopes: vars.DEFAULT_USER_SCOPES.split(' ').filter((s) => s.length > 0),
      lockout: { threshold: vars.LOCKOUT_THRESHOLD, lockSeconds: vars.LOCKOUT_SECONDS, hourlyCeiling: 100 },
      refresh: {
        graceSeconds: vars.REFRESH_GRACE_SECONDS,
        idleSeconds: vars.REFRESH_IDLE_SECONDS,
        absoluteSeconds: vars.REFRESH_ABSOLUTE_SECONDS,
      },
    },
  }
}

/** True only when A and B are the same type, optional and readonly modifiers included. */
type Same<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false

// Fails to compile when `Config` and what `shapeConfig` builds from the schema's output drift apart: a field on
// one side only, or a type narrower or wider on one side (a value added to an enum in the schema, say).
const configMatchesSchema: Same<Config, ReturnType<typeof shapeConfig>> = true
void configMatchesSchema

import { describe, expect, it } from 'vitest'
import {
  type ConfigResult,
  DEVELOPMENT_CORS_ORIGINS,
  DEVELOPMENT_PASSWORD_PEPPER,
  DEVELOPMENT_UPSTREAM_SIGNING_SECRET,
  isDevelopmentHost,
  parseConfig,
  parseRateLimitSpec,
  servingHostIssue,
} from './schema'

const STRONG_TOKEN = 'AX3kQ9vLm2Zp8Rt5Wn7Yb4Hc6Jd1Ff0GsEaUiOqTyMr'
// Shape-valid Ed25519 JWK (parseConfig checks the shape; the key is imported later, in tokens/keys.ts).
const PUBLIC_JWK = { kty: 'OKP', crv: 'Ed25519', x: 'Qm9iX3B1YmxpY19rZXlfMzJfYnl0ZXNfbG9uZ19hYmM' }
const PRIVATE_KEY = JSON.stringify({ ...PUBLIC_JWK, d: 'U2VjcmV0X3ByaXZhdGVfa2V5XzMyX2J5dGVzX2xvbmc' })
const HMAC_SECRET = 'q7Vn2Lx9Kd4Rz8Wm3Ty6Hb1Pc5Jf0Gs-AeUiOoYr_Xw'
const PEPPER = 'Hn4Wq8Zt2Lk6Vb0Xc3Mj7Rp1Sd5Gf9Ya-Ue_IoTy2Qw'
const SIGNING_SECRET = 'Zs8Kq2Wn5Tv9Lm3Xb7Rc1Hd4Jf6Gp0Ya-Ue_IoTy2Qx'
const OTHER_SECRET = 'Rt6Yp1Qc8Vw3Ln5Zk9Xh2Jm7Bd4Gs0Fa-Ie_UoWy3Pz'
const prod = {
  PASSWORD_PEPPER: PEPPER,
  UPSTREAM_SIGNING_SECRET: SIGNING_SECRET,
  JWT_PRIVATE_KEY: PRIVATE_KEY,
  ENVIRONMENT: 'production',
  UPSTASH_REDIS_REST_URL: 'https://eu1-fine-gecko-12345.upstash.io',
  UPSTASH_REDIS_REST_TOKEN: STRONG_TOKEN,
  UPSTREAM_URL: 'https://api.internal.example.com',
  CORS_ORIGINS: 'https://app.example.com',
  ACCOUNT_EVENTS_URL: 'https://api.internal.example.com/account-events',
}
const dev = {
  ENVIRONMENT: 'development',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
  UPSTASH_REDIS_REST_TOKEN: 'x',
  JWT_PRIVATE_KEY: PRIVATE_KEY,
}

function issues(result: ConfigResult) {
  if (result.ok) throw new Error('expected the configuration to be rejected')
  return result.issues
}

describe('config schema', () => {
  it('accepts a complete production configuration and applies defaults', () => {
    const result = parseConfig(prod)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.config.environment).toBe('production')
    expect(result.config.redis).toMatchObject({ timeoutMs: 1000, retries: 1, insecurePlaintext: false })
    expect(result.config.upstream.url).toBe('https://api.internal.example.com')
  })

  it('accepts plain http:// to a loopback Redis in development without the override', () => {
    for (const url of ['http://127.0.0.1:8079', 'http://localhost:8079', 'http://[::1]:8079', 'http://127.1.2.3/']) {
      expect(parseConfig({ ...dev, UPSTASH_REDIS_REST_URL: url }).ok, url).toBe(true)
    }
  })

  it.each(['production', 'staging'])('rejects an http:// Upstash URL in %s with the fix', (environment) => {
    const found = issues(
      parseConfig({ ...prod, ENVIRONMENT: environment, UPSTASH_REDIS_REST_URL: 'http://eu1-fine-gecko.upstash.io' }),
    )
    expect(found).toEqual([
      {
        variable: 'UPSTASH_REDIS_REST_URL',
        message: `UPSTASH_REDIS_REST_URL must start with https:// in ${environment} (got http://…)`,
      },
    ])
  })

  it('rejects http:// to a non-loopback host in development unless the override is set', () => {
    const remote = { ...dev, UPSTASH_REDIS_REST_URL: 'http://redis.lan:8079' }
    expect(issues(parseConfig(remote))[0]).toMatchObject({ variable: 'UPSTASH_REDIS_REST_URL' })
    expect(issues(parseConfig(remote))[0]?.message).toContain('REDIS_INSECURE_ALLOW_PLAINTEXT=true')
    const overridden = parseConfig({ ...remote, REDIS_INSECURE_ALLOW_PLAINTEXT: 'true' })
    expect(overridden.ok && overridden.config.redis.insecurePlaintext).toBe(true)
  })

  it.each(['production', 'staging'])('refuses the plaintext override in %s', (environment) => {
    const found = issues(parseConfig({ ...prod, ENVIRONMENT: environment, REDIS_INSECURE_ALLOW_PLAINTEXT: true }))
    expect(found.map((i) => i.variable)).toEqual(['REDIS_INSECURE_ALLOW_PLAINTEXT'])
    expect(found[0]?.message).toContain('honoured only in development')
  })

  it.each([
    ['missing', undefined],
    ['empty', ''],
  ])('rejects a %s Upstash token in every environment, saying how to set it', (_, token) => {
    for (const base of [prod, dev]) {
      const found = issues(parseConfig({ ...base, UPSTASH_REDIS_REST_TOKEN: token }))
      expect(found.map((i) => i.variable)).toEqual(['UPSTASH_REDIS_REST_TOKEN'])
      expect(found[0]?.message).toContain('wrangler secret put UPSTASH_REDIS_REST_TOKEN')
    }
  })

  it.each([
    ['a curly quote', `${STRONG_TOKEN}\u2019`],
    ['a line break', `${STRONG_TOKEN}\n`],
    ['a space', `Bearer ${STRONG_TOKEN}`],
  ])('rejects an Upstash token with %s in every environment, never quoting it', (_, token) => {
    for (const base of [prod, dev]) {
      const found = issues(parseConfig({ ...base, UPSTASH_REDIS_REST_TOKEN: token }))
      expect(found.map((i) => i.variable)).toEqual(['UPSTASH_REDIS_REST_TOKEN'])
      expect(found[0]?.message).toContain('printable ASCII')
      expect(JSON.stringify(found)).not.toContain(STRONG_TOKEN)
    }
  })

  it.each([
    ['short', 'Zk3v9QpL2mX8', 'at least 32 characters'],
    ['a placeholder', 'changeme-changeme-changeme-changeme-1', 'placeholder'],
    ['a test value', 'test-token-0123456789abcdefghijklmnop', 'placeholder'],
    ['repetitive', 'abababababababababababababababababab', 'distinct characters'],
  ])('rejects a weak Upstash token (%s) in production without echoing it', (_, token, reason) => {
    const found = issues(parseConfig({ ...prod, UPSTASH_REDIS_REST_TOKEN: token }))
    expect(found).toHaveLength(1)
    expect(found[0]?.variable).toBe('UPSTASH_REDIS_REST_TOKEN')
    expect(found[0]?.message).toContain(reason)
    expect(found[0]?.message).toContain('wrangler secret put UPSTASH_REDIS_REST_TOKEN --env production')
    expect(JSON.stringify(found)).not.toContain(token)
  })

  it('tolerates a short token in development (the local server generates its own)', () => {
    expect(parseConfig(dev).ok).toBe(true)
  })

  it.each([
    ['missing', undefined, 'ENVIRONMENT is required'],
    ['unknown', 'prod', 'ENVIRONMENT is invalid'],
  ])('rejects a %s ENVIRONMENT', (_, value, message) => {
    const found = issues(parseConfig({ ...prod, ENVIRONMENT: value }))
    expect(found[0]?.variable).toBe('ENVIRONMENT')
    expect(found[0]?.message).toContain(message)
    expect(found[0]?.message).toContain('development, staging or production')
  })

  it('requires an https:// UPSTREAM_URL outside development', () => {
    expect(issues(parseConfig({ ...prod, UPSTREAM_URL: undefined }))[0]?.message).toContain(
      'UPSTREAM_URL is required in production',
    )
    expect(issues(parseConfig({ ...prod, UPSTREAM_URL: 'http://api.internal' }))[0]?.message).toBe(
      'UPSTREAM_URL must start with https:// in production (got http://…)',
    )
    expect(parseConfig({ ...dev, UPSTREAM_URL: 'http://127.0.0.1:9000' }).ok).toBe(true)
  })

  it.each([
    ['UPSTASH_REDIS_REST_URL', 'not a url'],
    ['UPSTASH_REDIS_REST_URL', 'ftp://x.upstash.io'],
    ['UPSTASH_TIMEOUT_MS', 'soon'],
    ['UPSTASH_TIMEOUT_MS', '10'],
    ['UPSTASH_TIMEOUT_MS', '1.5'],
    ['UPSTASH_RETRIES', '9'],
    ['REDIS_INSECURE_ALLOW_PLAINTEXT', 'maybe'],
  ])('rejects %s=%j by name, without its value', (variable, value) => {
    const found = issues(parseConfig({ ...prod, [variable]: value }))
    expect(found.map((i) => i.variable)).toContain(variable)
    for (const i of found) expect(i.message.startsWith(variable)).toBe(true)
    expect(JSON.stringify(found)).not.toContain(value)
  })

  it('reads numbers and booleans given as TOML values or strings', () => {
    const result = parseConfig({ ...prod, UPSTASH_TIMEOUT_MS: 250, UPSTASH_RETRIES: '0' })
    expect(result.ok && result.config.redis).toMatchObject({ timeoutMs: 250, retries: 0 })
  })

  it('reports every problem at once', () => {
    const found = issues(parseConfig({ ENVIRONMENT: 'production' }))
    expect(found.map((i) => i.variable).sort()).toEqual([
      'ACCOUNT_EVENTS_URL',
      'CORS_ORIGINS',
      'JWT_PRIVATE_KEY',
      'PASSWORD_PEPPER',
      'UPSTASH_REDIS_REST_TOKEN',
      'UPSTASH_REDIS_REST_URL',
      'UPSTREAM_SIGNING_SECRET',
      'UPSTREAM_URL',
    ])
    for (const issue of found) expect(issue.message).toContain(issue.variable)
  })

  it('reports the environment rules beside the variables that fail their own validation', () => {
    const found = issues(
      parseConfig({
        ...prod,
        UPSTASH_TIMEOUT_MS: 'soon',
        CORS_ORIGINS: '*',
        JWT_PRIVATE_KEY: '{',
        PASSWORD_PEPPER: 'x',
      }),
    )
    expect(found.map((i) => i.variable)).toEqual([
      'UPSTASH_TIMEOUT_MS',
      'JWT_PRIVATE_KEY',
      'CORS_ORIGINS',
      'PASSWORD_PEPPER',
    ])
    // The unparseable key is reported once, as invalid JSON, not also as missing.
    expect(found[1]?.message).toMatch(/^JWT_PRIVATE_KEY is not valid JSON/)
  })

  it('applies no environment rules without a valid ENVIRONMENT, but still reports every variable', () => {
    const found = issues(parseConfig({ ENVIRONMENT: 'prod', UPSTASH_TIMEOUT_MS: 'soon' }))
    expect(found.map((i) => i.variable)).toEqual([
      'ENVIRONMENT',
      'UPSTASH_REDIS_REST_URL',
      'UPSTASH_REDIS_REST_TOKEN',
      'UPSTASH_TIMEOUT_MS',
    ])
  })
})

describe('config schema: token signing and revocation', () => {
  it('defaults to EdDSA with the private key, 15-minute tokens, 60 s skew and fail-closed revocation', () => {
    const result = parseConfig(prod)
    expect(result.ok).toBe(true)
    if (!result.ok) return
    expect(result.config.jwt).toEqual({
      issuer: 'edgeward',
      audience: 'edgeward',
      accessTtlSeconds: 900,
      clockSkewSeconds: 60,
      signing: { alg: 'EdDSA', privateJwk: JSON.parse(PRIVATE_KEY), publicJwks: [] },
    })
    expect(result.config.revocation).toEqual({ failureMode: 'closed' })
  })

  it('uses HS256 when only JWT_SECRET is set, with previous secrets for rotation', () => {
    const result = parseConfig({
      ...prod,
      JWT_PRIVATE_KEY: undefined,
      JWT_SECRET: HMAC_SECRET,
      JWT_PREVIOUS_SECRETS: ` ${OTHER_SECRET} ,`,
    })
    expect(result.ok && result.config.jwt.signing).toEqual({
      alg: 'HS256',
      secret: HMAC_SECRET,
      previousSecrets: [OTHER_SECRET],
    })
  })

  it('allows a previous HMAC secret that repeats the current one or itself: the key ring keeps one', () => {
    for (const previous of [HMAC_SECRET, `${OTHER_SECRET},${OTHER_SECRET}`]) {
      const result = parseConfig({
        ...prod,
        JWT_PRIVATE_KEY: undefined,
        JWT_SECRET: HMAC_SECRET,
        JWT_PREVIOUS_SECRETS: previous,
      })
      expect(result.ok, JSON.stringify(result.ok ? '' : result.issues)).toBe(true)
    }
  })

  it.each([
    ['JWT_SECRET', 'UPSTREAM_SIGNING_SECRET', { JWT_PRIVATE_KEY: undefined, JWT_SECRET: SIGNING_SECRET }],
    [
      'JWT_PREVIOUS_SECRETS',
      'PASSWORD_PEPPER',
      { JWT_PRIVATE_KEY: undefined, JWT_SECRET: HMAC_SECRET, JWT_PREVIOUS_SECRETS: `${OTHER_SECRET},${PEPPER}` },
    ],
    ['METRICS_TOKEN', 'UPSTASH_REDIS_REST_TOKEN', { METRICS_TOKEN: STRONG_TOKEN }],
    ['UPSTREAM_SIGNING_SECRET', 'PASSWORD_PEPPER', { UPSTREAM_SIGNING_SECRET: PEPPER }],
  ])('refuses %s equal to %s: whoever holds one could act as the other', (variable, other, vars) => {
    // The origin holds UPSTREAM_SIGNING_SECRET and scrapers METRICS_TOKEN: with JWT_SECRET equal to either, they
    // could mint access tokens for any user.
    for (const environment of ['production', 'development']) {
      const found = issues(parseConfig({ ...prod, ENVIRONMENT: environment, ...vars }))
      expect(found).toContainEqual({ variable, message: expect.stringContaining(other) })
      for (const value of [SIGNING_SECRET, PEPPER, STRONG_TOKEN]) expect(JSON.stringify(found)).not.toContain(value)
    }
  })

  it('accepts extra public keys for rotation in EdDSA mode', () => {
    const result = parseConfig({ ...prod, JWT_PUBLIC_KEYS: JSON.stringify([PUBLIC_JWK]) })
    expect(result.ok && result.config.jwt.signing).toMatchObject({ publicJwks: [PUBLIC_JWK] })
  })

  it.each([
    ['neither key nor secret', { JWT_PRIVATE_KEY: undefined }, 'JWT_PRIVATE_KEY', 'JWT_PRIVATE_KEY is required'],
    ['both families at once', { JWT_SECRET: HMAC_SECRET }, 'JWT_SECRET', 'choose one algorithm family'],
    [
      'a private key that is not JSON',
      { JWT_PRIVATE_KEY: 'MC4CAQAwBQYDK2VwBCIEI' },
      'JWT_PRIVATE_KEY',
      'not valid JSON',
    ],
    [
      'an RSA private key',
      { JWT_PRIVATE_KEY: JSON.stringify({ kty: 'RSA', n: 'x', e: 'AQAB', d: 'y' }) },
      'JWT_PRIVATE_KEY',
      'Ed25519 private JWK',
    ],
    [
      'a public key as the private key',
      { JWT_PRIVATE_KEY: JSON.stringify(PUBLIC_JWK) },
      'JWT_PRIVATE_KEY',
      'Ed25519 private JWK',
    ],
    [
      'JWT_PUBLIC_KEYS that is not an array of JWKs',
      { JWT_PUBLIC_KEYS: '{"kty":"OKP"}' },
      'JWT_PUBLIC_KEYS',
      'JWT_PUBLIC_KEYS is invalid',
    ],
    [
      'previous secrets without a secret',
      { JWT_PREVIOUS_SECRETS: HMAC_SECRET },
      'JWT_PREVIOUS_SECRETS',
      'only used with JWT_SECRET',
    ],
    ['a token TTL over an hour', { ACCESS_TOKEN_TTL_SECONDS: '3601' }, 'ACCESS_TOKEN_TTL_SECONDS', 'at most 3600'],
    ['clock skew over a minute', { CLOCK_SKEW_SECONDS: '61' }, 'CLOCK_SKEW_SECONDS', 'at most 60'],
    ['an unknown failure mode', { REVOCATION_FAILURE_MODE: 'lenient' }, 'REVOCATION_FAILURE_MODE', 'closed or open'],
  ])('rejects %s', (_, change, variable, message) => {
    const found = issues(parseConfig({ ...prod, ...change }))
    expect(found.map((i) => i.variable)).toContain(variable)
    expect(found.find((i) => i.variable === variable)?.message).toContain(message)
    expect(JSON.stringify(found)).not.toContain(JSON.parse(PRIVATE_KEY).d)
  })

  it.each([
    ['short', 'q7Vn2Lx9Kd4Rz8Wm3Ty6', 'at least 32 characters'],
    ['a placeholder', 'my-super-secret-jwt-signing-key-0123456789', 'placeholder'],
    ['repetitive', 'ab'.repeat(20), 'distinct characters'],
  ])('rejects a weak JWT_SECRET (%s) in every environment, without echoing it', (_, secret, reason) => {
    for (const base of [prod, dev]) {
      const found = issues(parseConfig({ ...base, JWT_PRIVATE_KEY: undefined, JWT_SECRET: secret }))
      expect(found.map((i) => i.variable)).toEqual(['JWT_SECRET'])
      expect(found[0]?.message).toContain(reason)
      expect(found[0]?.message).toContain('wrangler secret put JWT_SECRET')
      expect(JSON.stringify(found)).not.toContain(secret)
    }
  })

  it('counts JWT_SECRET length in bytes, not characters', () => {
    const secret = 'äöüßéèêàçñøåq7Vn2Lx9' // 20 characters, 32 UTF-8 bytes
    const result = parseConfig({ ...prod, JWT_PRIVATE_KEY: undefined, JWT_SECRET: secret })
    expect(result.ok).toBe(true)
  })

  it('refuses fail-open revocation in production unless acknowledged', () => {
    const open = { ...prod, REVOCATION_FAILURE_MODE: 'open' }
    expect(issues(parseConfig(open))[0]).toMatchObject({ variable: 'REVOCATION_FAILURE_MODE' })
    expect(issues(parseConfig(open))[0]?.message).toContain('REVOCATION_FAIL_OPEN_ACKNOWLEDGED=true')
    const acknowledged = parseConfig({ ...open, REVOCATION_FAIL_OPEN_ACKNOWLEDGED: 'true' })
    expect(acknowledged.ok && acknowledged.config.revocation.failureMode).toBe('open')
    expect(parseConfig({ ...open, ENVIRONMENT: 'staging' }).ok).toBe(true)
  })
})

describe('config schema: CORS, body limits, metrics', () => {
  it('defaults to a documented list of local origins in development only', () => {
    const result = parseConfig(dev)
    expect(result.ok && result.config.cors).toEqual({
      origins: DEVELOPMENT_CORS_ORIGINS,
      maxAgeSeconds: 600,
      allowCredentials: false,
    })
    expect(result.ok && result.config.bodyLimits).toEqual({ defaultBytes: 1_048_576, authBytes: 8_192 })
    expect(issues(parseConfig({ ...prod, CORS_ORIGINS: undefined }))[0]?.message).toContain(
      'CORS_ORIGINS is required in production',
    )
  })

  it('reads exact origins, trimming spaces around commas', () => {
    const result = parseConfig({ ...prod, CORS_ORIGINS: ' https://app.example.com , https://admin.example.com:8443 ' })
    expect(result.ok && result.config.cors.origins).toEqual([
      'https://app.example.com',
      'https://admin.example.com:8443',
    ])
  })

  it.each([
    ['a wildcard', '*', 'wildcard'],
    ['the null origin', 'null', 'never allowed'],
    ['a trailing slash', 'https://app.example.com/', 'no path or trailing slash'],
    ['a path', 'https://app.example.com/app', 'no path or trailing slash'],
    ['upper case', 'https://App.example.com', 'lower-case'],
    ['not a URL', 'app.example.com', 'not an http(s) origin'],
    ['plain http in production', 'http://app.example.com', 'must be https:// in production'],
  ])('rejects %s in CORS_ORIGINS', (_, origins, message) => {
    const found = issues(parseConfig({ ...prod, CORS_ORIGINS: `https://ok.example.com,${origins}` }))
    expect(found).toHaveLength(1)
    expect(found[0]).toMatchObject({ variable: 'CORS_ORIGINS' })
    expect(found[0]?.message).toContain('entry #2')
    expect(found[0]?.message).toContain(message)
  })

  it('rejects a wildcard even in development', () => {
    expect(issues(parseConfig({ ...dev, CORS_ORIGINS: '*' }))[0]?.message).toContain('wildcard')
  })

  it.each([
    ['CORS_MAX_AGE_SECONDS', '7201', 'at most 7200'],
    ['BODY_LIMIT_BYTES', '10', 'at least 1024'],
    ['AUTH_BODY_LIMIT_BYTES', '70000', 'at most 65536'],
  ])('bounds %s', (variable, value, message) => {
    expect(issues(parseConfig({ ...prod, [variable]: value }))[0]?.message).toContain(message)
  })

  it('refuses DEFAULT_USER_SCOPES that the admin scope route would refuse as a set', () => {
    const many = Array.from({ length: 40 }, (_, i) => `s${i}`).join(' ')
    expect(issues(parseConfig({ ...prod, DEFAULT_USER_SCOPES: many }))).toEqual([
      { variable: 'DEFAULT_USER_SCOPES', message: expect.stringContaining('more than 32 scopes') },
    ])
    expect(issues(parseConfig({ ...prod, DEFAULT_USER_SCOPES: `read:${'x'.repeat(300)}` }))).toEqual([
      { variable: 'DEFAULT_USER_SCOPES', message: expect.stringContaining('a scope longer than 128 characters') },
    ])
    // Counted as stored: a repeated scope is one.
    expect(parseConfig({ ...prod, DEFAULT_USER_SCOPES: Array.from({ length: 40 }, () => 'read').join(' ') }).ok).toBe(
      true,
    )
  })

  it('requires a strong METRICS_TOKEN outside development when one is set', () => {
    expect(issues(parseConfig({ ...prod, METRICS_TOKEN: 'metrics' }))[0]).toMatchObject({ variable: 'METRICS_TOKEN' })
    const result = parseConfig({ ...prod, METRICS_TOKEN: OTHER_SECRET })
    expect(result.ok && result.config.metrics.token).toBe(OTHER_SECRET)
    expect(parseConfig({ ...dev, METRICS_TOKEN: 'm' }).ok).toBe(true)
    // Empty is unset: the route stays off, and no strength rule applies.
    const empty = parseConfig({ ...prod, METRICS_TOKEN: '' })
    expect(empty.ok && empty.config.metrics.token).toBeUndefined()
  })
})

describe('config schema: rate limits', () => {
  it('defaults to 100/15m global, 5/15m auth, 1000/15m per user, 30/15m per session, 3/30m reset and 3/1h repeat-registration messages per account, 10% degraded, breaker 3 × 30 s', () => {
    const result = parseConfig(prod)
    expect(result.ok && result.config.rateLimit).toEqual({
      global: { limit: 100, windowSeconds: 900 },
      auth: { limit: 5, windowSeconds: 900 },
      user: { limit: 1000, windowSeconds: 900 },
      refresh: { limit: 30, windowSeconds: 900 },
      password_reset: { limit: 3, windowSeconds: 1800 },
      repeat_registration: { limit: 3, windowSeconds: 3600 },
      degradedFraction: 0.1,
      breaker: { failureThreshold: 3, cooldownMs: 30_000 },
    })
  })

  it.each([
    ['100/15m', { limit: 100, windowSeconds: 900 }],
    ['5 / 900s', { limit: 5, windowSeconds: 900 }],
    ['1000/1h', { limit: 1000, windowSeconds: 3600 }],
    ['off', 'off'],
  ])('reads %j', (spec, expected) => {
    expect(parseRateLimitSpec(spec)).toEqual(expected)
  })

  it.each(['100', '0/15m', '10/0s', '10/25h', '10/15d', '-1/1m', 'unlimited', '1e3/1m'])(
    'rejects RATE_LIMIT_GLOBAL=%j with the expected format',
    (spec) => {
      const found = issues(parseConfig({ ...prod, RATE_LIMIT_GLOBAL: spec }))
      expect(found).toHaveLength(1)
      expect(found[0]?.variable).toBe('RATE_LIMIT_GLOBAL')
      expect(found[0]?.message).toContain('N/<window>')
    },
  )

  it('refuses a RATE_LIMIT_PASSWORD_RESET window longer than the reset link lives (30m)', () => {
    const found = issues(parseConfig({ ...prod, RATE_LIMIT_PASSWORD_RESET: '3/31m' }))
    expect(found).toHaveLength(1)
    expect(found[0]?.variable).toBe('RATE_LIMIT_PASSWORD_RESET')
    expect(found[0]?.message).toContain('at most 30m')
    expect(parseConfig({ ...prod, RATE_LIMIT_PASSWORD_RESET: '5/1800s' }).ok).toBe(true)
    expect(parseConfig({ ...prod, RATE_LIMIT_PASSWORD_RESET: 'off' }).ok).toBe(true)
    expect(issues(parseConfig({ ...prod, RATE_LIMIT_PASSWORD_RESET: '3/0s' }))[0]?.message).toContain('N/<window>')
  })

  it('refuses RATE_LIMIT_AUTH=off outside development, allows the others off', () => {
    expect(issues(parseConfig({ ...prod, RATE_LIMIT_AUTH: 'off' }))[0]?.message).toContain('protects accounts')
    expect(parseConfig({ ...dev, RATE_LIMIT_AUTH: 'off' }).ok).toBe(true)
    expect(parseConfig({ ...prod, RATE_LIMIT_GLOBAL: 'off', RATE_LIMIT_USER: 'off' }).ok).toBe(true)
  })

  it.each([
    ['RATE_LIMIT_DEGRADED_FRACTION', '0'],
    ['RATE_LIMIT_DEGRADED_FRACTION', '1.5'],
    ['RATE_LIMIT_BREAKER_THRESHOLD', '0'],
    ['RATE_LIMIT_BREAKER_COOLDOWN_SECONDS', '601'],
  ])('bounds %s (%s)', (variable, value) => {
    expect(issues(parseConfig({ ...prod, [variable]: value }))[0]?.variable).toBe(variable)
  })
})

describe('config schema: passwords', () => {
  it('reads the pepper and defaults the minimum length to 8', () => {
    const result = parseConfig(prod)
    expect(result.ok && result.config.passwords).toEqual({ pepper: PEPPER, minLength: 8 })
  })

  it.each(['production', 'staging'])('requires PASSWORD_PEPPER in %s, saying how to set it', (environment) => {
    const found = issues(parseConfig({ ...prod, ENVIRONMENT: environment, PASSWORD_PEPPER: undefined }))
    expect(found.map((i) => i.variable)).toEqual(['PASSWORD_PEPPER'])
    expect(found[0]?.message).toBe(
      `PASSWORD_PEPPER is required in ${environment}: generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put PASSWORD_PEPPER --env ${environment}\``,
    )
  })

  it.each([
    ['short', 'Zk3v9QpL2mX8', 'at least 32 characters'],
    ['a placeholder', 'changeme-changeme-changeme-changeme-1', 'placeholder'],
    ['repetitive', 'abababababababababababababababababab', 'distinct characters'],
  ])('rejects a weak PASSWORD_PEPPER (%s) outside development without echoing it', (_, pepper, reason) => {
    const found = issues(parseConfig({ ...prod, PASSWORD_PEPPER: pepper }))
    expect(found.map((i) => i.variable)).toEqual(['PASSWORD_PEPPER'])
    expect(found[0]?.message).toContain(reason)
    expect(found[0]?.message).toContain('wrangler secret put PASSWORD_PEPPER')
    expect(JSON.stringify(found)).not.toContain(pepper)
  })

  it('makes PASSWORD_PEPPER optional in development, with a fixed development pepper', () => {
    const result = parseConfig(dev)
    expect(result.ok && result.config.passwords.pepper).toBe(DEVELOPMENT_PASSWORD_PEPPER)
    const short = parseConfig({ ...dev, PASSWORD_PEPPER: 'local' })
    expect(short.ok && short.config.passwords.pepper).toBe('local')
  })

  it('reads PASSWORD_MIN_LENGTH from 8 to 64', () => {
    for (const value of [8, '12', 64]) {
      const result = parseConfig({ ...prod, PASSWORD_MIN_LENGTH: value })
      expect(result.ok && result.config.passwords.minLength).toBe(Number(value))
    }
    for (const value of ['7', '65', '10.5', 'long']) {
      const found = issues(parseConfig({ ...prod, PASSWORD_MIN_LENGTH: value }))
      expect(found.map((i) => i.variable)).toEqual(['PASSWORD_MIN_LENGTH'])
      expect(found[0]?.message).toMatch(/^PASSWORD_MIN_LENGTH must be/)
    }
  })

  it('opens registration by default in development only; elsewhere an account waits for its address', () => {
    const local = parseConfig(dev)
    expect(local.ok && local.config.accounts.registration).toBe('open')
    const deployed = parseConfig(prod)
    expect(deployed.ok && deployed.config.accounts.registration).toBe('verify')
    const staging = parseConfig({ ...prod, ENVIRONMENT: 'staging' })
    expect(staging.ok && staging.config.accounts.registration).toBe('verify')
    for (const mode of ['open', 'verify', 'closed'] as const) {
      const chosen = parseConfig({ ...prod, REGISTRATION: mode })
      expect(chosen.ok && chosen.config.accounts.registration).toBe(mode)
      const local = parseConfig({ ...dev, REGISTRATION: mode })
      expect(local.ok && local.config.accounts.registration).toBe(mode)
    }
    const found = issues(parseConfig({ ...prod, REGISTRATION: 'yes' }))
    expect(found).toEqual([{ variable: 'REGISTRATION', message: 'REGISTRATION must be open, verify or closed' }])
  })

  it('reads the account defaults: lockout 5 per 15 min, grace 10 s, idle 7 d, absolute 30 d, no scopes', () => {
    const result = parseConfig(prod)
    expect(result.ok && result.config.accounts).toEqual({
      registration: 'verify',
      defaultScopes: [],
      lockout: { threshold: 5, lockSeconds: 900, hourlyCeiling: 100 },
      refresh: { graceSeconds: 10, idleSeconds: 604_800, absoluteSeconds: 2_592_000 },
    })
    const scoped = parseConfig({ ...prod, DEFAULT_USER_SCOPES: ' read:items  write:items ' })
    expect(scoped.ok && scoped.config.accounts.defaultScopes).toEqual(['read:items', 'write:items'])
  })

  it.each([
    ['REFRESH_GRACE_SECONDS', '61'],
    ['REFRESH_GRACE_SECONDS', '-1'],
    ['LOCKOUT_THRESHOLD', '2'],
    ['LOCKOUT_THRESHOLD', '21'],
    ['LOCKOUT_SECONDS', '59'],
    ['REFRESH_IDLE_SECONDS', '10'],
    ['DEFAULT_USER_SCOPES', 'read "admin"'],
    // Every registered account would be an administrator (the message names the scope, not the value).
    ['DEFAULT_USER_SCOPES', 'read:items edgeward:admin'],
  ])('refuses %s=%s with a message naming the variable', (variable, value) => {
    const found = issues(parseConfig({ ...prod, [variable]: value }))
    expect(found.map((i) => i.variable)).toEqual([variable])
    expect(found[0]?.message.startsWith(variable)).toBe(true)
    expect(found[0]?.message).not.toContain(value)
  })

  it('refuses edgeward:admin in DEFAULT_USER_SCOPES in development too', () => {
    const found = issues(parseConfig({ ...prod, ENVIRONMENT: 'development', DEFAULT_USER_SCOPES: 'edgeward:admin' }))
    expect(found.map((i) => i.variable)).toContain('DEFAULT_USER_SCOPES')
  })

  it('refuses an idle timeout longer than the absolute lifetime', () => {
    const found = issues(parseConfig({ ...prod, REFRESH_IDLE_SECONDS: '86400', REFRESH_ABSOLUTE_SECONDS: '3600' }))
    expect(found.map((i) => i.variable)).toEqual(['REFRESH_IDLE_SECONDS'])
  })

  it('reads the upstream settings: 10 s timeout, one retry, breaker 5 × 30 s from 3 clients', () => {
    const result = parseConfig(prod)
    expect(result.ok && result.config.upstream).toEqual({
      url: 'https://api.internal.example.com',
      signingSecret: SIGNING_SECRET,
      timeoutMs: 10_000,
      retries: 1,
      breaker: { failureThreshold: 5, cooldownMs: 30_000, minSources: 3 },
    })
  })

  it('requires a strong UPSTREAM_SIGNING_SECRET outside development, without echoing it', () => {
    const { UPSTREAM_SIGNING_SECRET: _, ...withoutSecret } = prod
    expect(issues(parseConfig(withoutSecret)).map((i) => i.variable)).toEqual(['UPSTREAM_SIGNING_SECRET'])
    for (const weak of ['short-secret', 'changeme-changeme-changeme-changeme-12']) {
      const found = issues(parseConfig({ ...prod, UPSTREAM_SIGNING_SECRET: weak }))
      expect(found.map((i) => i.variable)).toEqual(['UPSTREAM_SIGNING_SECRET'])
      expect(found[0]?.message).not.toContain(weak)
    }
    const local = parseConfig(dev)
    expect(local.ok && local.config.upstream.signingSecret).toBe(DEVELOPMENT_UPSTREAM_SIGNING_SECRET)
  })

  it.each([
    ['UPSTREAM_TIMEOUT_MS', '99'],
    ['UPSTREAM_TIMEOUT_MS', '60001'],
    ['UPSTREAM_RETRIES', '2'],
    ['UPSTREAM_BREAKER_THRESHOLD', '0'],
    ['UPSTREAM_BREAKER_COOLDOWN_SECONDS', '601'],
    ['UPSTREAM_BREAKER_MIN_CLIENTS', '0'],
    ['UPSTREAM_BREAKER_MIN_CLIENTS', '101'],
  ])('refuses %s=%s', (variable, value) => {
    expect(issues(parseConfig({ ...prod, [variable]: value })).map((i) => i.variable)).toEqual([variable])
  })
})

describe('config schema: the hosts a development configuration may serve', () => {
  it.each(['localhost', 'LOCALHOST', 'localhost.', 'app.localhost', '127.0.0.1', '127.255.0.9', '[::1]', 'gw.test'])(
    'allows %s',
    (host) => {
      expect(isDevelopmentHost(host)).toBe(true)
    },
  )

  it.each([
    'api.example.com',
    '192.168.1.20',
    '10.0.0.1',
    '0.0.0.0',
    '[::2]',
    '[::ffff:7f00:1]',
    'localhost.example.com',
    'gw.test.example.com',
    '127.0.0.1.nip.io',
    'mytest',
  ])('refuses %s', (host) => {
    expect(isDevelopmentHost(host)).toBe(false)
  })

  it('refuses a public host in development only, naming the host and the fix', () => {
    const local = parseConfig(dev)
    const deployed = parseConfig(prod)
    if (!local.ok || !deployed.ok) throw new Error('expected both configurations to be valid')
    expect(servingHostIssue(deployed.config, 'api.example.com')).toBeUndefined()
    expect(servingHostIssue(local.config, '127.0.0.1')).toBeUndefined()
    expect(servingHostIssue(local.config, 'api.example.com')).toEqual({
      variable: 'ENVIRONMENT',
      message:
        'ENVIRONMENT=development is served on host api.example.com, which is not a loopback address: use ENVIRONMENT=staging or production for a deployed worker, or reach the dev server through localhost or 127.0.0.1',
    })
  })
})

describe('ACCOUNT_EVENTS_URL', () => {
  const url = 'https://api.internal.example.com/edgeward/account-events'

  it('is optional where no verification depends on it: events are then dropped (and logged) when sent', () => {
    const { ACCOUNT_EVENTS_URL: _, ...closed } = { ...prod, REGISTRATION: 'closed' }
    for (const config of [closed, dev]) {
      const result = parseConfig(config)
      expect(result.ok && result.config.accountEvents).toEqual({ url: undefined })
    }
    const result = parseConfig({ ...prod, ACCOUNT_EVENTS_URL: url })
    expect(result.ok && result.config.accountEvents).toEqual({ url })
  })

  it.each(['production', 'staging'])('must be https:// in %s', (environment) => {
    expect(
      issues(parseConfig({ ...prod, ENVIRONMENT: environment, ACCOUNT_EVENTS_URL: 'http://api.internal/events' })),
    ).toEqual([
      {
        variable: 'ACCOUNT_EVENTS_URL',
        message: `ACCOUNT_EVENTS_URL must start with https:// in ${environment} (got http://…)`,
      },
    ])
  })

  it('may be plain http:// in development to a local host only: events carry tokens', () => {
    for (const local of [
      'http://127.0.0.1:9000/e',
      'http://localhost:9000/e',
      'http://[::1]/e',
      'http://origin.test/e',
    ]) {
      expect(parseConfig({ ...dev, ACCOUNT_EVENTS_URL: local }).ok, local).toBe(true)
    }
    const [issue, ...more] = issues(parseConfig({ ...dev, ACCOUNT_EVENTS_URL: 'http://192.168.1.20/e' }))
    expect(more).toEqual([])
    expect(issue?.variable).toBe('ACCOUNT_EVENTS_URL')
    expect(issue?.message).toContain('plain http:// to a host that is not local')
    expect(parseConfig({ ...dev, ACCOUNT_EVENTS_URL: 'https://events.example.com/e' }).ok).toBe(true)
  })

  it.each(['not a url', 'ftp://api.internal/events'])('refuses %s', (value) => {
    expect(issues(parseConfig({ ...prod, ACCOUNT_EVENTS_URL: value }))[0]?.message).toContain(
      'ACCOUNT_EVENTS_URL must be an absolute http(s) URL',
    )
  })
})

describe('config schema: account events', () => {
  it('refuses verified registration without ACCOUNT_EVENTS_URL outside development, naming both ways out', () => {
    const { ACCOUNT_EVENTS_URL: _, ...withoutEvents } = prod
    for (const environment of ['production', 'staging']) {
      const found = issues(parseConfig({ ...withoutEvents, ENVIRONMENT: environment }))
      expect(found.map((i) => i.variable)).toEqual(['ACCOUNT_EVENTS_URL'])
      expect(found[0]?.message).toMatch(/REGISTRATION=verify.*ACCOUNT_EVENTS_URL.*REGISTRATION=closed/)
    }
    expect(parseConfig({ ...withoutEvents, REGISTRATION: 'closed' }).ok).toBe(true)
    expect(parseConfig({ ...withoutEvents, REGISTRATION: 'open' }).ok).toBe(true)
    expect(parseConfig(dev).ok).toBe(true)
  })
})

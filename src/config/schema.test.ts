import { describe, expect, it } from 'vitest'
import { type ConfigResult, parseConfig } from './schema'

const STRONG_TOKEN = 'AX3kQ9vLm2Zp8Rt5Wn7Yb4Hc6Jd1Ff0GsEaUiOqTyMr'
const prod = {
  ENVIRONMENT: 'production',
  UPSTASH_REDIS_REST_URL: 'https://eu1-fine-gecko-12345.upstash.io',
  UPSTASH_REDIS_REST_TOKEN: STRONG_TOKEN,
  UPSTREAM_URL: 'https://api.internal.example.com',
}
const dev = {
  ENVIRONMENT: 'development',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
  UPSTASH_REDIS_REST_TOKEN: 'x',
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
    expect(found.map((i) => i.variable).sort()).toEqual(['UPSTASH_REDIS_REST_TOKEN', 'UPSTASH_REDIS_REST_URL'])
  })
})

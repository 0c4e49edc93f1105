/**
 * What a client already refused in this isolate costs: no Upstash request and no command until its remembered
 * reset, whichever policy refused it. Counted on the client's own Upstash lane (the local server's per-lane stats).
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { testApp } from '../../test-support/app'
import { uniqueIpv4 } from '../../test-support/clients'
import { testExecutionContext as ctx } from '../../test-support/context'
import { expectProblem } from '../../test-support/problem'
import { LOGIN_ADMITTED, laneBindings, limitProbe } from '../../test-support/rate-limit'
import { authHeader, mintTestToken, testConfig } from '../../test-support/tokens'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)

/** A gateway with its own Upstash lane, so its stats count only its own requests. */
function gateway(vars: Record<string, string>) {
  const defaults = { RATE_LIMIT_GLOBAL: '100/15m', RATE_LIMIT_AUTH: '2/15m', RATE_LIMIT_USER: 'off' }
  const { lane, bindings } = laneBindings({ ...defaults, ...vars })
  const app = testApp({ extend: (app) => app.get('/public', (c) => c.json({ ok: true })) })
  const send = (path: string, ip: string | undefined, headers: Record<string, string> = {}) =>
    app.fetch(limitProbe(path, ip, headers), bindings, ctx)
  return {
    lane,
    bindings,
    send,
    reset: () => control.resetStats(lane),
    stats: () => control.stats(lane),
  }
}

/** A refusal answered like a real one: 429 `rate_limited` naming `policies`, with Retry-After. */
async function expectLimited(res: Response, policies: string[]): Promise<number> {
  const body = await expectProblem(res, 429, 'rate_limited')
  expect(body['violated-policies']).toEqual(policies)
  const retryAfter = Number(res.headers.get('retry-after'))
  expect(retryAfter).toBeGreaterThanOrEqual(1)
  return retryAfter
}

describe('rate limiting: a client refused in this isolate costs no Upstash call', () => {
  it('an IP refused by the exact auth window: further logins make no request and no command', async () => {
    const g = gateway({})
    const ip = uniqueIpv4()
    for (let i = 0; i < 2; i++) expect((await g.send('/auth/login', ip)).status).toBe(LOGIN_ADMITTED)
    await expectLimited(await g.send('/auth/login', ip), ['auth'])
    await g.reset()
    const refused: Response[] = []
    for (let i = 0; i < 3; i++) refused.push(await g.send('/auth/login', ip))
    expect(await g.stats()).toEqual({ requests: 0, commands: 0 })
    for (const res of refused) {
      await expectLimited(res, ['auth'])
      // From memory, the headers name the refusing policy only: the global one was not asked.
      expect(res.headers.get('ratelimit-policy')).toBe('"auth";q=2;w=900')
      expect(res.headers.get('ratelimit')).toMatch(/^"auth";r=0;t=\d+$/)
      expect(res.headers.get('x-ratelimit-remaining')).toBe('0')
    }
    // Another client is still asked, and admitted.
    expect((await g.send('/auth/login', uniqueIpv4())).status).toBe(LOGIN_ADMITTED)
    expect((await g.stats()).commands).toBeGreaterThan(0)
  })

  it('an IP refused by the global policy sends neither its user policy nor its revocation check', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: '1/15m', RATE_LIMIT_USER: '100/15m' })
    const { token } = await mintTestToken({}, testConfig(g.bindings))
    const ip = uniqueIpv4()
    expect((await g.send('/public', ip)).status).toBe(200)
    await expectLimited(await g.send('/public', ip), ['global'])
    await g.reset()
    await expectLimited(await g.send('/auth/me', ip, authHeader(token)), ['global'])
    expect(await g.stats()).toEqual({ requests: 0, commands: 0 })
  })

  it('a user refused by RATE_LIMIT_USER costs nothing from any IP; another user is still served', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: 'off', RATE_LIMIT_USER: '1/15m' })
    const config = testConfig(g.bindings)
    const { token } = await mintTestToken({}, config)
    expect((await g.send('/auth/me', uniqueIpv4(), authHeader(token))).status).toBe(200)
    await expectLimited(await g.send('/auth/me', uniqueIpv4(), authHeader(token)), ['user'])
    await g.reset()
    for (let i = 0; i < 3; i++) {
      await expectLimited(await g.send('/auth/me', uniqueIpv4(), authHeader(token)), ['user'])
    }
    expect(await g.stats()).toEqual({ requests: 0, commands: 0 })
    const other = await mintTestToken({}, config)
    expect((await g.send('/auth/me', uniqueIpv4(), authHeader(other.token))).status).toBe(200)
    expect((await g.stats()).commands).toBeGreaterThan(0)
  })

  it('asks Upstash again once the remembered reset has passed', async () => {
    const g = gateway({ RATE_LIMIT_AUTH: '1/2s' })
    const ip = uniqueIpv4()
    expect((await g.send('/auth/login', ip)).status).toBe(LOGIN_ADMITTED)
    const retryAfter = await expectLimited(await g.send('/auth/login', ip), ['auth'])
    expect(retryAfter).toBeLessThanOrEqual(2)
    await g.reset()
    await expectLimited(await g.send('/auth/login', ip), ['auth'])
    expect((await g.stats()).requests).toBe(0)
    await new Promise((resolve) => setTimeout(resolve, retryAfter * 1_000 + 100))
    // The exact window has room again: the client is asked about, and admitted.
    expect((await g.send('/auth/login', ip)).status).toBe(LOGIN_ADMITTED)
    expect((await g.stats()).commands).toBeGreaterThan(0)
  })

  it('an invalid bearer token costs no Upstash call: no user policy, no revocation check', async () => {
    const g = gateway({ RATE_LIMIT_GLOBAL: 'off', RATE_LIMIT_AUTH: 'off', RATE_LIMIT_USER: '1/15m' })
    const { token } = await mintTestToken({}, testConfig(g.bindings))
    const forged = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
    await g.reset()
    for (let i = 0; i < 3; i++) expect((await g.send('/public', uniqueIpv4(), authHeader(forged))).status).toBe(200)
    expect(await g.stats()).toEqual({ requests: 0, commands: 0 })
  })

  it('does not remember a 503 from an unavailable fail-closed policy', async () => {
    const g = gateway({
      RATE_LIMIT_GLOBAL: 'off',
      RATE_LIMIT_BREAKER_THRESHOLD: '5',
      UPSTASH_TIMEOUT_MS: '200',
    })
    const ip = uniqueIpv4()
    await control.setFault('refuse', 30_000, g.lane)
    try {
      await expectProblem(await g.send('/auth/login', ip), 503, 'rate_limit_unavailable')
    } finally {
      await control.setFault('none', undefined, g.lane)
    }
    expect((await g.send('/auth/login', ip)).status).toBe(LOGIN_ADMITTED)
  })
})

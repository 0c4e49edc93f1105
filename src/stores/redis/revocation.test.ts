import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import type { Config } from '../../config/schema'
import { inspectRedis } from '../contract/backends'
import { createRedis } from './client'
import { createRedisRevocationStore, revocationKey } from './revocation'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const inspect = inspectRedis()
const timings = { clockSkewSeconds: 60, accessTtlSeconds: 900 }

function store(lane?: string) {
  const config: Config['redis'] = {
    url: lane ? `${env.UPSTASH_REDIS_REST_URL}/${lane}` : env.UPSTASH_REDIS_REST_URL,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    timeoutMs: 300,
    retries: 0,
    insecurePlaintext: false,
    allowPlaintextOverride: false,
  }
  return { revocation: createRedisRevocationStore(createRedis(config), timings) }
}

const subject = (iat = 1_000) => ({ jti: crypto.randomUUID(), sid: crypto.randomUUID(), sub: crypto.randomUUID(), iat })

describe('Redis revocation store', () => {
  it('reports ok for a subject nothing was revoked for', async () => {
    expect(await store().revocation.check(subject())).toEqual({ status: 'ok' })
  })

  it('revokes one token without touching its session', async () => {
    const { revocation } = store()
    const s = subject()
    await revocation.revoke({ jti: s.jti, exp: 2_000 }, 1_500)
    expect(await revocation.check(s)).toEqual({ status: 'revoked', scope: 'token' })
    expect(await revocation.check({ ...s, jti: crypto.randomUUID() })).toEqual({ status: 'ok' })
  })

  it('revokes a session: every token of it, whatever its jti', async () => {
    const { revocation } = store()
    const s = subject()
    await revocation.revoke({ jti: s.jti, exp: 2_000, sid: s.sid }, 1_500)
    expect(await revocation.check({ ...s, jti: crypto.randomUUID() })).toEqual({ status: 'revoked', scope: 'session' })
  })

  it('bounds TTLs: token entry by remaining lifetime + skew, session entry by access TTL + skew', async () => {
    const { revocation } = store()
    const s = subject()
    const now = Math.floor(Date.now() / 1000)
    await revocation.revoke({ jti: s.jti, exp: now + 100, sid: s.sid }, now)
    const jtiTtl = await inspect.ttl(await revocationKey('jti', s.jti))
    expect(jtiTtl).toBeGreaterThan(150)
    expect(jtiTtl).toBeLessThanOrEqual(160)
    const sidTtl = await inspect.ttl(await revocationKey('sid', s.sid))
    expect(sidTtl).toBeGreaterThan(950)
    expect(sidTtl).toBeLessThanOrEqual(960)
  })

  it('gives an already-expired token a 1-second entry rather than none', async () => {
    const { revocation } = store()
    const s = subject()
    await revocation.revoke({ jti: s.jti, exp: 100 }, 1_000)
    expect(await inspect.ttl(await revocationKey('jti', s.jti))).toBe(1)
  })

  it('revokes a user for tokens issued before the cutoff only, and the cutoff only moves forward', async () => {
    const { revocation } = store()
    const s = subject()
    await revocation.revokeUserBefore(s.sub, 2_000)
    expect(await revocation.check({ ...s, iat: 1_999 })).toEqual({ status: 'revoked', scope: 'user' })
    expect(await revocation.check({ ...s, iat: 2_000 })).toEqual({ status: 'ok' })
    await revocation.revokeUserBefore(s.sub, 1_500) // a late, older logout-all must not lower it
    expect(await revocation.check({ ...s, iat: 1_999 })).toEqual({ status: 'revoked', scope: 'user' })
    await revocation.revokeUserBefore(s.sub, 3_000)
    expect(await revocation.check({ ...s, iat: 2_500 })).toEqual({ status: 'revoked', scope: 'user' })
  })

  it('keys are SHA-256 hex: no identifier appears in a key', async () => {
    const s = subject()
    for (const [kind, id] of [
      ['jti', s.jti],
      ['sid', s.sid],
      ['sub', s.sub],
    ] as const) {
      const key = await revocationKey(kind, id)
      expect(key).toMatch(new RegExp(`^rv:${kind}:[0-9a-f]{64}$`))
      expect(key).not.toContain(id)
    }
  })

  it.each(['hang', 'refuse', 'error500'] as const)(
    'answers unavailable, never ok, when Upstash fails (%s)',
    async (mode) => {
      const lane = `lane-${crypto.randomUUID()}`
      const { revocation } = store(lane)
      await control.setFault(mode, 5_000, lane)
      try {
        const result = await revocation.check(subject())
        expect(result.status).toBe('unavailable')
        await expect(revocation.revoke({ jti: 'x'.repeat(24), exp: 2_000 }, 1_000)).rejects.toThrow()
      } finally {
        await control.setFault('none', undefined, lane)
      }
    },
  )
})

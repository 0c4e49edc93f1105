import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import type { Config } from '../../config/schema'
import { createRedis, probeRedis } from './client'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)

/** A client on its own lane of the shared local Upstash server, so injected faults touch no other test. */
function laneClient(options: Partial<Config['redis']> = {}) {
  const lane = `lane-${crypto.randomUUID()}`
  const config: Config['redis'] = {
    url: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    timeoutMs: 300,
    retries: 1,
    insecurePlaintext: false,
    allowPlaintextOverride: false,
    ...options,
  }
  return { lane, redis: createRedis(config), config }
}

describe('createRedis', () => {
  it('round-trips through the local Upstash server to real Redis', async () => {
    const { redis } = laneClient()
    const key = `client-test:${crypto.randomUUID()}`
    expect(await redis.set(key, 'v', { ex: 60 })).toBe('OK')
    expect(await redis.mget(key)).toEqual(['v'])
    expect(await redis.del(key)).toBe(1)
  })

  it('retries a refused connection as many times as the config says', async () => {
    const { lane, redis } = laneClient({ retries: 2, timeoutMs: 2_000 })
    await control.setFault('refuse', 10_000, lane)
    await control.resetStats(lane)
    await expect(redis.ping()).rejects.toThrow()
    const { requests } = await control.stats(lane)
    await control.setFault('none', undefined, lane)
    expect(requests).toBe(3)
  })
})

describe('probeRedis', () => {
  it('measures a PING', async () => {
    const probe = await probeRedis(laneClient().redis)
    expect(probe).toEqual({ ok: true, latency_ms: expect.any(Number) })
  })

  it('reports a hanging Upstash as down within the timeout, without throwing', async () => {
    const { lane, redis } = laneClient({ timeoutMs: 200 })
    await control.setFault('hang', 5_000, lane)
    const started = Date.now()
    const probe = await probeRedis(redis)
    await control.setFault('none', undefined, lane)
    expect(probe.ok).toBe(false)
    expect(probe.error).toBeDefined()
    expect(Date.now() - started).toBeLessThan(1_000)
  })
})

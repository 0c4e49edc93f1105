import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { testRedis } from '../contract/backends'
import { wallClock } from '../contract/clock'
import { rateLimitStoreContract } from '../contract/rate-limit'
import type { RateLimitPolicy } from '../types'
import { createRedisRateLimitStore } from './rate-limit-store'

/** Fresh prefixes: no key of another test or run is ever counted. */
function prefixes(): Record<RateLimitPolicy, string> {
  const run = `test:rl:${crypto.randomUUID()}`
  return { global: `${run}:global`, auth: `${run}:auth`, user: `${run}:user` }
}

rateLimitStoreContract('Redis', () => ({
  store: createRedisRateLimitStore(testRedis(), { prefixes: prefixes() }),
  clock: wallClock(),
}))

describe('Redis rate-limit store', () => {
  it.each(['global', 'auth', 'user'] as const)('%s: rejects, never admits, when Upstash fails', async (policy) => {
    const lane = `lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const store = createRedisRateLimitStore(testRedis(lane), { prefixes: prefixes() })
    await control.setFault('error500', 5_000, lane)
    try {
      await expect(store.limit(policy, 'id', { limit: 5, windowSeconds: 60 }, Date.now())).rejects.toThrow()
    } finally {
      await control.setFault('none', undefined, lane)
    }
  })

  it('refuses a spec the limiters cannot honour', async () => {
    const store = createRedisRateLimitStore(testRedis(), { prefixes: prefixes() })
    await expect(store.limit('auth', 'id', { limit: 0, windowSeconds: 60 }, Date.now())).rejects.toThrow(RangeError)
    await expect(store.limit('global', 'id', { limit: 5, windowSeconds: 0.5 }, Date.now())).rejects.toThrow(RangeError)
  })
})

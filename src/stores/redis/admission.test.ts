import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { admissionStoreContract } from '../contract/admission'
import { testRedis } from '../contract/backends'
import { wallClock } from '../contract/clock'
import type { RateLimitPolicy } from '../types'
import { ADMISSION_SCRIPT, createRedisAdmissionStore } from './admission'
import { createRedisRevocationStore } from './revocation'

/** Fresh prefixes: no key of another test or run is ever counted. */
function prefixes(): Record<RateLimitPolicy, string> {
  const run = `test:rl:${crypto.randomUUID()}`
  return {
    global: `${run}:global`,
    auth: `${run}:auth`,
    user: `${run}:user`,
    refresh: `${run}:refresh`,
    password_reset: `${run}:password-reset`,
    repeat_registration: `${run}:repeat-registration`,
  }
}

const timings = { clockSkewSeconds: 60, accessTtlSeconds: 900 }
const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const lane = () => `lane-${crypto.randomUUID()}`

admissionStoreContract('Redis', () => ({
  store: createRedisAdmissionStore(testRedis(), { prefixes: prefixes() }),
  revocation: createRedisRevocationStore(testRedis(), timings),
  clock: wallClock(),
}))

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

describe('Redis admission store', () => {
  it('pins the SHA-1 of its script', async () => {
    expect(await sha1Hex(ADMISSION_SCRIPT.source)).toBe(ADMISSION_SCRIPT.sha1)
  })

  it('decides three limits and a revocation in one Upstash call and one command', async () => {
    const name = lane()
    const store = createRedisAdmissionStore(testRedis(name), { prefixes: prefixes() })
    const subject = { jti: crypto.randomUUID(), sid: crypto.randomUUID(), sub: crypto.randomUUID(), iat: 1 }
    const limits = (['global', 'auth', 'user'] as const).map((policy) => ({
      policy,
      identifier: crypto.randomUUID(),
      limit: 5,
      windowSeconds: 60,
    }))
    // The first call may load the script (NOSCRIPT, then EVAL); count a warm one.
    await store.admit({ limits, revocation: subject }, Date.now())
    await control.resetStats(name)
    const decided = await store.admit({ limits, revocation: subject }, Date.now())
    expect(decided.limits.map((l) => l.remaining)).toEqual([3, 3, 3])
    expect(await control.stats(name)).toEqual({ requests: 1, commands: 1 })
  })

  it('asks nothing of Upstash for an empty query', async () => {
    const name = lane()
    const store = createRedisAdmissionStore(testRedis(name), { prefixes: prefixes() })
    expect(await store.admit({ limits: [] }, Date.now())).toEqual({ limits: [] })
    expect(await control.stats(name)).toEqual({ requests: 0, commands: 0 })
  })

  it('rejects, never admits, when Upstash fails', async () => {
    const name = lane()
    const store = createRedisAdmissionStore(testRedis(name), { prefixes: prefixes() })
    await control.setFault('error500', 5_000, name)
    try {
      const limits = [{ policy: 'global' as const, identifier: 'id', limit: 5, windowSeconds: 60 }]
      await expect(store.admit({ limits }, Date.now())).rejects.toThrow()
    } finally {
      await control.setFault('none', undefined, name)
    }
  })

  it('refuses a spec it cannot honour, before asking Upstash', async () => {
    const store = createRedisAdmissionStore(testRedis(), { prefixes: prefixes() })
    const limit = (limit: number, windowSeconds: number) => [
      { policy: 'auth' as const, identifier: 'id', limit, windowSeconds },
    ]
    await expect(store.admit({ limits: limit(0, 60) }, Date.now())).rejects.toThrow(RangeError)
    await expect(store.admit({ limits: limit(5, 0.5) }, Date.now())).rejects.toThrow(RangeError)
  })

  it('keeps the key layout of @upstash/ratelimit for the sliding windows and of the exact log for auth', async () => {
    const redis = testRedis()
    const p = prefixes()
    const store = createRedisAdmissionStore(redis, { prefixes: p })
    const now = Date.now()
    const limits = [
      { policy: 'global' as const, identifier: 'a', limit: 5, windowSeconds: 60 },
      { policy: 'auth' as const, identifier: 'b', limit: 5, windowSeconds: 60 },
    ]
    await store.admit({ limits }, now)
    const bucket = Math.floor(now / 60_000)
    expect(await redis.eval("return redis.call('GET', KEYS[1])", [`${p.global}:a:${bucket}`], [])).toBe('1')
    expect(await redis.eval("return redis.call('ZCARD', KEYS[1])", [`${p.auth}:b`], [])).toBe(1)
  })
})

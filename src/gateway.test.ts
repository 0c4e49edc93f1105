import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { createGateway } from './gateway'
import { compileRoutes } from './routing/table'
import { createMemoryAdmissionStore } from './stores/memory/admission'
import { createMemoryRevocationStore } from './stores/memory/revocation'
import { testConfig } from './test-support/tokens'

describe('createGateway', () => {
  it('builds each dependency once: repeated use gets the same objects and the same key-ring import', async () => {
    const gateway = createGateway(testConfig(), env)
    const first = gateway.keyRing()
    expect(gateway.keyRing()).toBe(first)
    expect((await first).kid).toBe((await gateway.keyRing()).kid)
    expect(gateway.forward).toBeTypeOf('function')
  })

  it('builds nothing shared between gateways: two isolates (or two tests) never share state', () => {
    const a = createGateway(testConfig(), env)
    const b = createGateway(testConfig(), env)
    expect(a.redis).not.toBe(b.redis)
    expect(a.rateLimits).not.toBe(b.rateLimits)
    expect(a.forward).not.toBe(b.forward)
    expect(a.keyRing()).not.toBe(b.keyRing())
  })

  it('takes what the caller supplies instead of building it', () => {
    const routes = compileRoutes([{ pattern: '/only', auth: 'public' }], { default: 'deny' })
    const revocation = createMemoryRevocationStore({ clockSkewSeconds: 60, accessTtlSeconds: 900 })
    const admission = createMemoryAdmissionStore({ revocation })
    const gateway = createGateway(testConfig(), env, { routes, revocation, admission, forward: undefined })
    expect(gateway.routes).toBe(routes)
    expect(gateway.revocation).toBe(revocation)
    expect(gateway.forward).toBeUndefined()
  })

  it('refuses a revocation store without an admission store that reads it', () => {
    // Rate-limited requests have their revocation decided by the admission store: alone, the override would be
    // skipped by every one of them.
    const revocation = createMemoryRevocationStore({ clockSkewSeconds: 60, accessTtlSeconds: 900 })
    expect(() => createGateway(testConfig(), env, { revocation })).toThrow(/admission/)
  })
})

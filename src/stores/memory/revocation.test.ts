import { describe, expect, it } from 'vitest'
import { manualClock } from '../contract/clock'
import { revocationStoreContract } from '../contract/revocation'
import { createMemoryRevocationStore } from './revocation'

revocationStoreContract('memory', (timings) => {
  const clock = manualClock()
  return { store: createMemoryRevocationStore({ ...timings, clock: clock.now }), clock }
})

describe('memory revocation store', () => {
  it('keeps revocations apart per store: no state outside the returned object', async () => {
    const one = createMemoryRevocationStore({ clockSkewSeconds: 60, accessTtlSeconds: 900 })
    const two = createMemoryRevocationStore({ clockSkewSeconds: 60, accessTtlSeconds: 900 })
    await one.revokeSession('s')
    const subject = { jti: 'j', sid: 's', sub: 'u', iat: 1 }
    expect(await one.check(subject)).toEqual({ status: 'revoked', scope: 'session' })
    expect(await two.check(subject)).toEqual({ status: 'ok' })
  })
})

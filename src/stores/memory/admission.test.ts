import { admissionStoreContract } from '../contract/admission'
import { manualClock } from '../contract/clock'
import { createMemoryAdmissionStore } from './admission'
import { createMemoryRevocationStore } from './revocation'

admissionStoreContract('memory', () => {
  const clock = manualClock()
  const revocation = createMemoryRevocationStore({ clockSkewSeconds: 60, accessTtlSeconds: 900, clock: clock.now })
  return { store: createMemoryAdmissionStore({ revocation }), revocation, clock }
})

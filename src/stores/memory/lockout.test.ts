import { manualClock } from '../contract/clock'
import { lockoutStoreContract } from '../contract/lockout'
import { createMemoryLockoutStore } from './lockout'

lockoutStoreContract('memory', (policy) => {
  const clock = manualClock()
  return { store: createMemoryLockoutStore(policy, { clock: clock.now }), clock }
})

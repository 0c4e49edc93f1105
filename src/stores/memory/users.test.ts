import { manualClock } from '../contract/clock'
import { userStoreContract } from '../contract/users'
import { createMemoryUserStore } from './users'

userStoreContract('memory', () => {
  const clock = manualClock()
  return { store: createMemoryUserStore({ clock: clock.now }), clock }
})

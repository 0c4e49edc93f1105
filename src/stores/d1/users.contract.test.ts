import { env } from 'cloudflare:workers'
import { manualClock } from '../contract/clock'
import { userStoreContract } from '../contract/users'
import { createD1UserStore } from './users'

userStoreContract('D1', () => {
  const clock = manualClock()
  return { store: createD1UserStore(env.DB, { clock: clock.now }), clock }
})

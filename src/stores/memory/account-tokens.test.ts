import { accountTokenStoreContract } from '../contract/account-tokens'
import { manualClock } from '../contract/clock'
import { userFactory } from '../contract/refresh-tokens'
import { createMemoryAccountTokenStore } from './account-tokens'
import { createMemoryUserStore } from './users'

accountTokenStoreContract('memory', () => {
  const clock = manualClock()
  const users = createMemoryUserStore({ clock: clock.now })
  return {
    store: createMemoryAccountTokenStore({ users, clock: clock.now }),
    clock,
    createUser: userFactory(users),
  }
})

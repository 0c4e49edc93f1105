import { manualClock } from '../contract/clock'
import { refreshTokenStoreContract, userFactory } from '../contract/refresh-tokens'
import { createMemoryRefreshTokenStore } from './refresh-tokens'
import { createMemoryUserStore } from './users'

refreshTokenStoreContract('memory', () => {
  const clock = manualClock()
  const users = createMemoryUserStore({ clock: clock.now })
  return {
    store: createMemoryRefreshTokenStore({ users, clock: clock.now }),
    clock,
    createUser: userFactory(users),
    async disableUser(id) {
      await users.setDisabled(id, Math.floor(clock.now() / 1000))
    },
  }
})

import { env } from 'cloudflare:workers'
import { manualClock } from '../contract/clock'
import { refreshTokenStoreContract, userFactory } from '../contract/refresh-tokens'
import { createD1RefreshTokenStore } from './refresh-tokens'
import { createD1UserStore } from './users'

refreshTokenStoreContract('D1', async () => {
  // purgeExpired works table-wide: every test starts from no families (their tokens cascade).
  await env.DB.prepare('DELETE FROM refresh_token_families').run()
  const clock = manualClock()
  return {
    store: createD1RefreshTokenStore(env.DB, { clock: clock.now }),
    clock,
    createUser: userFactory(createD1UserStore(env.DB, { clock: clock.now })),
    async disableUser(id) {
      await env.DB.prepare('UPDATE users SET disabled_at = ?2 WHERE id = ?1')
        .bind(id, Math.floor(clock.now() / 1000))
        .run()
    },
  }
})

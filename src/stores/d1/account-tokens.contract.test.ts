import { env } from 'cloudflare:workers'
import { accountTokenStoreContract } from '../contract/account-tokens'
import { manualClock } from '../contract/clock'
import { userFactory } from '../contract/refresh-tokens'
import { createD1AccountTokenStore } from './account-tokens'
import { createD1UserStore } from './users'

accountTokenStoreContract('D1', async () => {
  // purgeExpired works table-wide: every test starts from no tokens.
  await env.DB.prepare('DELETE FROM account_tokens').run()
  const clock = manualClock()
  return {
    store: createD1AccountTokenStore(env.DB, { clock: clock.now }),
    clock,
    createUser: userFactory(createD1UserStore(env.DB, { clock: clock.now })),
  }
})

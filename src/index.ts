import { createApp } from './app'
import { createD1RefreshTokenStore } from './stores/d1/refresh-tokens'

const app = createApp()

/** At most this many bounded purge batches per cron run (500 families each), so one run stays short. */
const PURGE_ROUNDS = 20

export default {
  fetch: app.fetch,
  /**
   * Cron (wrangler.toml `[triggers]`): deletes dead refresh-token families and their tokens, so D1 does not grow with
   * every login.
   */
  async scheduled(controller, env) {
    const now = Math.floor(controller.scheduledTime / 1000)
    const store = createD1RefreshTokenStore(env.DB)
    for (let round = 0; round < PURGE_ROUNDS; round++) {
      if ((await store.purgeExpired(now)) === 0) break
    }
  },
} satisfies ExportedHandler<Env>

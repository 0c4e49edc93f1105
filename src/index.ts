/**
 * The worker entry: builds the app once per isolate (per bindings object) from the validated configuration, or
 * the 500-only app when the configuration is invalid, runs the daily purge of dead refresh-token families and
 * spent account tokens, and consumes the account-events queue.
 */
import type { Hono } from 'hono'
import { consumeAccountEvents } from './accounts/consumer'
import { createApp, createConfigErrorApp } from './app'
import { loadConfig } from './config/load'
import type { AppEnv } from './env'
import { createGateway } from './gateway'
import { createD1AccountTokenStore } from './stores/d1/account-tokens'
import { createD1RefreshTokenStore } from './stores/d1/refresh-tokens'

/** At most this many bounded purge batches per cron run (500 families each), so one run stays short. */
const PURGE_ROUNDS = 20

/** The app for these bindings: in a deployed worker one object per isolate, so built once. */
const apps = new WeakMap<object, Hono<AppEnv>>()

/** Builds the app for `bindings` (not cached): the gateway's, or the 500-only one for an invalid configuration. */
export function buildApp(bindings: Env): Hono<AppEnv> {
  const result = loadConfig(bindings)
  return result.ok ? createApp(createGateway(result.config, bindings)) : createConfigErrorApp()
}

function appFor(bindings: Env): Hono<AppEnv> {
  let app = apps.get(bindings)
  if (app === undefined) {
    app = buildApp(bindings)
    apps.set(bindings, app)
  }
  return app
}

export default {
  fetch: (request, env, ctx) => appFor(env).fetch(request, env, ctx),
  /** The account-events queue (wrangler.toml `[[queues.consumers]]`): delivers each event to ACCOUNT_EVENTS_URL. */
  queue: (batch, env) => consumeAccountEvents(batch, env),
  /**
   * Cron (wrangler.toml `[triggers]`): deletes dead refresh-token families and their tokens, and expired or used
   * account tokens, so D1 does not grow with every login, registration or reset.
   */
  async scheduled(controller, env) {
    const now = Math.floor(controller.scheduledTime / 1000)
    const store = createD1RefreshTokenStore(env.DB)
    for (let round = 0; round < PURGE_ROUNDS; round++) {
      if ((await store.purgeExpired(now)) === 0) break
    }
    // Expired and used verification and reset tokens, in the same bounded batches.
    const accountTokens = createD1AccountTokenStore(env.DB)
    for (let round = 0; round < PURGE_ROUNDS; round++) {
      if ((await accountTokens.purgeExpired(now)) === 0) break
    }
  },
} satisfies ExportedHandler<Env>

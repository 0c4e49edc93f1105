/**
 * Apps for tests, built the way `src/index.ts` builds them: one gateway and app per bindings object (the 500-only
 * app for an invalid configuration), so a test can call one app with other bindings (another limit, a faulted
 * Upstash lane) and get the matching dependencies. `extend` adds test-only routes to every app it builds.
 */
import { env } from 'cloudflare:workers'
import type { Hono } from 'hono'
import { createApp, createConfigErrorApp } from '../app'
import { loadConfig } from '../config/load'
import type { AppEnv } from '../env'
import { createGateway, type Gateway, type GatewayOverrides } from '../gateway'
import { testExecutionContext } from './context'

export interface TestAppOptions extends GatewayOverrides {
  /** Registers test-only routes on each app built (after the gateway's own, before the proxy fallback). */
  extend?: (app: Hono<AppEnv>, gateway: Gateway) => void
}

export interface TestApp {
  /** `app.fetch`, with the test bindings and a stub execution context by default. */
  fetch(request: Request, bindings?: object, ctx?: ExecutionContext): Promise<Response>
  /** The gateway built for `bindings` (the same one the app for them uses). */
  gateway(bindings?: object): Gateway
  /** Like the `extend` option, from now on (and for the apps already built). */
  extend(register: (app: Hono<AppEnv>, gateway: Gateway) => void): void
}

export function testApp({ extend, ...overrides }: TestAppOptions = {}): TestApp {
  const built = new WeakMap<object, { app: Hono<AppEnv>; gateway?: Gateway }>()
  const extensions = extend === undefined ? [] : [extend]
  const apps: { app: Hono<AppEnv>; gateway: Gateway }[] = []
  const build = (bindings: object) => {
    let entry = built.get(bindings)
    if (entry === undefined) {
      const result = loadConfig(bindings)
      if (!result.ok) entry = { app: createConfigErrorApp() }
      else {
        const gateway = createGateway(result.config, bindings as { DB: D1Database }, overrides)
        const app = createApp(gateway)
        for (const register of extensions) register(app, gateway)
        entry = { app, gateway }
        apps.push({ app, gateway })
      }
      built.set(bindings, entry)
    }
    return entry
  }
  return {
    fetch: async (request, bindings = env, ctx = testExecutionContext) =>
      build(bindings).app.fetch(request, bindings, ctx),
    gateway(bindings = env) {
      const { gateway } = build(bindings)
      if (gateway === undefined) throw new Error('testApp: these bindings do not make a valid configuration')
      return gateway
    },
    extend(register) {
      extensions.push(register)
      for (const { app, gateway } of apps) register(app, gateway)
    },
  }
}

import type { RequestIdVariables } from 'hono/request-id'
import type { Config } from './config/schema'

/**
 * Hono's environment for the gateway: worker bindings, the request id and the configuration. Each stage declares
 * the context variables it sets itself (hono's `ContextVariableMap`), so this module imports no stage.
 */
export interface AppEnv {
  Bindings: Env
  Variables: RequestIdVariables & {
    config: Config
  }
}

import type { RequestIdVariables } from 'hono/request-id'
import type { Config } from './config/schema'

/** Hono's environment for the gateway: worker bindings plus what the pipeline puts on the context. */
export interface AppEnv {
  Bindings: Env
  Variables: RequestIdVariables & {
    config: Config
  }
}

import type { RequestIdVariables } from 'hono/request-id'
import type { Config } from './config/schema'
import type { AuthenticateVariables } from './middleware/authenticate'
import type { RouteVariables } from './pipeline/route'

/** Hono's environment for the gateway: worker bindings plus what the pipeline puts on the context. */
export interface AppEnv {
  Bindings: Env
  Variables: RequestIdVariables &
    Partial<AuthenticateVariables> &
    Partial<RouteVariables> & {
      config: Config
    }
}

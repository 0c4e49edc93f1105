/**
 * Builds the gateway: the pipeline stages in request order, the gateway's own routes, and the one error path.
 */
import { Hono } from 'hono'
import { methodNotAllowed } from 'hono/method-not-allowed'
import type { AppEnv } from './env'
import { GatewayError } from './errors/gateway-error'
import { toProblemResponse } from './errors/problem'
import { config } from './pipeline/config'
import { requestId } from './pipeline/request-id'
import { health } from './routes/health'

export function createApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  app.use(requestId())
  app.use(config())
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        toProblemResponse(new GatewayError('method_not_allowed', { headers: { allow: methods.join(', ') } }), c),
    }),
  )

  app.get('/health', health)

  app.notFound((c) => toProblemResponse(new GatewayError('not_found'), c))
  app.onError(toProblemResponse)
  return app
}

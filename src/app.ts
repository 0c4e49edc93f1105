/**
 * Builds the gateway: the pipeline stages in request order, the gateway's own routes, and the one error path.
 */
import { Hono } from 'hono'
import { methodNotAllowed } from 'hono/method-not-allowed'
import type { AppEnv } from './env'
import { GatewayError } from './errors/gateway-error'
import { toProblemResponse } from './errors/problem'
import { authenticate } from './middleware/authenticate'
import { jsonBody } from './middleware/validate'
import { countRequests, metricsRoute } from './observability/metrics'
import { bodyLimit } from './pipeline/body-limit'
import { config } from './pipeline/config'
import { cors } from './pipeline/cors'
import { rateLimit } from './pipeline/rate-limit'
import { requestId } from './pipeline/request-id'
import { resolveRoute } from './pipeline/route'
import { noStore, securityHeaders } from './pipeline/security-headers'
import { DEFAULT_ROUTE, ROUTES } from './policies'
import { login, register, registrationOpen } from './routes/auth/account'
import { refresh } from './routes/auth/refresh'
import { LoginBody, RefreshBody, RegisterBody } from './routes/auth/schemas'
import { bearerIfPresent, logout, logoutAll, me } from './routes/auth/session'
import { liveness, readiness } from './routes/health'
import { jwks } from './routes/jwks'
import { proxy } from './routes/proxy'
import { type CompiledRoutes, compileRoutes } from './routing/table'

export interface AppOptions {
  /** The compiled route table. @default the table in `src/policies.ts` */
  routes?: CompiledRoutes
}

export function createApp({
  routes = compileRoutes(ROUTES, { default: DEFAULT_ROUTE }),
}: AppOptions = {}): Hono<AppEnv> {
  const app = new Hono<AppEnv>()

  // In request order. CORS comes before anything that can refuse a request, so 401, 413 and 429 carry its
  // headers (R-CORS-8); security headers come first of all, so even a configuration error has them.
  app.use(requestId())
  app.use(countRequests())
  app.use(securityHeaders())
  app.use(config())
  app.use(cors())
  app.use(resolveRoute(routes))
  app.use(bodyLimit())
  app.use(rateLimit())
  app.use('/auth/*', noStore())
  app.use(
    methodNotAllowed({
      app,
      onMethodNotAllowed: (c, methods) =>
        toProblemResponse(new GatewayError('method_not_allowed', { headers: { allow: methods.join(', ') } }), c),
    }),
  )

  // hono hands only Error instances to onError; anything else a handler throws (a string, a plain object)
  // would escape as the runtime's bare 500, without a problem body, request id or log record.
  app.use(async (_c, next) => {
    try {
      await next()
    } catch (thrown) {
      throw thrown instanceof Error ? thrown : new Error('A non-Error value was thrown.', { cause: thrown })
    }
  })

  app.get('/health/live', liveness)
  app.on('GET', ['/health', '/health/ready'], readiness())
  app.get('/metrics', metricsRoute)
  app.get('/.well-known/jwks.json', jwks)
  app.get('/auth/me', authenticate(), me)
  app.post('/auth/register', registrationOpen(), ...jsonBody(RegisterBody), (c) => register(c, c.req.valid('json')))
  app.post('/auth/login', ...jsonBody(LoginBody), (c) => login(c, c.req.valid('json')))
  app.post('/auth/refresh', ...jsonBody(RefreshBody), (c) => refresh(c, c.req.valid('json')))
  app.post('/auth/logout', bearerIfPresent(), logout)
  app.post('/auth/logout-all', authenticate(), logoutAll)

  // Everything else: the proxy to the origin, under the route's policy (or 404 for a gateway-owned spelling).
  app.notFound(proxy)
  app.onError(toProblemResponse)
  return app
}

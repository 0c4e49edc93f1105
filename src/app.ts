/**
 * The gateway as a hono app: the pipeline stages in request order, the gateway's own routes, and the one error
 * path. Reads top to bottom as the complete request path.
 */
import { type Context, Hono } from 'hono'
import { methodNotAllowed } from 'hono/method-not-allowed'
import { configErrorDetail } from './config/load'
import type { AppEnv } from './env'
import { GatewayError } from './errors/gateway-error'
import { toProblemResponse } from './errors/problem'
import type { Gateway } from './gateway'
import { authenticate, prefetchAuthentication, settleRevocation } from './middleware/authenticate'
import { jsonBody } from './middleware/validate'
import { openapi } from './openapi/route'
import { bodyLimit } from './pipeline/body-limit'
import { config } from './pipeline/config'
import { cors } from './pipeline/cors'
import { countRequests } from './pipeline/count-requests'
import { rateLimit } from './pipeline/rate-limit'
import { requestId } from './pipeline/request-id'
import { resolveRoute } from './pipeline/route'
import { noStore, securityHeaders } from './pipeline/security-headers'
import { asError, pipeline } from './pipeline/stage'
import { requestUrl } from './request-parse'
import { registerAdminRoutes } from './routes/admin'
import { login, register, registrationOpen } from './routes/auth/account'
import { changePassword } from './routes/auth/password-change'
import { forgotPassword, resetPassword } from './routes/auth/password-reset'
import { refreshRoute } from './routes/auth/refresh'
import {
  ChangePasswordBody,
  ForgotPasswordBody,
  LoginBody,
  RegisterBody,
  ResetPasswordBody,
  VerifyEmailBody,
} from './routes/auth/schemas'
import { bearerIfPresent, logout, logoutAll, me } from './routes/auth/session'
import { endSession, listSessions } from './routes/auth/sessions'
import { verifyEmail } from './routes/auth/verify'
import { liveness, readiness } from './routes/health'
import { jwks } from './routes/jwks'
import { metricsRoute } from './routes/metrics'
import { AUTH_PATH_PREFIX, GATEWAY_PATHS } from './routes/paths'
import { proxy } from './routes/proxy'

/**
 * The gateway's request path, top to bottom, for one isolate's dependencies (`createGateway`). Every stage and
 * route is built here from what it needs; nothing is looked up per request.
 */
export function createApp(gw: Gateway): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  const requireToken = authenticate(gw)

  // The stages in request order, in one middleware (src/pipeline/stage.ts). CORS comes before anything that can
  // refuse a request, so 401, 413 and 429 carry its headers; security headers come first of all, so even a refused
  // host has them.
  app.use(
    pipeline(
      [
        requestId(),
        countRequests(),
        securityHeaders(),
        config(gw.config),
        cors(gw.config.cors),
        resolveRoute(gw.routes),
        bodyLimit(gw.config.bodyLimits),
        rateLimit({
          engine: gw.rateLimits,
          settings: gw.config.rateLimit,
          prefetchClaims: (c) => prefetchAuthentication(c, gw),
          settleRevocation,
        }),
      ],
      toProblemResponse,
    ),
  )
  app.use(`${AUTH_PATH_PREFIX}*`, noStore())
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
      throw asError(thrown)
    }
  })

  app.get(GATEWAY_PATHS.healthLive, liveness)
  app.on('GET', [GATEWAY_PATHS.health, GATEWAY_PATHS.healthReady], readiness(gw))
  app.get(GATEWAY_PATHS.metrics, (c) => metricsRoute(c, gw.config.metrics))
  app.get(GATEWAY_PATHS.jwks, (c) => jwks(c, gw))
  app.get(GATEWAY_PATHS.openapi, openapi)
  app.get(GATEWAY_PATHS.me, requireToken, me)
  app.post(GATEWAY_PATHS.register, registrationOpen(gw), ...jsonBody(RegisterBody), (c) =>
    register(c, c.req.valid('json'), gw),
  )
  app.post(GATEWAY_PATHS.login, ...jsonBody(LoginBody), (c) => login(c, c.req.valid('json'), gw))
  app.post(GATEWAY_PATHS.refresh, (c) => refreshRoute(c, gw))
  app.post(GATEWAY_PATHS.logout, bearerIfPresent(gw), (c) => logout(c, gw))
  app.post(GATEWAY_PATHS.logoutAll, requireToken, (c) => logoutAll(c, gw))
  app.get(GATEWAY_PATHS.sessions, requireToken, (c) => listSessions(c, gw))
  app.delete(GATEWAY_PATHS.session, requireToken, (c) => endSession(c, gw))
  registerAdminRoutes(app, gw)
  app.post(GATEWAY_PATHS.verifyEmail, ...jsonBody(VerifyEmailBody), (c) => verifyEmail(c, c.req.valid('json'), gw))
  app.post(GATEWAY_PATHS.passwordForgot, ...jsonBody(ForgotPasswordBody), (c) =>
    forgotPassword(c, c.req.valid('json'), gw),
  )
  app.post(GATEWAY_PATHS.passwordReset, ...jsonBody(ResetPasswordBody), (c) =>
    resetPassword(c, c.req.valid('json'), gw),
  )
  app.post(GATEWAY_PATHS.passwordChange, requireToken, ...jsonBody(ChangePasswordBody), (c) =>
    changePassword(c, c.req.valid('json'), gw),
  )

  // Everything else: the proxy to the origin, under the route's policy (or 404 for a gateway-owned spelling).
  app.notFound(proxy(gw))
  app.onError(toProblemResponse)
  return app
}

/**
 * What an isolate with an invalid configuration serves: a generic 500 problem for every request, with the
 * security headers and a request id. The offending variables were logged once, when the configuration was parsed.
 * On a local host the detail also says how to run the gateway locally (`configErrorDetail`); never a variable.
 */
export function createConfigErrorApp(): Hono<AppEnv> {
  const app = new Hono<AppEnv>()
  app.use(pipeline([requestId(), countRequests(), securityHeaders()], toProblemResponse))
  const fail = (c: Context<AppEnv>) => {
    throw new GatewayError('internal_error', { detail: configErrorDetail(requestUrl(c).hostname) })
  }
  app.all('*', fail)
  app.notFound(fail)
  app.onError(toProblemResponse)
  return app
}

/**
 * Puts the parsed configuration on the context. With an invalid configuration every request is answered
 * with a generic 500 that reveals nothing; the offending variables were logged once, when it was parsed.
 * A development configuration answers the same 500 to a request for a host that is not local.
 */
import { createMiddleware } from 'hono/factory'
import { admitServingHost, loadConfig } from '../../config/load'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'

export const config = () =>
  createMiddleware<AppEnv>(async function config(c, next) {
    const result = loadConfig(c.env)
    if (!result.ok) throw new GatewayError('internal_error')
    if (!admitServingHost(result.config, c.req.url)) throw new GatewayError('internal_error')
    c.set('config', result.config)
    await next()
  })

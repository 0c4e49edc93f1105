/**
 * `GET /metrics`: the isolate's metrics as Prometheus text, for `Authorization: Bearer <METRICS_TOKEN>` (compared in
 * constant time). Without METRICS_TOKEN the route answers 404 like any unknown path.
 */
import type { Context } from 'hono'
import type { Config } from '../config/schema'
import type { AppEnv } from '../env'
import { GatewayError } from '../errors/gateway-error'
import { networkOf } from '../lib/client-identity'
import { createLogThrottle } from '../lib/throttle'
import { METRICS_CONTENT_TYPE, renderMetrics } from '../observability/metrics'
import { logRequest, recordEvent } from '../request-log'
import { requestClient } from '../request-parse'

const BEARER = /^Bearer +(\S+)$/i

/** SHA-256 both sides, then compare the fixed-length digests in constant time. */
async function sameSecret(presented: string, expected: string): Promise<boolean> {
  const encoder = new TextEncoder()
  const [a, b] = await Promise.all([
    crypto.subtle.digest('SHA-256', encoder.encode(presented)),
    crypto.subtle.digest('SHA-256', encoder.encode(expected)),
  ])
  return crypto.subtle.timingSafeEqual(a, b)
}

/**
 * Refusals are logged at most once a minute per client network (IPv4 /24, IPv6 /32, as the origin breakers count
 * clients: one host has many addresses), per isolate; the next logged one carries the count left unlogged. The route
 * is exempt from rate limits, for scrapers, so a client sending wrong tokens could otherwise multiply log lines at
 * will. Each refusal still writes its Analytics Engine data point.
 */
const denialLogs = createLogThrottle({ intervalMs: 60_000, maxKeys: 1_000 })

function deny(c: Context<AppEnv>, reason: string, code: 'unauthenticated' | 'invalid_token'): never {
  const logged = denialLogs.admit(networkOf(requestClient(c)), Date.now())
  if (logged === undefined) {
    recordEvent(c, { event: 'authn_token_invalid', reason, outcome: 'denied' })
  } else {
    logRequest(c, {
      event: 'authn_token_invalid',
      level: 'warn',
      description: 'GET /metrics was refused: the metrics bearer token was missing or wrong.',
      resource: 'metrics',
      reason,
      suppressed: logged.suppressed,
      outcome: 'denied',
    })
  }
  throw new GatewayError(code)
}

/**
 * `GET /metrics`: Prometheus text for `Authorization: Bearer <METRICS_TOKEN>`. Without METRICS_TOKEN configured
 * the route answers 404 like any unknown path; a missing or wrong token gets 401 with an RFC 6750 challenge.
 */
export async function metricsRoute(c: Context<AppEnv>, settings: Config['metrics']): Promise<Response> {
  const expected = settings.token
  if (expected === undefined) throw new GatewayError('not_found')
  const authorization = c.req.header('authorization')
  if (authorization === undefined) deny(c, 'token_missing', 'unauthenticated')
  const presented = BEARER.exec(authorization.trim())?.[1]
  if (presented === undefined) deny(c, 'authorization_malformed', 'invalid_token')
  if (!(await sameSecret(presented, expected))) deny(c, 'token_mismatch', 'invalid_token')
  return c.body(renderMetrics(), 200, { 'content-type': METRICS_CONTENT_TYPE, 'cache-control': 'no-store' })
}

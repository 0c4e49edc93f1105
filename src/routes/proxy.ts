/**
 * The proxy: every request the gateway does not answer itself goes to the origin once the pipeline has passed and
 * the route's policy (src/policies.ts) allows it. It runs as hono's not-found handler, so routes the gateway (or a
 * test) registers always win, and it renders its own errors: a 404 for a gateway-owned spelling (`/AUTH/login`,
 * `/auth/login/`) still lets `methodNotAllowed` answer 405 where the path exists with another method.
 */
import type { Context } from 'hono'
import type { Config } from '../config/schema'
import type { AppEnv } from '../env'
import { GatewayError } from '../errors/gateway-error'
import { toProblemResponse } from '../errors/problem'
import { createCircuitBreaker } from '../lib/breaker'
import { clientNetwork } from '../lib/client-identity'
import { authenticate, requireScopes } from '../middleware/authenticate'
import { parseJsonBody } from '../middleware/validate'
import { log } from '../observability/logger'
import { countUpstream } from '../observability/metrics'
import type { ProxyRoute } from '../pipeline/route'
import type { ResolvedPolicy } from '../routing/table'
import { type InflateFormat, requestCoding } from '../upstream/content-coding'
import { createForwarder, type Fetcher } from '../upstream/forward'
import { upstreamRequestHeaders } from '../upstream/headers'
import { signIdentity } from '../upstream/signature'

type Forward = ReturnType<typeof createForwarder>

/** One forwarder, and so one set of circuit breakers, per configuration: per isolate in practice. */
const forwarders = new WeakMap<Config, Forward>()

function forwarderFor(config: Config, env: AppEnv['Bindings']): Forward | undefined {
  const url = config.upstream.url
  if (url === undefined) return undefined
  let forward = forwarders.get(config)
  if (forward === undefined) {
    const { breaker: settings } = config.upstream
    const breakerFor = (key: string) =>
      createCircuitBreaker({
        ...settings,
        onTransition: (from, to) =>
          log({
            event:
              to === 'open'
                ? 'upstream_circuit_opened'
                : to === 'closed'
                  ? 'upstream_circuit_closed'
                  : 'upstream_circuit_probe',
            level: to === 'open' ? 'error' : 'info',
            description:
              to === 'open'
                ? `The origin could not be reached ${settings.failureThreshold} times in a row, from ${settings.minSources} or more clients: proxied requests fail fast for ${settings.cooldownMs / 1000} s.`
                : to === 'closed'
                  ? 'The origin answers again: proxying resumed.'
                  : 'The cooldown passed: requests from a few clients probe the origin.',
            breaker: key,
            from,
            to,
          }),
      })
    // A service binding named UPSTREAM, when configured, carries the calls (no public Internet hop).
    const binding = (env as { UPSTREAM?: Fetcher }).UPSTREAM
    forward = createForwarder({
      baseUrl: url,
      ...(binding !== undefined && typeof binding.fetch === 'function' ? { fetcher: binding } : {}),
      timeoutMs: config.upstream.timeoutMs,
      retries: config.upstream.retries as 0 | 1,
      breakerFor,
      openRetryAfterSeconds: Math.ceil(settings.cooldownMs / 1_000),
    })
    forwarders.set(config, forward)
  }
  return forward
}

const requireToken = authenticate()
const scopeChecks = new WeakMap<ResolvedPolicy, ReturnType<typeof requireScopes>>()

/** `requireScopes` for a policy, built once per policy (it validates the scope tokens when built). */
function scopeCheck(policy: ResolvedPolicy) {
  let check = scopeChecks.get(policy)
  if (check === undefined) {
    check = requireScopes(...policy.scopes)
    scopeChecks.set(policy, check)
  }
  return check
}

async function forwardRoute(c: Context<AppEnv>, route: ProxyRoute): Promise<Response> {
  const config = c.get('config')
  const forward = forwarderFor(config, c.env)
  if (forward === undefined) {
    throw new GatewayError('bad_gateway', { internal: { reason: 'upstream_not_configured' } })
  }
  const { policy } = route
  const method = c.req.method.toUpperCase()
  // A schema means the body must be read and checked; it is then forwarded byte for byte as received.
  let body: ReadableStream<Uint8Array> | string | null = c.req.raw.body
  if (policy.schema !== undefined && method !== 'GET' && method !== 'HEAD') {
    await parseJsonBody(c, policy.schema)
    body = await c.req.text()
  }
  const url = new URL(c.req.url)
  const requestId = c.get('requestId')
  const headers = upstreamRequestHeaders(c.req.raw.headers, {
    clientIp: c.req.header('cf-connecting-ip'),
    proto: url.protocol === 'http:' ? 'http' : 'https',
    host: url.host,
    requestId,
    ...(policy.forwardHeaders === undefined ? {} : { forwardHeaders: policy.forwardHeaders }),
  })
  const principal = c.get('principal')
  const started = performance.now()
  try {
    const response = await forward({
      method,
      pathAndQuery: route.upstreamPathAndQuery,
      headers,
      body,
      ...bodyOptions(c, policy, config, headers),
      client: clientNetwork(c.req.header('cf-connecting-ip')),
      ...(policy.breakerGroup === undefined ? {} : { breakerGroup: policy.breakerGroup }),
      sign: (target) =>
        signIdentity(config.upstream.signingSecret, {
          method: target.method,
          pathAndQuery: target.pathAndQuery,
          requestId,
          ...(principal !== undefined ? { user: principal.sub, scopes: principal.scopes, session: principal.sid } : {}),
        }),
    })
    countUpstream(`${Math.floor(response.status / 100)}xx`, performance.now() - started)
    return response
  } catch (error) {
    if (error instanceof GatewayError) countUpstream(error.code, performance.now() - started)
    throw error
  }
}

/**
 * The body limit and decoding for the origin call. A route with `decompress` gets its gzip or deflate body
 * inflated on the way, counted in inflated bytes against `decompress.maxBytes`, and forwarded uncompressed (the
 * body-limit stage has already refused any other coding, and any coding on other routes).
 */
function bodyOptions(
  c: Context<AppEnv>,
  policy: ResolvedPolicy,
  config: Config,
  headers: Headers,
): { maxBodyBytes: number; inflate?: InflateFormat } {
  const coding = requestCoding(c.req.header('content-encoding'))
  if (policy.decompress === undefined || coding.kind !== 'inflatable') {
    return { maxBodyBytes: policy.bodyLimitBytes ?? config.bodyLimits.defaultBytes }
  }
  headers.delete('content-encoding')
  headers.delete('content-length')
  return { maxBodyBytes: policy.decompress.maxBytes, inflate: coding.format }
}

/**
 * The not-found handler: proxies a resolved route; anything else (a gateway-owned path the router did not
 * match) is a 404 that never reaches the origin.
 */
export async function proxy(c: Context<AppEnv>): Promise<Response> {
  try {
    const route = c.get('route')
    if (route === undefined) return toProblemResponse(new GatewayError('not_found'), c)
    const { policy } = route
    if (policy.auth === 'public') return await forwardRoute(c, route)
    let response: Response | undefined
    await requireToken(c, async () => {
      if (policy.scopes.length > 0) {
        await scopeCheck(policy)(c, async () => {
          response = await forwardRoute(c, route)
        })
      } else {
        response = await forwardRoute(c, route)
      }
    })
    if (response === undefined) {
      throw new GatewayError('internal_error', { internal: { reason: 'proxy_chain_without_response' } })
    }
    return response
  } catch (error) {
    // Rendered here (not thrown): a not-found handler's error would otherwise skip the stages after it.
    return toProblemResponse(error, c)
  }
}

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
import type { Gateway } from '../gateway'
import { networkOf } from '../lib/client-identity'
import { type AuthDeps, authenticate, requireScopes } from '../middleware/authenticate'
import { parseJsonBody } from '../middleware/validate'
import { countUpstream } from '../observability/metrics'
import { isMethodOverrideName, type ProxyRoute } from '../pipeline/route'
import { logRequest, recordUpstream } from '../request-log'
import { requestClient, requestClientIp, requestHeader, requestHeaders, requestUrl } from '../request-parse'
import type { ResolvedPolicy } from '../routing/table'
import { type InflateFormat, requestCoding } from '../upstream/content-coding'
import { upstreamRequestHeaders } from '../upstream/headers'
import { signIdentity } from '../upstream/signature'
import { HEADER_REQUEST_ID } from '../upstream/verify-origin'

async function forwardRoute(c: Context<AppEnv>, route: ProxyRoute, gw: ProxyDeps): Promise<Response> {
  const { config, forward } = gw
  if (forward === undefined) {
    throw new GatewayError('bad_gateway', { internal: { reason: 'upstream_not_configured' } })
  }
  const { policy } = route
  const method = c.req.method.toUpperCase()
  // A schema means the body must be read and checked; it is then forwarded as received, UTF-8 that the checks read
  // exactly (less a leading byte order mark), under a Content-Type that says UTF-8 or nothing.
  let body: ReadableStream<Uint8Array> | string | null = c.req.raw.body
  if (policy.schema !== undefined && method !== 'GET' && method !== 'HEAD') {
    await parseJsonBody(c, policy.schema)
    body = await c.req.text()
  }
  const url = requestUrl(c)
  const requestId = c.get('requestId')
  const headers = upstreamRequestHeaders(requestHeaders(c), {
    clientIp: requestClientIp(c),
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
      // A POST where the method decides the policy: a framework would read `_method` from a JSON object's members.
      ...(route.watchBody ? { refuseJsonMember: isMethodOverrideName } : {}),
      client: networkOf(requestClient(c)),
      ...(policy.breakerGroup === undefined ? {} : { breakerGroup: policy.breakerGroup }),
      sign: async (target) => {
        // X-Request-Id is signed with the value upstreamRequestHeaders already put in the headers: setting it again
        // would only cost the runtime a field.
        const { [HEADER_REQUEST_ID]: _forwarded, ...signed } = await signIdentity(config.upstream.signingSecret, {
          method: target.method,
          pathAndQuery: target.pathAndQuery,
          requestId,
          ...(principal !== undefined ? { user: principal.sub, scopes: principal.scopes, session: principal.sid } : {}),
        })
        return signed
      },
    })
    const outcome = `${Math.floor(response.status / 100)}xx`
    const latencyMs = performance.now() - started
    countUpstream(outcome, latencyMs)
    recordUpstream(c, { status: response.status, latencyMs, outcome })
    return response
  } catch (error) {
    if (error instanceof GatewayError && error.code === 'method_override') {
      logRequest(c, {
        event: 'input_validation_fail',
        level: 'info',
        reason: 'method_override_json',
        outcome: 'denied',
      })
    }
    if (error instanceof GatewayError) {
      const latencyMs = performance.now() - started
      countUpstream(error.code, latencyMs)
      recordUpstream(c, { status: error.status, latencyMs, outcome: error.code })
    }
    throw error
  }
}

/**
 * The body limit and decoding for the origin call. A route with `decompress` gets its gzip or deflate body
 * inflated on the way, counted in inflated bytes against `decompress.maxBytes` (and in compressed bytes against the
 * route's body limit), and forwarded uncompressed (the
 * body-limit stage has already refused any other coding, and any coding on other routes).
 */
function bodyOptions(
  c: Context<AppEnv>,
  policy: ResolvedPolicy,
  config: Config,
  headers: Headers,
): { maxBodyBytes: number; inflate?: InflateFormat; maxEncodedBytes?: number } {
  // The coding is read only where it can matter: a route without `decompress` never inflates.
  const coding = policy.decompress === undefined ? undefined : requestCoding(requestHeader(c, 'content-encoding'))
  const limit = policy.bodyLimitBytes ?? config.bodyLimits.defaultBytes
  if (policy.decompress === undefined || coding?.kind !== 'inflatable') return { maxBodyBytes: limit }
  headers.delete('content-encoding')
  headers.delete('content-length')
  // The compressed bytes stay under the route's body limit, as a declared Content-Length does (body-limit stage).
  return { maxBodyBytes: policy.decompress.maxBytes, inflate: coding.format, maxEncodedBytes: limit }
}

/** What the proxy needs from the gateway. */
export type ProxyDeps = Pick<Gateway, 'config' | 'forward' | 'routes'> & AuthDeps

/**
 * The not-found handler: proxies a resolved route; anything else (a gateway-owned path the router did not
 * match) is a 404 that never reaches the origin. Its authentication and each route's scope check are built here,
 * once (requireScopes validates the scope tokens when built).
 */
export function proxy(gw: ProxyDeps) {
  const requireToken = authenticate(gw)
  const scopeChecks = new Map<ResolvedPolicy, ReturnType<typeof requireScopes>>()
  for (const group of gw.routes.groups) {
    for (const { policy } of group.entries) {
      if (policy.scopes.length > 0) scopeChecks.set(policy, requireScopes(...policy.scopes))
    }
  }

  return async function proxy(c: Context<AppEnv>): Promise<Response> {
    try {
      const route = c.get('route')
      if (route === undefined) return toProblemResponse(new GatewayError('not_found'), c)
      const { policy } = route
      if (policy.auth === 'public') return await forwardRoute(c, route, gw)
      let response: Response | undefined
      await requireToken(c, async () => {
        const scopes = scopeChecks.get(policy)
        if (scopes !== undefined) {
          await scopes(c, async () => {
            response = await forwardRoute(c, route, gw)
          })
        } else {
          response = await forwardRoute(c, route, gw)
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
}

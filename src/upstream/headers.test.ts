import { describe, expect, it } from 'vitest'
import { FORWARDED_REQUEST_HEADERS, isAllowListed, isForwardableHeaderName, upstreamRequestHeaders } from './headers'
import { clientResponseFields, isCorsFree } from './response-headers'
import { clientResponse, stripReservedRequestHeaders } from './send'

/** The fields clientResponseFields keeps, as Headers (each Set-Cookie its own field), to read them by name. */
const asHeaders = (upstream: Headers) => new Headers(clientResponseFields(upstream))

const CONTEXT = {
  clientIp: '203.0.113.7',
  proto: 'https',
  host: 'gw.example.com',
  requestId: 'req-0123456789',
} as const

const toRequest = (init: Record<string, string>) => upstreamRequestHeaders(new Headers(init), CONTEXT)

describe('upstreamRequestHeaders', () => {
  it.each([
    ['connection', 'keep-alive'],
    ['keep-alive', 'timeout=5'],
    ['proxy-connection', 'keep-alive'],
    ['te', 'trailers'],
    ['trailer', 'x-checksum'],
    ['transfer-encoding', 'chunked'],
    ['upgrade', 'websocket'],
    ['proxy-authorization', 'Basic Zm9vOmJhcg=='],
    ['proxy-authenticate', 'Basic'],
    ['authorization', 'Bearer eyJhbGciOi.client.token'],
    ['host', 'evil.test'],
    ['forwarded', 'for=1.2.3.4;proto=http'],
    ['x-forwarded-for', '1.2.3.4'],
    ['x-forwarded-server', 'evil'],
    ['x-forwarded-prefix', '/admin'],
    ['x-real-ip', '1.2.3.4'],
    ['true-client-ip', '1.2.3.4'],
    ['cf-connecting-ip', '1.2.3.4'],
    ['x-original-url', '/admin'],
    ['x-rewrite-url', '/admin'],
    ['x-http-method-override', 'DELETE'],
    ['x-method-override', 'DELETE'],
    ['x-gateway-user', 'admin'],
    ['X-Gateway-Scopes', 'admin'],
    ['X-GATEWAY-SIGNATURE', 'v1=forged'],
    ['x-gateway-anything-new', '1'],
    ['X_Gateway_User', 'admin'],
    ['x_gateway_scopes', 'admin'],
    ['X_Forwarded_For', '10.0.0.1'],
    ['X_Real_IP', '10.0.0.1'],
    ['Client-IP', '10.0.0.1'],
    ['X-Cluster-Client-IP', '10.0.0.1'],
    ['X-Client-IP', '10.0.0.1'],
    ['X-Original-Host', 'internal.example'],
    ['X-Host', 'internal.example'],
    ['X-Forwarded-Host', 'evil.example'],
    ['X-Original-URI', '/admin'],
    ['X-HTTP-Method', 'DELETE'],
    ['X-Api-Key', 'sk_live_client'],
    ['Content-Encoding', 'gzip'],
    ['Accept-Encoding', 'br'],
    ['Referer', 'https://evil.example/'],
    ['Via', '1.1 evil'],
    ['Max-Forwards', '0'],
    ['Expect', '100-continue'],
  ])('drops the client %s header', (name, value) => {
    const headers = toRequest({ [name]: value, accept: 'application/json' })
    // Only what the gateway sets itself may carry the name.
    const own: Record<string, string> = {
      'x-forwarded-for': CONTEXT.clientIp,
      'x-forwarded-proto': CONTEXT.proto,
      'x-forwarded-host': CONTEXT.host,
    }
    expect(headers.get(name)).toBe(own[name.toLowerCase()] ?? null)
    expect(headers.get('accept')).toBe('application/json')
  })

  it('drops every header the Connection header names, case-insensitively, and ignores junk options', () => {
    const headers = toRequest({
      connection: 'close, Accept-Language , if-match, bad option',
      'accept-language': 'de',
      'If-Match': '"1"',
      accept: 'text/plain',
    })
    expect([...headers.keys()].filter((k) => !k.startsWith('x-forwarded-') && k !== 'x-request-id')).toEqual(['accept'])
  })

  it('forwards exactly the allow-list: every standard API header, nothing else', () => {
    const sent = Object.fromEntries(FORWARDED_REQUEST_HEADERS.map((name) => [name, `v-${name}`]))
    const headers = toRequest({ ...sent, 'x-custom': '1', 'x-tenant-id': 't', dnt: '1' })
    const own = ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'x-request-id']
    expect([...headers.keys()].sort()).toEqual([...FORWARDED_REQUEST_HEADERS, ...own].sort())
    for (const name of FORWARDED_REQUEST_HEADERS) expect(headers.get(name)).toBe(`v-${name}`)
  })

  it("adds the route's forwardHeaders, and only those", () => {
    const headers = upstreamRequestHeaders(new Headers({ 'X-Tenant-Id': 't-1', 'x-other': 'o', x_tenant_id: 'u' }), {
      ...CONTEXT,
      forwardHeaders: ['x-tenant-id'],
    })
    expect(headers.get('x-tenant-id')).toBe('t-1')
    expect(headers.get('x-other')).toBeNull()
    expect(headers.get('x_tenant_id')).toBeNull()
  })

  it('cannot be made to drop the headers the gateway sets (hop-by-hop injection)', () => {
    const headers = toRequest({ connection: 'x-forwarded-for, x-request-id, x-forwarded-proto, x-forwarded-host' })
    expect(Object.fromEntries(headers)).toEqual({
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gw.example.com',
      'x-request-id': 'req-0123456789',
    })
  })

  it('sets the trusted forwarding headers and keeps the ordinary ones', () => {
    const headers = toRequest({
      'content-type': 'application/json',
      'content-length': '17',
      accept: '*/*',
      'user-agent': 'curl/8',
      'x-request-id': 'client-chosen-id',
      'if-none-match': '"abc"',
    })
    expect(Object.fromEntries(headers)).toEqual({
      accept: '*/*',
      'content-length': '17',
      'content-type': 'application/json',
      'if-none-match': '"abc"',
      'user-agent': 'curl/8',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-host': 'gw.example.com',
      'x-forwarded-proto': 'https',
      'x-request-id': 'req-0123456789',
    })
  })

  it.each([undefined, '', 'unknown', '1.2.3.4, 5.6.7.8', '1.2.3.4\tx'])(
    'sends no X-Forwarded-For for client IP %j',
    (clientIp) => {
      const headers = upstreamRequestHeaders(new Headers({ 'x-forwarded-for': '9.9.9.9' }), { ...CONTEXT, clientIp })
      expect(headers.get('x-forwarded-for')).toBeNull()
    },
  )

  it('forwards an IPv6 client address', () => {
    expect(upstreamRequestHeaders(new Headers(), { ...CONTEXT, clientIp: '2001:db8::1' }).get('x-forwarded-for')).toBe(
      '2001:db8::1',
    )
  })

  it.each([
    ['a=1; __Host-rt=secret-refresh; b=2', 'a=1; b=2'],
    ['__Host-rt=secret-refresh', null],
    ['a=1', 'a=1'],
    ['__host-rt=other-case; a=1', '__host-rt=other-case; a=1'],
    ['a=1, __Host-rt=secret-refresh', 'a=1'],
    ['a=1,__Host-rt=secret-refresh;b=2', 'a=1; b=2'],
    // A comma inside a value is not a separator for browsers: such a cookie reaches the origin as it was sent,
    // never split into two (a sibling domain's `x=1,__Host-csrf=known` must not become a second __Host- cookie).
    ['tossed=x,__Host-session=evil; __Host-session=real', 'tossed=x,__Host-session=evil; __Host-session=real'],
    ['prefs=a,b', 'prefs=a,b'],
    ['prefs=a,b; __Host-rt=secret-refresh', 'prefs=a,b'],
  ])('keeps cookies but not the gateway refresh cookie: %s', (cookie, expected) => {
    expect(toRequest({ cookie }).get('cookie')).toBe(expected)
  })
})

it('drops the gateway cookie from a second Cookie field', () => {
  const incoming = new Headers()
  incoming.append('cookie', 'a=1')
  incoming.append('cookie', '__Host-rt=secret-refresh')
  expect(upstreamRequestHeaders(incoming, CONTEXT).get('cookie')).toBe('a=1')
})

describe('isForwardableHeaderName', () => {
  it.each(['x-tenant-id', 'x-api-version', 'accept-patch', 'x-request-signature'])('lets a route add %s', (name) => {
    expect(isForwardableHeaderName(name)).toBe(true)
  })

  it.each([
    'x_tenant_id',
    'X-Tenant-Id',
    'authorization',
    'host',
    'connection',
    'transfer-encoding',
    'forwarded',
    'x-forwarded-for',
    'x-forwarded-anything',
    'x-gateway-user',
    'cf-connecting-ip',
    'cf-anything',
    'proxy-authorization',
    'x-real-ip',
    'client-ip',
    'x-cluster-client-ip',
    'x-original-url',
    'x-original-host',
    'x-host',
    'x-http-method-override',
    'x-request-id',
    'content-encoding',
    'bad header',
    '',
  ])('refuses %j', (name) => {
    expect(isForwardableHeaderName(name)).toBe(false)
  })
})

describe('clientResponseFields', () => {
  it.each([
    'connection',
    'keep-alive',
    'proxy-connection',
    'transfer-encoding',
    'upgrade',
    'trailer',
    'proxy-authenticate',
    'server',
    'x-powered-by',
    'access-control-allow-origin',
    'Access-Control-Allow-Credentials',
    'access-control-expose-headers',
    'access-control-max-age',
    'x-gateway-user',
    'X-Gateway-Signature',
    'x-gateway-timestamp',
    'x-forwarded-for',
    'X-Forwarded-Host',
    'via',
    'forwarded',
    'alt-svc',
    'nel',
    'report-to',
    'service-worker-allowed',
  ])('drops the upstream %s header', (name) => {
    const headers = asHeaders(new Headers({ [name]: 'x', etag: '"1"' }))
    expect(headers.has(name)).toBe(false)
    expect(headers.get('etag')).toBe('"1"')
  })

  it('drops the headers the upstream Connection header names', () => {
    const headers = asHeaders(new Headers({ connection: 'x-internal-trace', 'x-internal-trace': 't', vary: 'Accept' }))
    expect(Object.fromEntries(headers)).toEqual({ vary: 'Accept' })
  })

  it('keeps every Set-Cookie as its own field, except one that would set the gateway cookie', () => {
    const upstream = new Headers()
    upstream.append('set-cookie', 'a=1; Path=/; HttpOnly')
    upstream.append('set-cookie', 'b=2, with comma; Expires=Wed, 21 Oct 2037 07:28:00 GMT')
    upstream.append('set-cookie', '__Host-rt=overwrite; Path=/; Secure')
    upstream.set('content-type', 'application/json')
    const headers = asHeaders(upstream)
    expect(headers.getSetCookie()).toEqual([
      'a=1; Path=/; HttpOnly',
      'b=2, with comma; Expires=Wed, 21 Oct 2037 07:28:00 GMT',
    ])
    expect(headers.get('content-type')).toBe('application/json')
  })

  it.each([
    ['a nameless cookie whose value spells the gateway cookie', '=__Host-rt=evil; Path=/; Secure'],
    ['another case', '__host-RT=evil; Path=/; Secure'],
    ['white space around the name', ' __Host-rt =evil; Path=/; Secure'],
  ])('drops a Set-Cookie that sets the gateway cookie in %s', (_, cookie) => {
    const upstream = new Headers()
    upstream.append('set-cookie', cookie)
    upstream.append('set-cookie', 'a=1; Path=/')
    expect(asHeaders(upstream).getSetCookie()).toEqual(['a=1; Path=/'])
  })

  it.each([
    ['"cache", "cookies", "storage"', '"cache", "storage"'],
    ['"cookies"', null],
    ['"*"', null],
    ['"Cookies", "cache"', '"cache"'],
    ['cookies, "executionContexts"', '"executionContexts"'],
    [' "cache" ,, "*" ', '"cache"'],
    ['"storage"', '"storage"'],
  ])('keeps Clear-Site-Data %s from clearing cookies: %s', (value, expected) => {
    expect(asHeaders(new Headers({ 'clear-site-data': value })).get('clear-site-data')).toBe(expected)
  })

  it('keeps everything else', () => {
    const init = {
      'cache-control': 'private, max-age=60',
      'content-type': 'text/plain',
      'content-length': '5',
      etag: 'W/"x"',
      'x-ratelimit-origin': '1',
      location: '/api/items/1',
      'www-authenticate': 'Basic realm="origin"',
      // Scoped to the document it comes with, unlike Report-To and NEL.
      'reporting-endpoints': 'csp="https://reports.example/csp"',
    }
    expect(Object.fromEntries(asHeaders(new Headers(init)))).toEqual(init)
  })
})

// The forwarder and the CORS stage skip their own pass over headers these functions produced: the skip is only
// sound while what the pass would remove can never be there.
describe('what the forwarder and CORS may skip', () => {
  const RESERVED = [
    'x-gateway-user',
    'X-Gateway-Signature',
    'x-gateway-timestamp',
    'transfer-encoding',
    'keep-alive',
    'accept-encoding',
  ]

  it('builds request headers with no field the forwarder strips, whatever the client and the route ask for', () => {
    const incoming = new Headers(RESERVED.map((name) => [name, 'forged']))
    incoming.set('accept', 'application/json')
    incoming.set('x-tenant', 'acme')
    const headers = upstreamRequestHeaders(incoming, { ...CONTEXT, forwardHeaders: ['x-tenant'] })
    const copy = new Headers(headers)
    stripReservedRequestHeaders(copy)
    expect([...copy]).toEqual([...headers])
    expect(isAllowListed(headers)).toBe(true)
    expect([...headers.keys()]).toEqual(
      expect.arrayContaining(['accept', 'x-tenant', 'x-forwarded-for', 'x-request-id']),
    )
  })

  it('leaves the strip on when the names a caller adds were not checked', () => {
    const incoming = new Headers({ 'x-gateway-user': 'forged', accept: 'application/json' })
    const headers = upstreamRequestHeaders(incoming, { ...CONTEXT, forwardHeaders: ['x-gateway-user'] })
    expect(isAllowListed(headers)).toBe(false)
    stripReservedRequestHeaders(headers)
    expect(headers.get('x-gateway-user')).toBeNull()
  })

  it('strips reserved fields from headers it did not build', () => {
    const headers = new Headers(RESERVED.map((name) => [name, 'forged']))
    headers.set('accept', 'application/json')
    expect(isAllowListed(headers)).toBe(false)
    stripReservedRequestHeaders(headers)
    expect([...headers.keys()]).toEqual(['accept'])
  })

  it('marks response headers CORS-free only once every Access-Control-* field is gone', () => {
    const upstream = new Headers({
      'access-control-allow-origin': '*',
      'Access-Control-Allow-Credentials': 'true',
      'access-control-expose-headers': 'x-secret',
      'content-type': 'application/json',
    })
    expect(isCorsFree(upstream)).toBe(false)
    const { headers } = clientResponse(new Response(null, { headers: upstream }))
    expect(isCorsFree(headers)).toBe(true)
    expect([...headers.keys()].filter((name) => name.startsWith('access-control-'))).toEqual([])
    expect(headers.get('content-type')).toBe('application/json')
    expect(isCorsFree(new Headers(headers))).toBe(false)
  })
})

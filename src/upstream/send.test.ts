import { describe, expect, it } from 'vitest'
import { applySecurityHeaders, isSecured, SECURITY_HEADERS } from '../lib/security-headers'
import { clientResponseFields, clientResponseHeaders, isCorsFree } from './headers'
import { clientResponse, fetchOrigin, stripReservedRequestHeaders } from './send'

const TARGET = new URL('https://origin.test/api/items?page=2')

/** A fetch stand-in that records the request it was given and answers 204. */
function recorder() {
  const seen: Request[] = []
  const fetch = async (request: Request) => {
    seen.push(request)
    return new Response(null, { status: 204 })
  }
  return { seen, fetch }
}

describe('fetchOrigin', () => {
  it("sends the stripped caller headers and the signed identity, which replaces the previous attempt's", async () => {
    const { seen, fetch } = recorder()
    const headers = new Headers({
      accept: 'application/json',
      'accept-encoding': 'br',
      'keep-alive': 'timeout=5',
      'transfer-encoding': 'chunked',
      'x-gateway-user': 'forged',
      'X-Gateway-Extra': 'forged',
      'x-request-id': 'req-0123456789',
    })
    stripReservedRequestHeaders(headers)
    const init = { method: 'GET', headers, redirect: 'manual' } as const
    await fetchOrigin(TARGET, init, { 'x-gateway-timestamp': '1767225600', 'x-gateway-signature': 'v1=first' }, fetch)
    const res = await fetchOrigin(
      TARGET,
      init,
      { 'x-gateway-timestamp': '1767225601', 'x-gateway-signature': 'v1=sig' },
      fetch,
    )
    expect(res.status).toBe(204)
    const sent = seen[1]
    expect(sent?.url).toBe(TARGET.href)
    expect(sent?.method).toBe('GET')
    expect(Object.fromEntries(sent?.headers ?? [])).toEqual({
      accept: 'application/json',
      'x-gateway-signature': 'v1=sig',
      'x-gateway-timestamp': '1767225601',
      'x-request-id': 'req-0123456789',
    })
  })

  it('rejects, rather than throws, when the request cannot be built', async () => {
    const { fetch } = recorder()
    const sent = fetchOrigin(TARGET, { method: 'GET', body: 'not allowed on GET', headers: new Headers() }, {}, fetch)
    await expect(sent).rejects.toThrow(TypeError)
  })
})

const SECURITY = Object.fromEntries(SECURITY_HEADERS)

describe('clientResponse', () => {
  it("keeps status, status text and body; the security headers, then the origin's fields as clientResponseHeaders keeps them", async () => {
    const upstream = new Response('created', {
      status: 201,
      statusText: 'Made',
      headers: {
        'content-type': 'text/plain',
        connection: 'x-trace',
        'x-trace': 't',
        'keep-alive': 'timeout=5',
        server: 'origin/1.0',
        'x-powered-by': 'php',
        'access-control-allow-origin': '*',
        etag: '"1"',
      },
    })
    const expected = Object.fromEntries(clientResponseHeaders(upstream.headers))
    const res = clientResponse(upstream)
    expect([res.status, res.statusText]).toEqual([201, 'Made'])
    expect(Object.fromEntries(res.headers)).toEqual({ ...SECURITY, ...expected })
    expect(expected).toEqual({ 'content-type': 'text/plain', etag: '"1"' })
    expect(await res.text()).toBe('created')
  })

  it("replaces the origin's own security headers with the gateway's", () => {
    const upstream = new Response(null, {
      headers: {
        'X-Frame-Options': 'ALLOWALL',
        'content-security-policy': 'default-src *',
        'referrer-policy': 'unsafe-url',
      },
    })
    expect(Object.fromEntries(clientResponse(upstream).headers)).toEqual(SECURITY)
  })

  it('drops the Content-Encoding and Content-Length of a body the runtime already decoded', () => {
    const upstream = new Response('plain', {
      headers: { 'content-encoding': 'gzip', 'content-length': '25', 'content-type': 'text/plain' },
    })
    expect(Object.fromEntries(clientResponse(upstream).headers)).toEqual({ ...SECURITY, 'content-type': 'text/plain' })
  })

  it('keeps a Content-Length when there is no Content-Encoding', () => {
    const upstream = new Response('plain', { headers: { 'content-length': '5' } })
    expect(clientResponse(upstream).headers.get('content-length')).toBe('5')
  })
})

describe('clientResponseFields', () => {
  it('keeps each Set-Cookie as its own field, in the order the runtime iterates them', () => {
    const headers = new Headers({ server: 'x', 'x-powered-by': 'y', vary: 'Accept', 'access-control-max-age': '1' })
    headers.append('set-cookie', 'a=1')
    headers.append('set-cookie', '__Host-rt=stolen')
    headers.append('set-cookie', 'b=2')
    expect(clientResponseFields(headers)).toEqual([
      ['set-cookie', 'a=1'],
      ['set-cookie', 'b=2'],
      ['vary', 'Accept'],
    ])
  })

  it('drops a Set-Cookie the Connection header names, with the other Connection-listed fields', () => {
    const headers = new Headers({ connection: 'set-cookie, X-Trace', 'x-trace': '1', vary: 'Accept' })
    headers.append('set-cookie', 'a=1')
    expect(clientResponseFields(headers)).toEqual([['vary', 'Accept']])
  })
})

/** A small seeded generator, so a failing case can be replayed. */
function random(seed: number) {
  let state = seed
  return () => {
    state = (state * 1_103_515_245 + 12_345) % 2_147_483_648
    return state / 2_147_483_648
  }
}

// The security stage skips a proxied answer's headers: sound only while applying it would change nothing.
describe('what the security stage may skip', () => {
  const NAMES = [
    ...SECURITY_HEADERS.map(([name]) => name),
    'X-Frame-Options',
    'connection',
    'keep-alive',
    'transfer-encoding',
    'server',
    'x-powered-by',
    'access-control-allow-origin',
    'access-control-expose-headers',
    'set-cookie',
    'content-encoding',
    'content-length',
    'content-type',
    'etag',
    'vary',
    'cache-control',
    'x-trace',
  ]
  const VALUES = [
    '1',
    'x-trace',
    'etag, x-powered-by',
    'gzip',
    '__Host-rt=evil; Path=/',
    'a=1; Path=/',
    'default-src *',
  ]

  it('builds answers whose headers the stage would leave exactly as they are, for any origin headers', () => {
    const next = random(7)
    const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)] as T
    for (let run = 0; run < 300; run++) {
      const upstream = new Headers()
      for (let i = Math.floor(next() * 10); i > 0; i--) upstream.append(pick(NAMES), pick(VALUES))
      const res = clientResponse(new Response(null, { status: 200, headers: upstream }))
      expect(isSecured(res.headers), `run ${run}`).toBe(true)
      expect(isCorsFree(res.headers), `run ${run}`).toBe(true)
      const applied = new Headers(res.headers)
      expect(isSecured(applied)).toBe(false)
      applySecurityHeaders(applied)
      expect([...applied], `run ${run}: ${JSON.stringify([...upstream])}`).toEqual([...res.headers])
      const decoded = upstream.has('content-encoding') && clientResponseHeaders(upstream).has('content-encoding')
      const rest = [...clientResponseHeaders(upstream)].filter(
        ([name]) => !(name in SECURITY) && !(decoded && ['content-encoding', 'content-length'].includes(name)),
      )
      expect(
        [...res.headers].filter(([name]) => !(name in SECURITY)),
        `run ${run}`,
      ).toEqual(rest)
    }
  })
})

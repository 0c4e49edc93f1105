import { describe, expect, it } from 'vitest'
import { applySecurityHeaders, isSecured, SECURITY_HEADERS } from '../lib/security-headers'
import { clientResponseFields, isCorsFree } from './response-headers'
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
  it("keeps status, status text and body; the security headers, then the origin's fields as clientResponseFields keeps them", async () => {
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
    const expected = Object.fromEntries(new Headers(clientResponseFields(upstream.headers)))
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

// The security stage and the CORS stage skip a proxied answer's headers: sound only while each of these holds,
// checked against the origin's response directly, not against the functions that built the answer.
describe('a proxied answer, for any origin response', () => {
  const HOP_BY_HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']
  const LISTABLE = [
    'x-trace',
    'etag',
    'set-cookie',
    'content-length',
    'access-control-allow-origin',
    'x-frame-options',
    'cache-control',
  ]
  const NAMES = [
    ...SECURITY_HEADERS.map(([name]) => name),
    ...HOP_BY_HOP.filter((name) => name !== 'connection' && name !== 'transfer-encoding'),
    'proxy-authenticate',
    'server',
    'x-powered-by',
    'access-control-allow-origin',
    'access-control-allow-credentials',
    'access-control-expose-headers',
    'content-encoding',
    'content-length',
    'content-type',
    'etag',
    'vary',
    'link',
    'cache-control',
    'x-trace',
  ]
  const VALUES = ['1', 'gzip', 'weak', 'default-src *', 'x, y']
  /** Set-Cookie values, and whether the gateway must drop each (it would set the gateway cookie in a browser). */
  const COOKIES: [string, boolean][] = [
    ['a=1; Path=/', false],
    ['b=2, with comma; Expires=Wed, 21 Oct 2037 07:28:00 GMT', false],
    ['__Host-rt=evil; Path=/; Secure', true],
    ['__HOST-RT=evil; Path=/; Secure', true],
    ['=__Host-rt=evil; Path=/; Secure', true],
    ['__Host-rt-other=1', false],
  ]
  const STATUSES = [200, 201, 204, 206, 301, 302, 304, 404, 500, 503]
  const SECURITY_VALUES = new Map(SECURITY_HEADERS)

  it("carries the security headers, none of the origin's hop, CORS or gateway-cookie fields, and everything else", async () => {
    const next = random(7)
    const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)] as T
    const seen = new Set<string>()
    for (let run = 0; run < 500; run++) {
      const upstream = new Headers()
      for (let i = Math.floor(next() * 9); i > 0; i--) upstream.append(pick(NAMES), pick(VALUES))
      if (next() < 0.5) upstream.append('connection', [pick(LISTABLE), pick(LISTABLE)].join(', '))
      const cookies = COOKIES.filter(() => next() < 0.4)
      for (const [cookie] of cookies) upstream.append('set-cookie', cookie)
      const status = pick(STATUSES)
      const body = [204, 304].includes(status) ? null : `body ${run}`
      const origin = new Response(body, { status, statusText: `S${run}`, headers: upstream })
      // What the origin's response carries (a string body adds its Content-Type).
      const sent = origin.headers
      seen.add(JSON.stringify([...sent]))
      const label = `run ${run}: ${status} ${JSON.stringify([...sent])}`

      const res = clientResponse(origin)
      const names = [...res.headers.keys()]
      expect([res.status, res.statusText, await res.text()], label).toEqual([status, `S${run}`, body ?? ''])
      for (const [name, value] of SECURITY_HEADERS) expect(res.headers.get(name), label).toBe(value)
      const listed = new Set(
        (sent.get('connection') ?? '')
          .split(',')
          .map((name) => name.trim().toLowerCase())
          .filter(Boolean),
      )
      const gone = (name: string) =>
        HOP_BY_HOP.includes(name) ||
        ['proxy-authenticate', 'server', 'x-powered-by'].includes(name) ||
        name.startsWith('access-control-') ||
        // A listed security header is the origin's to drop, and the gateway's to set again.
        (listed.has(name) && !SECURITY_VALUES.has(name))
      expect(names.filter(gone), label).toEqual([])
      const decoded = sent.has('content-encoding') && !listed.has('content-encoding')
      expect(res.headers.getSetCookie(), label).toEqual(
        listed.has('set-cookie') ? [] : cookies.filter(([, dropped]) => !dropped).map(([cookie]) => cookie),
      )
      for (const name of new Set(sent.keys())) {
        if (gone(name) || SECURITY_VALUES.has(name) || name === 'set-cookie') continue
        const expected = decoded && (name === 'content-encoding' || name === 'content-length') ? null : sent.get(name)
        expect(res.headers.get(name), `${label}: ${name}`).toBe(expected)
      }
      expect(
        names.every((name) => sent.has(name) || SECURITY_VALUES.has(name)),
        label,
      ).toBe(true)

      // What lets the stages skip their own pass: the brands, and that applying the security stage changes nothing.
      expect([isSecured(res.headers), isCorsFree(res.headers)], label).toEqual([true, true])
      const applied = new Headers(res.headers)
      expect(isSecured(applied)).toBe(false)
      applySecurityHeaders(applied)
      expect([...applied], label).toEqual([...res.headers])
    }
    expect(seen.size).toBeGreaterThan(450)
  })
})

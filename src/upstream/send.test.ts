import { describe, expect, it } from 'vitest'
import { clientResponseHeaders, scrubResponseHeaders } from './headers'
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

describe('clientResponse', () => {
  it('keeps status, status text and body, and scrubs the headers like clientResponseHeaders', async () => {
    const upstream = new Response('created', {
      status: 201,
      statusText: 'Made',
      headers: {
        'content-type': 'text/plain',
        connection: 'x-trace',
        'x-trace': 't',
        'keep-alive': 'timeout=5',
        server: 'origin/1.0',
        'access-control-allow-origin': '*',
        etag: '"1"',
      },
    })
    const expected = Object.fromEntries(clientResponseHeaders(upstream.headers))
    const res = clientResponse(upstream)
    expect([res.status, res.statusText]).toEqual([201, 'Made'])
    expect(Object.fromEntries(res.headers)).toEqual(expected)
    expect(Object.fromEntries(res.headers)).toEqual({ 'content-type': 'text/plain', etag: '"1"' })
    expect(await res.text()).toBe('created')
  })

  it('drops the Content-Encoding and Content-Length of a body the runtime already decoded', () => {
    const upstream = new Response('plain', {
      headers: { 'content-encoding': 'gzip', 'content-length': '25', 'content-type': 'text/plain' },
    })
    expect(Object.fromEntries(clientResponse(upstream).headers)).toEqual({ 'content-type': 'text/plain' })
  })

  it('keeps a Content-Length when there is no Content-Encoding', () => {
    const upstream = new Response('plain', { headers: { 'content-length': '5' } })
    expect(clientResponse(upstream).headers.get('content-length')).toBe('5')
  })
})

describe('scrubResponseHeaders', () => {
  it('changes the headers in place, as clientResponseHeaders changes its copy', () => {
    const headers = new Headers({ server: 'x', 'x-powered-by': 'y', vary: 'Accept', 'access-control-max-age': '1' })
    headers.append('set-cookie', 'a=1')
    headers.append('set-cookie', '__Host-rt=stolen')
    const copy = clientResponseHeaders(headers)
    scrubResponseHeaders(headers)
    expect([...headers]).toEqual([...copy])
    expect(headers.getSetCookie()).toEqual(['a=1'])
  })

  it('drops a Set-Cookie the Connection header names, with the other Connection-listed fields', () => {
    const headers = new Headers({ connection: 'set-cookie', vary: 'Accept' })
    headers.append('set-cookie', 'a=1')
    scrubResponseHeaders(headers)
    expect(Object.fromEntries(headers)).toEqual({ vary: 'Accept' })
  })
})

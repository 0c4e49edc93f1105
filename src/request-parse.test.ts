import { type Context, Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import { clientIdentity } from './lib/client-identity'
import { requestClient, requestClientIp, requestHeader, requestHeaders, requestUrl } from './request-parse'

/** Runs `probe` as the handler of one request and returns what it returned. */
async function inHandler<T>(request: Request, probe: (c: Context) => T): Promise<T> {
  let result: T | undefined
  const app = new Hono()
  app.all('*', (c) => {
    result = probe(c)
    return c.body(null, 204)
  })
  expect((await app.fetch(request)).status).toBe(204)
  return result as T
}

describe('requestUrl', () => {
  it('parses the request URL on first use and hands back that same object afterwards', async () => {
    const seen = await inHandler(new Request('https://gw.test/a/b?x=1&y=2'), (c) => {
      const before = c.get('parsedUrl')
      const first = requestUrl(c)
      return { before, first, second: requestUrl(c) }
    })
    expect(seen.before).toBeUndefined()
    expect(seen.first.href).toBe('https://gw.test/a/b?x=1&y=2')
    expect(seen.first.pathname).toBe('/a/b')
    expect(seen.first.searchParams.get('y')).toBe('2')
    expect(seen.second).toBe(seen.first)
  })

  it('belongs to its request: another request gets its own URL', async () => {
    const a = await inHandler(new Request('https://gw.test/a'), requestUrl)
    const b = await inHandler(new Request('https://gw.test/b'), requestUrl)
    expect([a.pathname, b.pathname]).toEqual(['/a', '/b'])
  })
})

describe('requestClient', () => {
  it.each([
    ['203.0.113.7', 'ip4:203.0.113.7'],
    ['2001:db8:1:2::10', 'ip6:2001:0db8:0001:0002::/64'],
    [undefined, 'unknown'],
  ])('is clientIdentity of CF-Connecting-IP %s, parsed once', async (ip, key) => {
    const headers: Record<string, string> = ip === undefined ? {} : { 'cf-connecting-ip': ip }
    const seen = await inHandler(new Request('https://gw.test/', { headers }), (c) => {
      const before = c.get('parsedClient')
      const first = requestClient(c)
      return { before, first, second: requestClient(c) }
    })
    expect(seen.before).toBeUndefined()
    expect(seen.first).toEqual(clientIdentity(ip))
    expect(seen.first.key).toBe(key)
    expect(seen.second).toBe(seen.first)
  })
})

describe('requestHeader', () => {
  it("is c.req.header's value, from one Headers object asked of the runtime once", async () => {
    const request = new Request('https://gw.test/', { headers: { Origin: 'https://app.test', 'x-two': 'a' } })
    const seen = await inHandler(request, (c) => {
      const before = c.get('requestHeaders')
      const first = requestHeaders(c)
      return {
        before,
        origin: [requestHeader(c, 'origin'), c.req.header('origin')],
        upper: requestHeader(c, 'X-Two'),
        absent: requestHeader(c, 'referer'),
        same: requestHeaders(c) === first,
      }
    })
    expect(seen).toEqual({
      before: undefined,
      origin: ['https://app.test', 'https://app.test'],
      upper: 'a',
      absent: undefined,
      same: true,
    })
  })
})

describe('requestClientIp', () => {
  it.each(['2001:DB8::1', undefined])('is CF-Connecting-IP as sent (%j), read once', async (ip) => {
    const headers: Record<string, string> = ip === undefined ? {} : { 'cf-connecting-ip': ip }
    const seen = await inHandler(new Request('https://gw.test/', { headers }), (c) => [
      requestClientIp(c),
      requestClientIp(c),
      c.get('parsedClientIp'),
    ])
    expect(seen).toEqual([ip, ip, ip ?? null])
  })
})

/**
 * What a JSON body must be for the gateway to check it and vouch for it: the bytes the origin parses must be the
 * text the schema saw. A `charset` other than UTF-8 would let an origin that honours it (body-parser decodes any
 * `utf-*` it is told) read other fields out of the same bytes, and invalid UTF-8 was replaced before the check and
 * forwarded replaced. End to end through the worker and the real echo origin, whose log shows what it received.
 */
import { exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { testApp } from '../test-support/app'
import { received } from '../test-support/echo'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'
import { authHeader, mintTestToken } from '../test-support/tokens'

let logs: ReturnType<typeof captureLogs>
afterEach(() => logs?.restore())

const gw = (path: string, init: RequestInit) => exports.default.fetch(`https://gw.test${path}`, init)

async function writer() {
  const { token } = await mintTestToken({ sub: `user-${crypto.randomUUID()}`, scopes: ['items:write'] })
  return authHeader(token)
}

/** In UTF-7, `+ACI-` is a quote: this is `{"quantity":1,"name":"a","quantity":-5,"owner":"admin"}` to an origin reading UTF-7. */
const UTF7_SMUGGLE = '{"quantity":1,"name":"a+ACI-,+ACI-quantity+ACI-:-5,+ACI-owner+ACI-:+ACI-admin"}'

describe('a JSON body is UTF-8, and says so or says nothing', () => {
  it.each([
    'application/json; charset=utf-7',
    'application/json;charset=UTF-7',
    'application/json; charset="utf-7"',
    'application/json; charset=utf-16le',
    'application/json; charset=iso-8859-1',
    'application/json; charset=utf-8; charset=utf-7',
    'application/json; charset=utf-7; charset=utf-8',
    'application/json; charset=',
    'application/json; profile=x',
    'application/json;',
  ])('refuses %s on a schema route with 415, origin not reached', async (contentType) => {
    logs = captureLogs()
    const marker = crypto.randomUUID()
    const body = UTF7_SMUGGLE.replace('"a', `"${marker}`)
    const res = await gw('/api/items', {
      method: 'POST',
      headers: { ...(await writer()), 'content-type': contentType },
      body,
    })
    const text = await res.clone().text()
    await expectProblem(res, 415, 'unsupported_media_type')
    expect(text).not.toContain(marker)
    expect((await received('/api/items')).filter((r) => r.body?.includes(marker))).toEqual([])
    expect(logs.lines.join('\n')).not.toContain(marker)
  })

  it('refuses a list of types too (on this route, whose methods differ in policy, as a method override first)', async () => {
    const headers = { ...(await writer()), 'content-type': 'application/json; charset=utf-8, text/plain' }
    const res = await gw('/api/items', { method: 'POST', headers, body: '{"name":"x","quantity":1}' })
    await expectProblem(res, 400, 'method_override')
    const login = await gw('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json, text/plain' },
      body: '{"email":"a@example.com","password":"correct horse battery staple"}',
    })
    await expectProblem(login, 415, 'unsupported_media_type')
  })

  it.each([
    'application/json',
    'APPLICATION/JSON',
    'application/json; charset=utf-8',
    'application/json;charset=UTF-8',
    'application/json; charset="utf-8"',
    'application/json ; charset=utf8',
  ])('accepts %s and forwards the body as it came', async (contentType) => {
    const body = `{"name":"widget ${crypto.randomUUID()} é ✓","quantity":3}`
    const res = await gw('/api/items', {
      method: 'POST',
      headers: { ...(await writer()), 'content-type': contentType },
      body,
    })
    expect(res.status).toBe(200)
    const [seen] = (await received('/api/items')).filter((r) => r.body === body)
    expect(seen?.headers['content-type']).toBe(contentType)
  })

  it.each([
    ['a byte that is not UTF-8', [0xff]],
    ['an overlong encoding of a quote', [0xc0, 0xa2]],
    ['a lone surrogate, encoded', [0xed, 0xa0, 0x80]],
    ['a truncated sequence', [0xe2, 0x9c]],
  ])('refuses %s inside a string with 400 invalid_json, origin not reached', async (_, bytes) => {
    logs = captureLogs()
    const marker = crypto.randomUUID()
    const encoder = new TextEncoder()
    const body = new Uint8Array([
      ...encoder.encode(`{"name":"${marker}`),
      ...bytes,
      ...encoder.encode('","quantity":1}'),
    ])
    const headers = { ...(await writer()), 'content-type': 'application/json' }
    const res = await gw('/api/items', { method: 'POST', headers, body })
    await expectProblem(res, 400, 'invalid_json')
    expect((await received('/api/items')).filter((r) => r.body?.includes(marker))).toEqual([])
    expect(logs.events('input_validation_fail')).toMatchObject([{ errors: [{ pointer: '', code: 'invalid_utf8' }] }])
  })

  it("holds on the gateway's own routes too: a login in UTF-7 is a 415", async () => {
    const res = await gw('/auth/login', {
      method: 'POST',
      headers: { 'content-type': 'application/json; charset=utf-7' },
      body: '{"email":"a@example.com","password":"correct horse battery staple"}',
    })
    await expectProblem(res, 415, 'unsupported_media_type')
  })
})

describe('a body the client stops sending half-way', () => {
  /** A chunked body that fails after its first bytes, as a client that goes away does. */
  const failing = (first: string) =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(first))
      },
      async pull(controller) {
        await new Promise((resolve) => setTimeout(resolve, 5))
        controller.error(new Error('client went away'))
      },
    })

  it.each([
    ['a schema route', '/api/items', true],
    ['the login', '/auth/login', false],
    ['the registration', '/auth/register', false],
  ])('is a 400 bad_request on %s, not a server error, and reaches no origin', async (_, path, authenticated) => {
    logs = captureLogs()
    const marker = crypto.randomUUID()
    const headers = { ...(authenticated ? await writer() : {}), 'content-type': 'application/json' }
    // Straight into the app: across the worker's own fetch the runtime would end the failed body cleanly instead.
    const request = new Request(`https://gw.test${path}`, {
      method: 'POST',
      headers,
      body: failing(`{"name":"${marker}`),
      duplex: 'half',
    } as RequestInit)
    const res = await testApp().fetch(request)
    await expectProblem(res, 400, 'bad_request')
    expect((await received(path)).filter((r) => r.body?.includes(marker))).toEqual([])
    expect(logs.events('request_failed')).toEqual([])
  })
})

/**
 * Method overrides the frameworks read besides the plain `_method` form field and query parameter: where GET and POST
 * are open and DELETE needs a scope, a POST the origin turns into a DELETE would get DELETE done under POST's policy.
 * Rack reads `_method` from a POST without a Content-Type and from any multipart body, and splits a Content-Type on
 * commas; Laravel reads it from a JSON body's top level; PHP turns `.` and spaces in query names into `_`. End to end
 * through the app and the real echo origin, whose log shows whether it was reached.
 */
import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { compileRoutes } from '../routing/table'
import { testApp } from '../test-support/app'
import { testExecutionContext as ctx } from '../test-support/context'
import { received } from '../test-support/echo'
import { captureLogs } from '../test-support/logs'
import { expectProblem } from '../test-support/problem'
import { authHeader, mintTestToken } from '../test-support/tokens'

let logs: ReturnType<typeof captureLogs>
afterEach(() => logs?.restore())

async function gateway() {
  const app = testApp({
    routes: compileRoutes([
      { pattern: '/api/posts/:id', methods: ['GET', 'POST'], bodyLimitBytes: 4096 },
      { pattern: '/api/posts/:id', methods: ['DELETE'], scopes: ['moderator'] },
      { pattern: '/api/notes/:id' },
      // Only GET and POST: every other method is a 405, the strongest policy there is.
      { pattern: '/api/drafts/:id', methods: ['GET', 'POST'] },
      { pattern: '/api/big/:id', methods: ['GET', 'POST'], bodyLimitBytes: 8 * 1024 * 1024 },
      { pattern: '/api/big/:id', methods: ['DELETE'], scopes: ['moderator'] },
      { pattern: '/api/packed/:id', methods: ['POST'], decompress: { maxBytes: 64 * 1024 } },
      { pattern: '/api/packed/:id', methods: ['PUT'], scopes: ['moderator'] },
    ]),
  })
  const { token } = await mintTestToken({ sub: `user-${crypto.randomUUID()}` })
  const send = (path: string, init: RequestInit = {}) =>
    app.fetch(
      new Request(`https://gw.test${path}`, { ...init, headers: { ...authHeader(token), ...init.headers } }),
      env,
      ctx,
    )
  return { send, id: crypto.randomUUID() }
}

const multipart = '--XX\r\nContent-Disposition: form-data; name="_method"\r\n\r\nDELETE\r\n--XX--\r\n'

describe('method overrides behind a pattern whose methods differ in policy', () => {
  it.each([
    // Bytes, not a string: a string body would get `text/plain;charset=UTF-8` from the Request constructor.
    ['a POST body without a Content-Type (Rack reads it as a form)', {}, new TextEncoder().encode('_method=DELETE')],
    [
      'an empty Content-Type (Rack reads it as none)',
      { 'content-type': '' },
      new TextEncoder().encode('_method=DELETE'),
    ],
    ['a form type PHP cuts at a space', { 'content-type': 'application/x-www-form-urlencoded x' }, '_method=DELETE'],
    [
      'a form type with a tab',
      { 'content-type': 'application/x-www-form-urlencoded\tcharset=utf-8' },
      '_method=DELETE',
    ],
    [
      'a Content-Type listing a form type',
      { 'content-type': 'application/x-www-form-urlencoded, text/plain' },
      '_method=DELETE',
    ],
    [
      'a Content-Type listing a form type second',
      { 'content-type': 'text/plain,application/x-www-form-urlencoded' },
      '_method=DELETE',
    ],
    ['multipart/mixed', { 'content-type': 'multipart/mixed; boundary=XX' }, multipart],
    ['multipart/related', { 'content-type': 'Multipart/Related; boundary=XX' }, multipart],
    ['a JSON body naming _method (Laravel)', { 'content-type': 'application/json' }, '{"_method":"DELETE"}'],
    ['a JSON body naming _method in an escape', { 'content-type': 'application/json' }, '{"\\u005fmethod":"DELETE"}'],
    ['a +json body naming _method', { 'content-type': 'application/vnd.api+json' }, '{"a":1,"_method":"delete"}'],
    [
      'a JSON body naming _method twice',
      { 'content-type': 'application/json; charset=utf-8' },
      '{"_method":"GET","_method":"DELETE"}',
    ],
    // Koa's body parser reads CSP reports as JSON, and an origin may parse any type as JSON (`type: '*/*'`).
    ['a CSP report naming _method', { 'content-type': 'application/csp-report' }, '{"_method":"DELETE"}'],
    [
      'any type, when the body is a JSON object',
      { 'content-type': 'application/octet-stream' },
      '{"_method":"DELETE"}',
    ],
    ['a JSON object after a byte order mark', { 'content-type': 'application/json' }, '\ufeff {"_method":"DELETE"}'],
  ] as [string, Record<string, string>, BodyInit][])(
    'refuses %s with 400 method_override, origin not reached',
    async (_, headers, body) => {
      logs = captureLogs()
      const { send, id } = await gateway()
      const res = await send(`/api/posts/${id}`, { method: 'POST', headers, body })
      await expectProblem(res, 400, 'method_override')
      expect(await received(`/api/posts/${id}`)).toEqual([])
      expect(logs.events('input_validation_fail')).toHaveLength(1)
    },
  )

  it.each([
    ['application/json; charset=utf-7', '{"+AF8-method":"DELETE"}'],
    ['application/json; charset="UTF-16LE"', '{"_method":"DELETE"}'],
    ['text/plain; charset=iso-8859-1', '_method=DELETE'],
    ['application/json; charset=utf-8; charset=utf-7', '{"+AF8-method":"DELETE"}'],
  ])(
    'refuses a charset other than UTF-8 there (%s) with 415: a parser honouring it reads names the watch cannot see',
    async (contentType, body) => {
      logs = captureLogs()
      const { send, id } = await gateway()
      const res = await send(`/api/posts/${id}`, { method: 'POST', headers: { 'content-type': contentType }, body })
      await expectProblem(res, 415, 'unsupported_media_type')
      expect(await received(`/api/posts/${id}`)).toEqual([])
      expect(logs.events('input_validation_fail')).toMatchObject([{ reason: 'method_override_charset' }])
    },
  )

  it.each([
    '?.method=DELETE',
    '?%20_method=DELETE',
    '?_method[]=DELETE',
    '?_method%5Bx%5D=DELETE',
    '?a=1&_Method[=DELETE',
    '?_method%00=DELETE',
    '?_method%00x=DELETE',
  ])('refuses the query %s, which PHP reads as _method', async (query) => {
    logs = captureLogs()
    const { send, id } = await gateway()
    for (const method of ['GET', 'POST']) {
      await expectProblem(await send(`/api/posts/${id}${query}`, { method }), 400, 'method_override')
    }
    expect(await received(`/api/posts/${id}`)).toEqual([])
  })

  it('watches a JSON body as it streams: a name split across chunks, or late in a large body, is refused', async () => {
    const { send, id } = await gateway()
    const chunks = ['{"title":"x","_met', 'hod":"DELETE"}']
    const split = new ReadableStream<Uint8Array>({
      pull(controller) {
        const next = chunks.shift()
        if (next === undefined) return controller.close()
        controller.enqueue(new TextEncoder().encode(next))
      },
    })
    const json = { 'content-type': 'application/json' }
    const init = { method: 'POST', headers: json, body: split, duplex: 'half' } as RequestInit
    await expectProblem(await send(`/api/posts/${id}`, init), 400, 'method_override')
    // Not JSON, so no framework reads it; but a name is a name: refused all the same.
    await expectProblem(
      await send(`/api/posts/${id}`, { method: 'POST', headers: json, body: '{"_method":"DELETE",}' }),
      400,
      'method_override',
    )
    // Over the route's 4 KiB before the name: the limit decides first.
    const big = JSON.stringify({ text: 'x'.repeat(5000), _method: 'DELETE' })
    const stream = new Blob([big]).stream()
    const res = await send(`/api/posts/${id}`, {
      method: 'POST',
      headers: json,
      body: stream,
      duplex: 'half',
    } as RequestInit)
    await expectProblem(res, 413, 'payload_too_large')
    const late = `{"text":"${'y'.repeat(3 * 1024 * 1024)}","_method":"DELETE"}`
    const path = `/api/big/${id}`
    await expectProblem(
      await send(path, {
        method: 'POST',
        headers: json,
        body: new Blob([late]).stream(),
        duplex: 'half',
      } as RequestInit),
      400,
      'method_override',
    )
    expect(await received(`/api/posts/${id}`)).toEqual([])
    expect(await received(path)).toEqual([])
  })

  it('streams a large JSON POST there without buffering it, byte for byte', async () => {
    const { send, id } = await gateway()
    const body = `{"text":"${'z'.repeat(3 * 1024 * 1024)}","nested":{"_method":"DELETE"}}`
    const json = { 'content-type': 'application/json' }
    const res = await send(`/api/big/${id}`, {
      method: 'POST',
      headers: json,
      body: new Blob([body]).stream(),
      duplex: 'half',
    } as RequestInit)
    expect(res.status).toBe(200)
    const [seen] = await received(`/api/big/${id}`)
    // The echo logs a body this large by its size and digest only.
    expect(seen?.bodyBytes).toBe(body.length)
  })

  it('refuses overrides on a pattern that answers other methods 405', async () => {
    const { send, id } = await gateway()
    const form = { 'content-type': 'application/x-www-form-urlencoded' }
    await expectProblem(await send(`/api/drafts/${id}`, { method: 'DELETE' }), 405, 'method_not_allowed')
    await expectProblem(
      await send(`/api/drafts/${id}`, { method: 'POST', headers: form, body: '_method=DELETE' }),
      400,
      'method_override',
    )
    expect(await received(`/api/drafts/${id}`)).toEqual([])
  })

  it('watches the inflated body of a compressed JSON POST', async () => {
    const { send, id } = await gateway()
    const gzip = async (text: string) =>
      new Uint8Array(
        await new Response(new Blob([text]).stream().pipeThrough(new CompressionStream('gzip'))).arrayBuffer(),
      )
    const headers = { 'content-type': 'application/json', 'content-encoding': 'gzip' }
    await expectProblem(
      await send(`/api/packed/${id}`, { method: 'POST', headers, body: await gzip('{"_method":"PUT"}') }),
      400,
      'method_override',
    )
    expect(await received(`/api/packed/${id}`)).toEqual([])
    const res = await send(`/api/packed/${id}`, { method: 'POST', headers, body: await gzip('{"title":"x"}') })
    expect(res.status).toBe(200)
    expect((await received(`/api/packed/${id}`)).map((r) => r.body)).toEqual(['{"title":"x"}'])
  })

  it('forwards what no framework reads a method from, byte for byte', async () => {
    const { send, id } = await gateway()
    const bodies: [Record<string, string>, string][] = [
      [
        { 'content-type': 'application/json' },
        '{"title":"x","nested":{"_method":"DELETE"},"list":[{"_method":"DELETE"}]}',
      ],
      [{ 'content-type': 'application/json' }, '["_method","DELETE"]'],
      [{ 'content-type': 'application/json' }, '"_method"'],
      [{ 'content-type': 'application/json' }, ''],
      [{ 'content-type': 'application/jsonl' }, '{"a":1}\n{"b":2}\n'],
      [{ 'content-type': 'application/octet-stream' }, 'x{"_method":"DELETE"}'],
      [{ 'content-type': 'text/plain; charset=UTF-8' }, '1 {"_method":"DELETE"}'],
      [{ 'content-type': 'application/json' }, '{"a":"_method","b":{"_method":1},"c":"\\"_method\\""}'],
      [{ 'content-type': 'application/octet-stream' }, '_method=DELETE'],
      [{ 'content-type': 'text/plain' }, '_method=DELETE'],
    ]
    for (const [headers, body] of bodies) {
      expect((await send(`/api/posts/${id}`, { method: 'POST', headers, body })).status).toBe(200)
    }
    expect((await send(`/api/posts/${id}`, { method: 'POST' })).status).toBe(200)
    expect((await send(`/api/posts/${id}?method=x&a_method=y`)).status).toBe(200)
    const seen = await received(`/api/posts/${id}`)
    expect(seen.filter((r) => r.method === 'POST').map((r) => r.body)).toEqual([...bodies.map(([, b]) => b), ''])
  })

  it('leaves patterns whose methods share one policy alone', async () => {
    const { send, id } = await gateway()
    const res = await send(`/api/notes/${id}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"_method":"DELETE"}',
    })
    expect(res.status).toBe(200)
    expect((await received(`/api/notes/${id}`)).map((r) => r.body)).toEqual(['{"_method":"DELETE"}'])
  })
})

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
    '?.method=DELETE',
    '?%20_method=DELETE',
    '?_method[]=DELETE',
    '?_method%5Bx%5D=DELETE',
    '?a=1&_Method[=DELETE',
  ])('refuses the query %s, which PHP reads as _method', async (query) => {
    logs = captureLogs()
    const { send, id } = await gateway()
    for (const method of ['GET', 'POST']) {
      await expectProblem(await send(`/api/posts/${id}${query}`, { method }), 400, 'method_override')
    }
    expect(await received(`/api/posts/${id}`)).toEqual([])
  })

  it('refuses a JSON POST body that is not JSON there (400 invalid_json), and one over the limit (413)', async () => {
    const { send, id } = await gateway()
    const json = { 'content-type': 'application/json' }
    await expectProblem(
      await send(`/api/posts/${id}`, { method: 'POST', headers: json, body: '{"_method":"DELETE",}' }),
      400,
      'invalid_json',
    )
    const big = JSON.stringify({ text: 'x'.repeat(5000), _method: 'DELETE' })
    const stream = new Blob([big]).stream()
    const res = await send(`/api/posts/${id}`, {
      method: 'POST',
      headers: json,
      body: stream,
      duplex: 'half',
    } as RequestInit)
    await expectProblem(res, 413, 'payload_too_large')
    expect(await received(`/api/posts/${id}`)).toEqual([])
  })

  it('forwards what no framework reads a method from, byte for byte', async () => {
    const { send, id } = await gateway()
    const bodies: [Record<string, string>, string][] = [
      [
        { 'content-type': 'application/json' },
        '{"title":"x","nested":{"_method":"DELETE"},"list":[{"_method":"DELETE"}]}',
      ],
      [{ 'content-type': 'application/json' }, '["_method","DELETE"]'],
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

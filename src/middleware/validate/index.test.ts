import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import * as z from 'zod/mini'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { jsonBody } from '.'

const Body = z.strictObject({
  email: z.string(),
  password: z.string().check(z.minLength(8)),
  profile: z.optional(z.strictObject({ name: z.string() })),
})
const SECRET = 'hunter2-correct-horse'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

function gateway() {
  const app = testApp()
  const seen: unknown[] = []
  app.extend((app) =>
    app.post('/auth/validate-test', ...jsonBody(Body), (c) => {
      seen.push(c.req.valid('json'))
      return c.json({ ok: true })
    }),
  )
  const send = (body: BodyInit | null, headers: Record<string, string> = { 'content-type': 'application/json' }) =>
    app.fetch(new Request('https://gw.test/auth/validate-test', { method: 'POST', headers, body }), env, ctx)
  return { seen, send }
}

describe('jsonBody()', () => {
  it('passes a valid body to the handler, typed', async () => {
    const { seen, send } = gateway()
    const res = await send(JSON.stringify({ email: 'a@example.com', password: SECRET, profile: { name: 'A' } }))
    expect(res.status).toBe(200)
    expect(seen).toEqual([{ email: 'a@example.com', password: SECRET, profile: { name: 'A' } }])
  })

  it('accepts a charset parameter on the media type', async () => {
    const { send } = gateway()
    const res = await send(JSON.stringify({ email: 'a@example.com', password: SECRET }), {
      'content-type': 'application/json; charset=utf-8',
    })
    expect(res.status).toBe(200)
  })

  it.each([
    ['text/plain', { 'content-type': 'text/plain' }],
    ['form data', { 'content-type': 'application/x-www-form-urlencoded' }],
    ['no content type', {}],
    ['a json look-alike', { 'content-type': 'application/jsonp' }],
  ])('answers 415 for %s, without reading the body', async (_, headers) => {
    const { seen, send } = gateway()
    const res = await send(JSON.stringify({ email: 'a@example.com', password: SECRET }), headers)
    const text = await res.clone().text()
    await expectProblem(res, 415, 'unsupported_media_type')
    expect(seen).toEqual([])
    expect(text).not.toContain(SECRET)
  })

  it.each([
    ['truncated JSON', '{"email":"a@example.com","password":"hunter2-co'],
    ['a trailing comma', '{"email":"a@example.com",}'],
    ['an empty body', ''],
    ['single quotes', "{'email':'a'}"],
  ])('answers 400 invalid_json for %s', async (_, body) => {
    logs = captureLogs()
    const { seen, send } = gateway()
    const res = await send(body)
    const text = await res.clone().text()
    await expectProblem(res, 400, 'invalid_json')
    expect(seen).toEqual([])
    expect(text).not.toContain('hunter2')
    expect(logs.events('input_validation_fail')).toHaveLength(1)
  })

  it.each([
    [
      'an unknown top-level field',
      { email: 'a@x.io', password: SECRET, role: 'admin' },
      [{ pointer: '/role', code: 'unrecognized_keys' }],
    ],
    [
      'an unknown nested field',
      { email: 'a@x.io', password: SECRET, profile: { name: 'A', isAdmin: true } },
      [{ pointer: '/profile/isAdmin', code: 'unrecognized_keys' }],
    ],
    ['a wrong type', { email: 42, password: SECRET }, [{ pointer: '/email', code: 'invalid_type' }]],
    ['a missing field', { email: 'a@x.io' }, [{ pointer: '/password', code: 'invalid_type' }]],
    ['a too-short value', { email: 'a@x.io', password: 'short' }, [{ pointer: '/password', code: 'too_small' }]],
    ['an array instead of an object', [], [{ pointer: '', code: 'invalid_type' }]],
  ])('answers 400 validation_failed for %s, with pointers and codes and no values', async (_, body, errors) => {
    logs = captureLogs()
    const { seen, send } = gateway()
    const res = await send(JSON.stringify(body))
    const text = await res.clone().text()
    const problem = await expectProblem(res, 400, 'validation_failed')
    expect(problem.errors).toEqual(errors)
    expect(seen).toEqual([])
    expect(text).not.toContain(SECRET)
    expect(text).not.toContain('short')
    const [record] = logs.events('input_validation_fail')
    expect(record).toMatchObject({ level: 'info', errors, outcome: 'denied' })
    expect(logs.lines.join('\n')).not.toContain(SECRET)
  })

  it.each([
    [
      '__proto__',
      `{"email":"a@x.io","password":"${SECRET}","__proto__":{"isAdmin":true}}`,
      '/__proto__',
      'forbidden_key',
    ],
    [
      'constructor',
      `{"email":"a@x.io","password":"${SECRET}","constructor":{"prototype":{}}}`,
      '/constructor',
      'forbidden_key',
    ],
    ['a duplicate key', `{"email":"a@x.io","password":"x","password":"${SECRET}"}`, '/password', 'duplicate_key'],
  ])('refuses %s before the schema sees the body', async (_, body, pointer, code) => {
    const { seen, send } = gateway()
    const res = await send(body)
    const text = await res.clone().text()
    const problem = await expectProblem(res, 400, 'validation_failed')
    expect(problem.errors).toEqual([{ pointer, code }])
    expect(seen).toEqual([])
    expect(text).not.toContain(SECRET)
  })
})

describe('body limits', () => {
  it('answers 413 problem+json for an /auth body over the auth limit, before parsing', async () => {
    const { seen, send } = gateway()
    const big = JSON.stringify({ email: 'a@x.io', password: 'p'.repeat(9 * 1024) })
    const res = await send(big)
    await expectProblem(res, 413, 'payload_too_large')
    expect(seen).toEqual([])
  })

  it('counts a chunked body without Content-Length too', async () => {
    const { seen, send } = gateway()
    const chunk = new TextEncoder().encode('x'.repeat(1024))
    let sent = 0
    const stream = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ < 20) controller.enqueue(chunk)
        else controller.close()
      },
    })
    const res = await send(stream as unknown as BodyInit)
    await expectProblem(res, 413, 'payload_too_large')
    expect(seen).toEqual([])
    expect(sent).toBeLessThan(20) // reading stopped once the limit was passed
  })

  it('applies the global limit elsewhere', async () => {
    const app = testApp({
      extend: (app) => {
        app.post('/upload-test', async (c) => c.json({ bytes: (await c.req.arrayBuffer()).byteLength }))
      },
    })
    const ok = await app.fetch(
      new Request('https://gw.test/upload-test', { method: 'POST', body: 'x'.repeat(64 * 1024) }),
      env,
      ctx,
    )
    expect(await ok.json()).toEqual({ bytes: 64 * 1024 })
    const tooBig = await app.fetch(
      new Request('https://gw.test/upload-test', { method: 'POST', body: 'x'.repeat(1024 * 1024 + 1) }),
      env,
      ctx,
    )
    await expectProblem(tooBig, 413, 'payload_too_large')
  })
})

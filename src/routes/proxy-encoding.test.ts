/**
 * Compressed request bodies through the proxy, end to end against the echo origin: refused unless the route
 * inflates them, and then inflated as they stream, under the route's limit on inflated bytes.
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

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const INFLATED_LIMIT = 1024 * 1024
const app = testApp({
  routes: compileRoutes([
    { pattern: '/api/uploads/*', methods: ['POST'], decompress: { maxBytes: INFLATED_LIMIT } },
    { pattern: '/api/plain/*', methods: ['POST'] },
    { pattern: '/api/small/*', methods: ['POST'], bodyLimitBytes: 64 * 1024, decompress: { maxBytes: INFLATED_LIMIT } },
  ]),
})

async function compress(bytes: Uint8Array, format: 'gzip' | 'deflate'): Promise<Uint8Array> {
  const stream = new Blob([bytes]).stream().pipeThrough(new CompressionStream(format))
  return new Uint8Array(await new Response(stream).arrayBuffer())
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes)
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

async function post(path: string, body: Uint8Array, headers: Record<string, string>) {
  const { token } = await mintTestToken({ sub: `user-${crypto.randomUUID()}`, scopes: [] })
  return app.fetch(
    new Request(`https://gw.test${path}`, {
      method: 'POST',
      headers: { ...authHeader(token), 'content-type': 'application/octet-stream', ...headers },
      body,
    }),
    env,
    ctx,
  )
}

const unique = (prefix: string) => `${prefix}/${crypto.randomUUID()}`

/**
 * POSTs `bytes` to `path` chunked (16 KiB a pull, no Content-Length), with `coding`; `pulled()` is how much of
 * them the gateway read.
 */
async function postChunked(path: string, bytes: Uint8Array, coding: string) {
  let pulled = 0
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= bytes.byteLength) return controller.close()
      const chunk = bytes.subarray(pulled, pulled + 16 * 1024)
      pulled += chunk.byteLength
      controller.enqueue(chunk)
    },
  })
  const { token } = await mintTestToken({ sub: `user-${crypto.randomUUID()}`, scopes: [] })
  const response = await app.fetch(
    new Request(`https://gw.test${path}`, {
      method: 'POST',
      headers: { ...authHeader(token), 'content-type': 'application/octet-stream', 'content-encoding': coding },
      body,
      duplex: 'half',
    } as RequestInit),
    env,
    ctx,
  )
  return { response, pulled: () => pulled }
}

describe('proxy: compressed request bodies', () => {
  // 4 MiB of zeros compresses to about 4 KiB: a limit on compressed bytes would let it through.
  const bomb = new Uint8Array(4 * 1024 * 1024)

  it.each([
    ['gzip', 'gzip'],
    ['deflate', 'deflate'],
    ['x-gzip', 'gzip'],
    ['br', 'gzip'],
    ['gzip, gzip', 'gzip'],
  ] as const)(
    'refuses Content-Encoding: %s with 415 on a route that does not inflate; the origin is not reached',
    async (coding, format) => {
      logs = captureLogs()
      const path = unique('/api/plain')
      const body = await compress(bomb, format)
      expect(body.byteLength).toBeLessThan(16 * 1024)
      const res = await post(path, body, { 'content-encoding': coding })
      await expectProblem(res, 415, 'unsupported_content_encoding')
      expect(res.headers.get('accept-encoding')).toBe('identity')
      expect(await received(path)).toEqual([])
      expect(logs.events('input_validation_fail')).toMatchObject([{ reason: 'content_encoding' }])
    },
  )

  it('refuses a compressed body on the default route and on the gateway routes alike', async () => {
    const gzipped = await compress(new TextEncoder().encode('{"email":"a@b.c","password":"x"}'), 'gzip')
    const path = unique('/api/anything')
    await expectProblem(await post(path, gzipped, { 'content-encoding': 'gzip' }), 415, 'unsupported_content_encoding')
    expect(await received(path)).toEqual([])
    const login = await app.fetch(
      new Request('https://gw.test/auth/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'content-encoding': 'gzip' },
        body: gzipped,
      }),
      env,
      ctx,
    )
    await expectProblem(login, 415, 'unsupported_content_encoding')
  })

  it('lets Content-Encoding: identity and a header on a bodiless request through', async () => {
    const path = unique('/api/plain')
    expect((await post(path, new TextEncoder().encode('plain'), { 'content-encoding': 'identity' })).status).toBe(200)
    const [seen] = await received(path)
    expect(seen?.body).toBe('plain')
  })

  it.each(['gzip', 'deflate'] as const)(
    'inflates %s on an opted-in route and forwards the plain bytes',
    async (format) => {
      const plain = crypto.getRandomValues(new Uint8Array(48 * 1024))
      const path = unique('/api/uploads')
      const res = await post(path, await compress(plain, format), { 'content-encoding': format })
      expect(res.status).toBe(200)
      const [seen] = await received(path)
      expect(seen?.bodyBytes).toBe(plain.byteLength)
      expect(seen?.bodySha256).toBe(await sha256Hex(plain))
      expect(seen?.headers['content-encoding']).toBeUndefined()
    },
  )

  it('inflates a gzip body of several members (RFC 1952 §2.2) whole', async () => {
    const parts = [new TextEncoder().encode('first,'), new TextEncoder().encode('second')]
    const members = await Promise.all(parts.map((part) => compress(part, 'gzip')))
    const body = new Uint8Array(members.reduce((n, m) => n + m.byteLength, 0))
    body.set(members[0] as Uint8Array, 0)
    body.set(members[1] as Uint8Array, (members[0] as Uint8Array).byteLength)
    const path = unique('/api/uploads')
    expect((await post(path, body, { 'content-encoding': 'gzip' })).status).toBe(200)
    expect((await received(path))[0]?.body).toBe('first,second')
  })

  it('refuses a body that inflates past the limit with 413, and the origin never gets a request', async () => {
    const path = unique('/api/uploads')
    const res = await post(path, await compress(bomb, 'gzip'), { 'content-encoding': 'gzip' })
    await expectProblem(res, 413, 'payload_too_large')
    expect(await received(path)).toEqual([])
  })

  it('stops reading and inflating a bomb as soon as the inflated bytes pass the limit', async () => {
    // 1 GiB of zeros as 256 concatenated gzip members of 4 MiB each (a valid gzip stream, RFC 1952 §2.2):
    // about 1 MB on the wire, sent chunked, so no Content-Length caps it up front.
    const member = await compress(new Uint8Array(4 * 1024 * 1024), 'gzip')
    const gzipped = new Uint8Array(member.byteLength * 256)
    for (let i = 0; i < 256; i++) gzipped.set(member, i * member.byteLength)
    const path = unique('/api/uploads')
    const started = performance.now()
    const { response: res, pulled } = await postChunked(path, gzipped, 'gzip')
    await expectProblem(res, 413, 'payload_too_large')
    expect(performance.now() - started).toBeLessThan(500)
    // About 1 KiB of this gzip inflates to the 1 MiB limit: beyond one zlib chunk and the runtime's own
    // request-body buffering (about 64 KiB measured), the rest of the upload is never read.
    expect(pulled()).toBeLessThan(256 * 1024)
    expect(await received(path)).toEqual([])
  })

  it('counts the compressed bytes of a chunked upload against the route body limit: 413', async () => {
    // 200 KiB that gzip cannot shrink: it inflates to well under the route's 1 MiB, but the route takes 64 KiB.
    const noise = new Uint8Array(200 * 1024)
    for (let i = 0; i < noise.length; i += 65_536) crypto.getRandomValues(noise.subarray(i, i + 65_536))
    const path = unique('/api/small')
    const { response, pulled } = await postChunked(path, await compress(noise, 'gzip'), 'gzip')
    await expectProblem(response, 413, 'payload_too_large')
    expect(pulled()).toBeLessThan(192 * 1024)
    expect(await received(path)).toEqual([])
  })

  it.each([
    ['gzip', 'zeros', 0],
    ['deflate', 'zeros', 0],
    ['deflate', 'letters', 0x41],
  ] as const)(
    'refuses a chunked %s upload with %s after the compressed stream: 400, not a shorter body',
    async (format, _, fill) => {
      // zlib drops what follows the end of the stream: the origin would get "hello" for 2 MiB sent.
      const head = await compress(new TextEncoder().encode('hello'), format)
      const upload = new Uint8Array(head.byteLength + 2 * 1024 * 1024).fill(fill)
      upload.set(head)
      const path = unique('/api/small')
      const { response, pulled } = await postChunked(path, upload, format)
      await expectProblem(response, 400, 'invalid_compressed_body')
      expect(pulled()).toBeLessThan(256 * 1024)
      expect(await received(path)).toEqual([])
    },
  )

  it('forwards a whole compressed stream sent chunked, inflated', async () => {
    const text = `hello ${crypto.randomUUID()}`
    const gz = await compress(new TextEncoder().encode(text), 'gzip')
    const path = unique('/api/small')
    const { response } = await postChunked(path, gz, 'gzip')
    expect(response.status).toBe(200)
    expect((await received(path)).map((r) => r.body)).toEqual([text])
  })

  it('answers a corrupt compressed body with 400, not 502, and the origin never gets a request', async () => {
    const path = unique('/api/uploads')
    const good = await compress(new Uint8Array(64 * 1024).fill(7), 'gzip')
    const corrupt = good.slice()
    corrupt.fill(0xff, 20, 40)
    const res = await post(path, corrupt, { 'content-encoding': 'gzip' })
    await expectProblem(res, 400, 'invalid_compressed_body')
    expect(await received(path)).toEqual([])
  })

  it('refuses a coding it cannot inflate on an opted-in route, naming the ones it can', async () => {
    const path = unique('/api/uploads')
    const res = await post(path, new Uint8Array(10), { 'content-encoding': 'br' })
    await expectProblem(res, 415, 'unsupported_content_encoding')
    expect(res.headers.get('accept-encoding')).toBe('gzip, deflate, identity')
    expect(await received(path)).toEqual([])
  })
})

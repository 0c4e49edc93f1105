import { createHash, randomBytes } from 'node:crypto'
import http from 'node:http'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { type EchoRecord, type EchoUpstream, startEchoUpstream } from './echo-upstream.ts'

let echo: EchoUpstream

beforeAll(async () => {
  echo = await startEchoUpstream()
})
afterAll(async () => {
  await echo.close()
})
beforeEach(async () => {
  await fetch(`${echo.url}/__echo/log/reset`, { method: 'POST' })
})

const echoed = async (res: Response) => (await res.json()) as EchoRecord

describe('echo upstream', () => {
  it('listens on a free 127.0.0.1 port', () => {
    expect(echo.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
  })

  it('echoes method, path with query, headers and a utf-8 body as JSON', async () => {
    const res = await fetch(`${echo.url}/api/items?x=1&y=%20`, {
      method: 'PATCH',
      headers: { 'x-test': 'yes', 'content-type': 'text/plain' },
      body: 'héllo',
    })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('application/json')
    const body = await echoed(res)
    expect(body).toMatchObject({
      method: 'PATCH',
      path: '/api/items?x=1&y=%20',
      body: 'héllo',
      bodyEncoding: 'utf8',
      bodyBytes: 6,
      bodySha256: createHash('sha256').update('héllo').digest('hex'),
    })
    expect(body.headers['x-test']).toBe('yes')
    expect(body.rawHeaders).toContainEqual(['x-test', 'yes'])
  })

  it('returns bodies that are not valid utf-8 as base64', async () => {
    const bytes = Buffer.from([0xff, 0xfe, 0x00, 0x41])
    const body = await echoed(await fetch(`${echo.url}/bin`, { method: 'POST', body: bytes }))
    expect(body).toMatchObject({ bodyEncoding: 'base64', body: bytes.toString('base64'), bodyBytes: 4 })
  })

  it('reads a 20 MiB body streamed in chunks', async () => {
    const bytes = randomBytes(20 * 1024 * 1024)
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let i = 0; i < bytes.length; i += 1024 * 1024) controller.enqueue(bytes.subarray(i, i + 1024 * 1024))
        controller.close()
      },
    })
    const res = await fetch(`${echo.url}/upload`, { method: 'PUT', body: stream, duplex: 'half' } as RequestInit)
    const body = await echoed(res)
    expect(body.bodyBytes).toBe(bytes.length)
    expect(body.bodySha256).toBe(createHash('sha256').update(bytes).digest('hex'))
    expect(body.headers['transfer-encoding']).toBe('chunked')
    // The log keeps the metadata but drops big bodies.
    expect(echo.requests()[0]).toMatchObject({ bodyBytes: bytes.length, body: '', bodyOmitted: true })
  })

  it('answers /__echo/status/:code with that status and the echo body', async () => {
    const res = await fetch(`${echo.url}/__echo/status/503?why=test`)
    expect(res.status).toBe(503)
    expect((await echoed(res)).path).toBe('/__echo/status/503?why=test')
    const noContent = await fetch(`${echo.url}/__echo/status/204`)
    expect(noContent.status).toBe(204)
    expect(await noContent.text()).toBe('')
    expect((await fetch(`${echo.url}/__echo/status/099`)).status).toBe(400)
  })

  it('waits on /__echo/slow/:ms before answering', async () => {
    const t0 = performance.now()
    const res = await fetch(`${echo.url}/__echo/slow/250`)
    expect(res.status).toBe(200)
    expect(performance.now() - t0).toBeGreaterThanOrEqual(240)
  })

  it('adds Set-Cookie, Server and X-Powered-By on /__echo/set-cookie', async () => {
    const res = await fetch(`${echo.url}/__echo/set-cookie`)
    expect(res.headers.getSetCookie()).toHaveLength(2)
    expect(res.headers.get('server')).toMatch(/echo-upstream/)
    expect(res.headers.get('x-powered-by')).toBe('echo-upstream')
  })

  it('logs requests (not the log endpoints) and resets the log', async () => {
    await fetch(`${echo.url}/one`)
    await fetch(`${echo.url}/two`, { method: 'DELETE' })
    const log = (await (await fetch(`${echo.url}/__echo/log`)).json()) as EchoRecord[]
    expect(log.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /one', 'DELETE /two'])
    expect(echo.requests()).toEqual(log)
    const reset = await fetch(`${echo.url}/__echo/log/reset`, { method: 'POST' })
    expect(reset.status).toBe(200)
    expect(echo.requests()).toEqual([])
  })

  it('keeps only the last logLimit requests', async () => {
    const small = await startEchoUpstream({ logLimit: 3 })
    try {
      for (let i = 1; i <= 5; i++) await fetch(`${small.url}/r${i}`)
      expect(small.requests().map((r) => r.path)).toEqual(['/r3', '/r4', '/r5'])
    } finally {
      await small.close()
    }
  })

  it('closes promptly with an idle keep-alive connection open', async () => {
    const other = await startEchoUpstream()
    const agent = new http.Agent({ keepAlive: true })
    await new Promise<void>((resolve, reject) => {
      http.get(`${other.url}/keep`, { agent }, (res) => res.resume().on('end', resolve)).on('error', reject)
    })
    const t0 = performance.now()
    await other.close()
    expect(performance.now() - t0).toBeLessThan(1000)
    agent.destroy()
  })
})

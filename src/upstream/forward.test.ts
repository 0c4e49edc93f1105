import { describe, expect, it, vi } from 'vitest'
import { GatewayError } from '../errors/gateway-error'
import { type CircuitBreaker, type CircuitBreakerOptions, createCircuitBreaker } from '../lib/breaker'
import { ECHO_URL, type Echo, received } from '../test-support/echo'
import { createForwarder, type Fetcher, type ForwardOptions, type ForwardRequest } from './forward'
import { upstreamRequestHeaders } from './headers'
import { signIdentity } from './signature'
import { verifyGatewayRequest } from './verify-origin'

declare module 'vitest' {
  // Provided by test/global-setup.ts (outside this tsconfig's include, so repeated here).
  interface ProvidedContext {
    upstreamUrl: string
    thirdPartyUrl: string
  }
}

const UPSTREAM = ECHO_URL
const SECRET = 'forward-test-signing-secret-0123456789abcdef'

const unique = (prefix = '/t') => `${prefix}/${crypto.randomUUID()}`

/** How many requests the echo upstream logged for this path (query included). */
async function echoCount(pathAndQuery: string): Promise<number> {
  return (await received(pathAndQuery)).filter((r) => r.path === pathAndQuery).length
}

function setup(
  overrides: Partial<ForwardOptions> = {},
  breakerOptions: CircuitBreakerOptions = { failureThreshold: 3, cooldownMs: 1_000 },
) {
  const clock = { now: 1_000_000 }
  const breaker = createCircuitBreaker(breakerOptions)
  const keys: string[] = []
  const forward = createForwarder({
    baseUrl: UPSTREAM,
    breakerFor: (key) => {
      keys.push(key)
      return breaker
    },
    retryBaseDelayMs: 0,
    nowMs: () => clock.now,
    ...overrides,
  })
  return { forward, breaker, clock, keys }
}

function request(pathAndQuery: string, init: Partial<ForwardRequest> = {}): ForwardRequest {
  return { method: 'GET', pathAndQuery, headers: new Headers(), ...init }
}

async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!(error instanceof GatewayError)) throw new Error(`expected a GatewayError, got ${String(error)}`)
  return error
}

/** A stub service binding: answers from `script` in order and counts calls. */
function stubFetcher(...script: (() => Response | Promise<Response>)[]) {
  const requests: Request[] = []
  const fetcher: Fetcher = {
    async fetch(req) {
      requests.push(req)
      const next = script[Math.min(requests.length - 1, script.length - 1)]
      if (next === undefined) throw new Error('No mock found')
      return next()
    },
  }
  return { fetcher, requests }
}
const refuse = () => {
  throw new TypeError('Network connection lost.')
}

/** `count` chunks of `size` deterministic bytes, produced on demand (pull), never held all at once. */
function byteStream(count: number, size: number): ReadableStream<Uint8Array> {
  let i = 0
  return new ReadableStream<Uint8Array>({
    pull(controller) {
      if (i === count) return controller.close()
      controller.enqueue(new Uint8Array(size).fill(i++ % 251))
    },
  })
}

async function sha256Hex(stream: ReadableStream<Uint8Array>): Promise<string> {
  const bytes = new Uint8Array(await new Response(stream).arrayBuffer())
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes))
  return [...digest].map((b) => b.toString(16).padStart(2, '0')).join('')
}

describe('forward: to the echo upstream', () => {
  it('forwards method, path, query and headers, and the origin can verify the signed identity', async () => {
    const { forward } = setup()
    const path = `${unique('/api/items')}?page=2&q=a%20b`
    const headers = upstreamRequestHeaders(
      new Headers({ authorization: 'Bearer client-token', 'x-gateway-user': 'forged', accept: 'application/json' }),
      { clientIp: '203.0.113.7', proto: 'https', host: 'gw.example.com', requestId: 'req-0123456789' },
    )
    const res = await forward(
      request(path, {
        headers,
        sign: (target) =>
          signIdentity(SECRET, {
            ...target,
            requestId: 'req-0123456789',
            user: 'user-1',
            scopes: ['read'],
            session: 's1',
          }),
      }),
    )
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.method).toBe('GET')
    expect(echo.path).toBe(path)
    expect(echo.headers).toMatchObject({
      accept: 'application/json',
      'x-forwarded-for': '203.0.113.7',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'gw.example.com',
      'x-request-id': 'req-0123456789',
      'x-gateway-user': 'user-1',
    })
    expect(echo.headers.authorization).toBeUndefined()
    const verified = await verifyGatewayRequest(
      { method: echo.method, url: echo.path, headers: echo.headers },
      { secrets: [SECRET] },
    )
    expect(verified).toEqual({
      ok: true,
      user: 'user-1',
      scopes: ['read'],
      session: 's1',
      requestId: 'req-0123456789',
      timestamp: expect.any(Number),
    })
  })

  it('strips x-gateway-* the caller left in, even without a signer', async () => {
    const { forward } = setup()
    const res = await forward(
      request(unique(), { headers: new Headers({ 'X-Gateway-User': 'forged', 'x-keep': '1' }) }),
    )
    const echo = (await res.json()) as Echo
    expect(Object.keys(echo.headers).filter((h) => h.startsWith('x-gateway-'))).toEqual([])
    expect(echo.headers['x-keep']).toBe('1')
  })

  it('appends the path to a base URL path, and signs the path as the origin receives it', async () => {
    const { forward } = setup({ baseUrl: `${UPSTREAM}/base/` })
    const path = unique('/x')
    const signedPaths: string[] = []
    const res = await forward(
      request(`${path}?y=1`, {
        sign: async (target) => {
          signedPaths.push(target.pathAndQuery)
          return {}
        },
      }),
    )
    expect(((await res.json()) as Echo).path).toBe(`/base${path}?y=1`)
    expect(signedPaths).toEqual([`/base${path}?y=1`])
  })

  it('streams a large body intact, without Content-Length (chunked), within its limit', async () => {
    const { forward } = setup()
    const chunks = 128
    const size = 64 * 1024 // 8 MiB in all
    const res = await forward(
      request(unique(), {
        method: 'POST',
        headers: new Headers({ 'content-type': 'application/octet-stream' }),
        body: byteStream(chunks, size),
        maxBodyBytes: chunks * size,
      }),
    )
    expect(res.status).toBe(200)
    const echo = (await res.json()) as Echo
    expect(echo.bodyBytes).toBe(chunks * size)
    expect(echo.bodySha256).toBe(await sha256Hex(byteStream(chunks, size)))
    expect(echo.headers['transfer-encoding']).toBe('chunked')
  })

  it('refuses a streamed body one byte over the limit with 413, and the origin never answers it', async () => {
    const { forward, breaker } = setup()
    const path = unique()
    const error = await rejection(
      forward(request(path, { method: 'PUT', body: byteStream(16, 1024), maxBodyBytes: 16 * 1024 - 1 })),
    )
    expect(error).toMatchObject({ code: 'payload_too_large', status: 413 })
    expect(error.options.internal).toMatchObject({ reason: 'proxy_body_too_large', source: 'stream' })
    expect(await echoCount(path)).toBe(0)
    expect(breaker.state()).toBe('closed')
  })

  it('answers 400 when the client body fails mid-stream, and the origin never gets a complete request', async () => {
    const { forward, breaker } = setup()
    const path = unique()
    let sent = 0
    const failing = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent++ === 4) return controller.error(new TypeError('client went away'))
        controller.enqueue(new Uint8Array(1024))
      },
    })
    const error = await rejection(forward(request(path, { method: 'PUT', body: failing, maxBodyBytes: 1 << 20 })))
    expect(error).toMatchObject({ code: 'bad_request', status: 400 })
    expect(error.options.internal).toMatchObject({ reason: 'proxy_body_unreadable' })
    expect(await echoCount(path)).toBe(0)
    expect(breaker.state()).toBe('closed')
  })

  it('refuses a declared Content-Length over the limit before calling the origin', async () => {
    const { fetcher, requests } = stubFetcher(() => new Response('never'))
    const { forward } = setup({ fetcher })
    const error = await rejection(
      forward(
        request('/upload', {
          method: 'POST',
          headers: new Headers({ 'content-length': '1025' }),
          body: byteStream(1, 1025),
          maxBodyBytes: 1024,
        }),
      ),
    )
    expect(error).toMatchObject({ code: 'payload_too_large', status: 413 })
    expect(requests).toHaveLength(0)
  })

  it('refuses a string body over the limit', async () => {
    const { fetcher, requests } = stubFetcher(() => new Response('never'))
    const { forward } = setup({ fetcher })
    const error = await rejection(forward(request('/x', { method: 'POST', body: 'ééé', maxBodyBytes: 5 })))
    expect(error.code).toBe('payload_too_large')
    expect(requests).toHaveLength(0)
  })

  it.each([400, 401, 404, 418, 429, 500])('passes an upstream %i through unchanged, called once', async (status) => {
    const { forward, breaker } = setup()
    const path = unique(`/__echo/status/${status}`)
    const res = await forward(request(path))
    expect(res.status).toBe(status)
    expect(((await res.json()) as Echo).path).toBe(path)
    expect(await echoCount(path)).toBe(1)
    expect(breaker.state()).toBe('closed')
  })

  it.each([502, 503])('retries a GET once on upstream %i, then passes the last answer through', async (status) => {
    const { forward } = setup()
    const path = unique(`/__echo/status/${status}`)
    const res = await forward(request(path))
    expect(res.status).toBe(status)
    expect(res.headers.get('content-type')).toBe('application/json')
    expect(((await res.json()) as Echo).path).toBe(path)
    expect(await echoCount(path)).toBe(2)
  })

  it.each(['POST', 'PUT', 'DELETE', 'PATCH'])('never retries a %s on upstream 503', async (method) => {
    const { forward } = setup()
    const path = unique('/__echo/status/503')
    const res = await forward(request(path, { method, body: method === 'DELETE' ? null : '{}' }))
    expect(res.status).toBe(503)
    expect(await echoCount(path)).toBe(1)
  })

  it('does not retry an upstream 504, and counts it as the live answer it is', async () => {
    const { forward, breaker } = setup({}, { failureThreshold: 1, cooldownMs: 1_000 })
    const path = unique('/__echo/status/504')
    expect((await forward(request(path))).status).toBe(504)
    expect(await echoCount(path)).toBe(1)
    expect(breaker.state()).toBe('closed')
  })

  it.each(['600', '999'])(
    'answers a status no Response may carry (%s) with 502, once, as the live answer it is',
    async (status) => {
      const { forward, breaker } = setup({}, { failureThreshold: 1, cooldownMs: 1_000 })
      const path = unique(`/__echo/status/${status}`)
      const error = await rejection(forward(request(path)))
      expect(error).toMatchObject({ code: 'bad_gateway', status: 502 })
      expect(error.options.internal).toMatchObject({ reason: 'upstream_invalid_status', status: Number(status) })
      // Not retried, and no breaker failure: the origin answered.
      expect(await echoCount(path)).toBe(1)
      expect(breaker.state()).toBe('closed')
      expect((await forward(request(unique('/ok')))).status).toBe(200)
    },
  )

  it('answers 504 upstream_timeout when the head is late, without retrying the GET', async () => {
    const { forward, breaker } = setup({ timeoutMs: 300 })
    const path = unique('/__echo/slow/3000')
    const started = performance.now()
    const error = await rejection(forward(request(path)))
    expect(performance.now() - started).toBeLessThan(2_500)
    expect(error).toMatchObject({ code: 'upstream_timeout', status: 504 })
    expect(error.options.internal).toMatchObject({ reason: 'upstream_timeout', timeout_ms: 300 })
    expect(await echoCount(path)).toBe(1)
    expect(breaker.state()).toBe('closed') // one failure of three
  })

  it('never passes an answer that arrives after the timeout fired, even from a fetch that ignored the abort', async () => {
    // A wrapper around the global fetch (instrumentation, say) that drops the signal: the origin's late answer
    // arrives after the timer has aborted, its body already dead. It is a timeout, not a 200 with a cut body.
    const real = globalThis.fetch
    const spy = vi.spyOn(globalThis, 'fetch').mockImplementation((input, init) => {
      const { signal: _dropped, ...rest } = init ?? {}
      return real(input, rest)
    })
    try {
      const { forward, breaker } = setup({ timeoutMs: 100 }, { failureThreshold: 1, cooldownMs: 1_000 })
      const error = await rejection(forward(request(unique('/__echo/slow/600'))))
      expect(error).toMatchObject({ code: 'upstream_timeout', status: 504 })
      expect(breaker.state()).toBe('open')
    } finally {
      spy.mockRestore()
    }
  })

  it('answers an upstream that is slow but within the timeout', async () => {
    const { forward } = setup({ timeoutMs: 2_000 })
    const res = await forward(request(unique('/__echo/slow/100')))
    expect(res.status).toBe(200)
  })

  it('strips Server, X-Powered-By and upstream CORS headers, and keeps each Set-Cookie', async () => {
    const { forward } = setup()
    const res = await forward(request(unique('/__echo/set-cookie')))
    expect(res.headers.get('server')).toBeNull()
    expect(res.headers.get('x-powered-by')).toBeNull()
    expect(res.headers.getSetCookie()).toEqual([
      'echo_session=echo-session-value; Path=/; HttpOnly; SameSite=Lax',
      'echo_pref=dark; Path=/',
    ])
  })

  it('answers 502 bad_gateway when nothing listens (closed port)', async () => {
    const { forward } = setup({ baseUrl: 'http://127.0.0.1:1' })
    const error = await rejection(forward(request('/x')))
    expect(error).toMatchObject({ code: 'bad_gateway', status: 502 })
    expect(error.options.internal).toMatchObject({ reason: 'upstream_connection_failed', attempt: 2 })
  })
})

describe('forward: redirects', () => {
  it('asks a service binding not to follow, and returns its 3xx with the Location unchanged', async () => {
    const location = 'https://elsewhere.example/steal?x=1'
    const { fetcher, requests } = stubFetcher(() => new Response('moved', { status: 302, headers: { location } }))
    const { forward } = setup({ fetcher })
    const res = await forward(request('/r'))
    expect(requests.map((r) => r.redirect)).toEqual(['manual'])
    expect(res.status).toBe(302)
    expect(res.headers.get('location')).toBe(location)
    expect(await res.text()).toBe('moved')
  })
})

describe('forward: retries and timeouts (stub service binding)', () => {
  it('sends the request to the service binding with the target URL, headers and streamed body', async () => {
    const { fetcher, requests } = stubFetcher(() => new Response('ok'))
    const { forward } = setup({ fetcher, baseUrl: 'https://origin.internal/v1' })
    await forward(
      request('/items?x=1', {
        method: 'POST',
        headers: new Headers({ 'content-type': 'text/plain' }),
        body: byteStream(2, 3),
      }),
    )
    const [sent] = requests
    expect(sent?.url).toBe('https://origin.internal/v1/items?x=1')
    expect(sent?.method).toBe('POST')
    expect(sent?.headers.get('content-type')).toBe('text/plain')
    expect(new Uint8Array(await (sent as Request).arrayBuffer())).toEqual(new Uint8Array([0, 0, 0, 1, 1, 1]))
  })

  it('retries a GET once after a connection error and returns the second answer', async () => {
    const { fetcher, requests } = stubFetcher(refuse, () => new Response('second', { status: 200 }))
    const { forward } = setup({ fetcher })
    const res = await forward(request('/x'))
    expect(await res.text()).toBe('second')
    expect(requests).toHaveLength(2)
  })

  it('retries HEAD like GET', async () => {
    const { fetcher, requests } = stubFetcher(refuse, () => new Response(null, { status: 204 }))
    const { forward } = setup({ fetcher })
    expect((await forward(request('/x', { method: 'HEAD' }))).status).toBe(204)
    expect(requests).toHaveLength(2)
  })

  it('gives up after one retry: 502 bad_gateway, two calls', async () => {
    const { fetcher, requests } = stubFetcher(refuse)
    const { forward } = setup({ fetcher })
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'bad_gateway', status: 502 })
    expect(requests).toHaveLength(2)
  })

  it('never retries a POST after a connection error', async () => {
    const { fetcher, requests } = stubFetcher(refuse, () => new Response('second'))
    const { forward } = setup({ fetcher })
    expect(await rejection(forward(request('/x', { method: 'POST', body: 'x' })))).toMatchObject({
      code: 'bad_gateway',
    })
    expect(requests).toHaveLength(1)
  })

  it('discards the failed response body before retrying, and re-signs the retry', async () => {
    let cancelled = false
    const failedBody = new ReadableStream({
      pull: (c) => c.enqueue(new TextEncoder().encode('x')),
      cancel: () => {
        cancelled = true
      },
    })
    const { fetcher, requests } = stubFetcher(
      () => new Response(failedBody, { status: 503 }),
      () => new Response('fine'),
    )
    let signatures = 0
    const { forward } = setup({ fetcher })
    const res = await forward(
      request('/x', {
        sign: async () => ({ 'x-gateway-signature': `v1=${++signatures}` }),
      }),
    )
    expect(await res.text()).toBe('fine')
    expect(cancelled).toBe(true)
    expect(requests.map((r) => r.headers.get('x-gateway-signature'))).toEqual(['v1=1', 'v1=2'])
  })

  it('waits base/2 + random()·base/2 before the retry', async () => {
    const { fetcher } = stubFetcher(refuse, () => new Response('ok'))
    const { forward } = setup({ fetcher, retryBaseDelayMs: 400, random: () => 1 })
    const started = performance.now()
    await forward(request('/x'))
    expect(performance.now() - started).toBeGreaterThanOrEqual(390)
  })

  it('does not cut off a body that streams for longer than the timeout', async () => {
    const encoder = new TextEncoder()
    // Like a real fetch, the body dies if the request's signal aborts after the head has arrived.
    const slowAnswer = (req: Request) =>
      new Response(
        new ReadableStream<Uint8Array>({
          async start(controller) {
            req.signal.addEventListener('abort', () => controller.error(new Error('aborted mid-body')))
            controller.enqueue(encoder.encode('first,'))
            await new Promise((r) => setTimeout(r, 250))
            if (req.signal.aborted) return
            controller.enqueue(encoder.encode('second'))
            controller.close()
          },
        }),
      )
    const requests: Request[] = []
    const fetcher: Fetcher = {
      fetch: async (req) => {
        requests.push(req)
        return slowAnswer(req)
      },
    }
    const { forward } = setup({ fetcher, timeoutMs: 100 })
    const res = await forward(request('/download'))
    expect(await res.text()).toBe('first,second')
    expect(requests[0]?.signal.aborted).toBe(false)
  })

  it('times out a service binding that never answers, once', async () => {
    const { fetcher, requests } = stubFetcher(() => new Promise<Response>(() => {}))
    const { forward } = setup({ fetcher, timeoutMs: 50 })
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'upstream_timeout', status: 504 })
    expect(requests).toHaveLength(1)
  })
})

describe('forward: circuit breaker', () => {
  async function openBreaker(forward: (r: ForwardRequest) => Promise<Response>, breaker: CircuitBreaker) {
    for (let i = 0; i < 2; i++) await rejection(forward(request('/x', { method: 'POST', body: 'x' })))
    expect(breaker.state()).toBe('open')
  }

  it('opens after consecutive failures and then fails fast with 503 and Retry-After, without calling', async () => {
    const { fetcher, requests } = stubFetcher(refuse)
    const { forward, breaker } = setup(
      { fetcher, openRetryAfterSeconds: 7 },
      { failureThreshold: 2, cooldownMs: 1_000 },
    )
    await openBreaker(forward, breaker)
    expect(requests).toHaveLength(2)
    const error = await rejection(forward(request('/x')))
    expect(error).toMatchObject({ code: 'upstream_unavailable', status: 503 })
    expect(error.options.retryAfterSeconds).toBe(7)
    expect(requests).toHaveLength(2)
  })

  it('counts only connection failures and timeouts; any answer, 5xx included, keeps it closed', async () => {
    const statuses = [503, 500, 504, 502, 503, 502]
    const { fetcher } = stubFetcher(...statuses.map((s) => () => new Response(null, { status: s })))
    const { forward, breaker } = setup({ fetcher }, { failureThreshold: 1, cooldownMs: 1_000 })
    for (const status of statuses) {
      expect((await forward(request('/x', { method: 'POST', body: 'x' }))).status).toBe(status)
    }
    expect(breaker.state()).toBe('closed')
    const timeouts = setup(
      { fetcher: stubFetcher(() => new Promise<Response>(() => {})).fetcher, timeoutMs: 20 },
      { failureThreshold: 2, cooldownMs: 1_000 },
    )
    for (let i = 0; i < 2; i++) await rejection(timeouts.forward(request('/x')))
    expect(timeouts.breaker.state()).toBe('open')
  })

  it('reports a retried request once: two refused attempts are one failure', async () => {
    const { fetcher, requests } = stubFetcher(refuse)
    const { forward, breaker } = setup({ fetcher }, { failureThreshold: 2, cooldownMs: 1_000 })
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'bad_gateway' })
    expect(requests).toHaveLength(2)
    expect(breaker.state()).toBe('closed')
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'bad_gateway' })
    expect(breaker.state()).toBe('open')
  })

  it('does not retry once other requests opened the breaker meanwhile', async () => {
    let fail: (e: Error) => void = () => {}
    const { fetcher, requests } = stubFetcher(
      () => new Promise<Response>((_, reject) => (fail = reject)),
      refuse,
      () => new Response('never'),
    )
    const { forward, breaker } = setup({ fetcher }, { failureThreshold: 1, cooldownMs: 1_000 })
    const slow = forward(request('/x'))
    await new Promise((r) => setTimeout(r, 0))
    await rejection(forward(request('/y', { method: 'POST', body: 'x' }))) // opens it
    expect(breaker.state()).toBe('open')
    fail(new TypeError('Network connection lost.'))
    expect(await rejection(slow)).toMatchObject({ code: 'bad_gateway' })
    expect(requests).toHaveLength(2)
  })

  it('passes repeated 503s from one path through and never opens: no client controls the breaker', async () => {
    const { fetcher, requests } = stubFetcher(() => new Response('origin says 503', { status: 503 }))
    const { forward, breaker } = setup({ fetcher }, { failureThreshold: 1, cooldownMs: 1_000 })
    for (let i = 0; i < 20; i++) {
      const res = await forward(request('/x', { client: 'attacker' }))
      expect(res.status).toBe(503)
      expect(await res.text()).toBe('origin says 503')
    }
    expect(requests).toHaveLength(40) // each GET retried once, as before; none of it counted
    expect(breaker.state()).toBe('closed')
  })

  it('needs timeouts from minSources distinct clients before it opens', async () => {
    const { fetcher } = stubFetcher(() => new Promise<Response>(() => {}))
    const { forward, breaker } = setup(
      { fetcher, timeoutMs: 10 },
      { failureThreshold: 2, cooldownMs: 1_000, minSources: 2 },
    )
    for (let i = 0; i < 5; i++) await rejection(forward(request('/slow', { client: 'attacker' })))
    expect(breaker.state()).toBe('closed')
    await rejection(forward(request('/slow', { client: '198.51.100.0/24' })))
    expect(breaker.state()).toBe('open')
  })

  it('keeps one breaker per origin host and breaker group', async () => {
    const { forward, keys } = setup({ fetcher: stubFetcher(() => new Response('ok')).fetcher })
    await forward(request('/a'))
    await forward(request('/b'))
    await forward(request('/c', { breakerGroup: 'reports' }))
    await forward(request('/d', { breakerGroup: 'reports' }))
    const host = new URL(UPSTREAM).host
    expect(keys).toEqual([host, `${host}#reports`])
  })

  it('lets exactly one probe through after the cooldown; its success closes the breaker', async () => {
    let release: (r: Response) => void = () => {}
    const { fetcher, requests } = stubFetcher(refuse, refuse, () => new Promise<Response>((r) => (release = r)))
    const { forward, breaker, clock } = setup({ fetcher }, { failureThreshold: 2, cooldownMs: 1_000 })
    await openBreaker(forward, breaker)
    clock.now += 999
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'upstream_unavailable' })
    clock.now += 1
    const probe = forward(request('/x'))
    await Promise.resolve()
    expect(breaker.state()).toBe('half-open')
    // A second request while the probe is out fails fast.
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'upstream_unavailable' })
    await new Promise((r) => setTimeout(r, 0))
    release(new Response('probe ok'))
    expect(await (await probe).text()).toBe('probe ok')
    expect(breaker.state()).toBe('closed')
    expect(requests).toHaveLength(3)
  })

  it('re-opens when the probe fails, without retrying it', async () => {
    const { fetcher, requests } = stubFetcher(refuse)
    const { forward, breaker, clock } = setup({ fetcher }, { failureThreshold: 2, cooldownMs: 1_000 })
    await openBreaker(forward, breaker)
    clock.now += 1_000
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'bad_gateway' })
    expect(requests).toHaveLength(3) // the GET probe was not retried: the breaker re-opened
    expect(breaker.state()).toBe('open')
    expect(await rejection(forward(request('/x')))).toMatchObject({ code: 'upstream_unavailable' })
  })
})

describe('createForwarder', () => {
  const breakerFor = () => createCircuitBreaker({ failureThreshold: 1, cooldownMs: 1 })
  it.each([
    ['not a URL', { baseUrl: 'origin.internal' }],
    ['ftp', { baseUrl: 'ftp://origin.internal' }],
    ['a query', { baseUrl: 'https://origin.internal/?a=1' }],
    ['credentials', { baseUrl: 'https://user:pw@origin.internal' }],
    ['a zero timeout', { baseUrl: 'https://origin.internal', timeoutMs: 0 }],
  ])('refuses %s at factory time', (_name, options) => {
    expect(() => createForwarder({ breakerFor, ...options })).toThrow(TypeError)
  })

  it('refuses a protocol-relative path (caller mistake)', async () => {
    const forward = createForwarder({ baseUrl: 'https://origin.internal', breakerFor })
    await expect(forward(request('//evil.test/x'))).rejects.toThrow(TypeError)
  })
})

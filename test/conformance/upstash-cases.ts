// The Upstash REST behaviours the real @upstash clients rely on, checked against scripts/upstash-local.ts, so
// the local server cannot drift from Upstash unnoticed. Written once and run by both the Node and the workerd
// test projects, hence runtime-neutral (fetch, Web Crypto and vitest only). Cases are numbered here, so a failure
// names the same case in both projects.
import { Ratelimit } from '@upstash/ratelimit'
import type { Redis } from '@upstash/redis'
import { afterEach, describe, expect, it, vi } from 'vitest'

export type ConformanceFaultMode = 'none' | 'refuse' | 'hang' | 'error500' | 'slow'

export interface ConformanceControl {
  /** `prefix` is one path segment (e.g. '/lane-1'); the fault then only hits clients whose URL has it. */
  setFault(mode: ConformanceFaultMode, durationMs?: number, prefix?: string): Promise<void>
  stats(prefix?: string): Promise<{ requests: number; commands: number }>
  resetStats(prefix?: string): Promise<void>
  /** Empties Redis's script cache, as a Redis restart would (clients may not send SCRIPT FLUSH themselves). */
  flushScripts(): Promise<void>
}

/** The client options the cases vary; both the node and the cloudflare entry accept them. */
export interface ClientOptions {
  url?: string
  token?: string
  responseEncoding?: false | 'base64'
  enableAutoPipelining?: boolean
  retry?: false | { retries?: number; backoff?: (retryCount: number) => number }
}

export interface ConformanceContext {
  url: string
  token: string
  /** A client with default options (base64, auto-pipelining) unless `options` says otherwise. */
  makeRedis(options?: ClientOptions): Redis
  control: ConformanceControl
}

/** Drives the server's `/__control/*` endpoints (needs `faultControl: true`). */
export function httpControl(url: string, token: string): ConformanceControl {
  const call = async (method: string, path: string, prefix?: string, body?: unknown) => {
    const query = prefix === undefined ? '' : `?prefix=${encodeURIComponent(prefix)}`
    const res = await realFetch(`${url}/__control/${path}${query}`, {
      method,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await res.text()
    if (!res.ok) throw new Error(`control ${method} ${path} answered ${res.status}: ${text}`)
    return JSON.parse(text) as { requests: number; commands: number }
  }
  return {
    setFault: async (mode, durationMs, prefix) =>
      void (await call('POST', 'fault', undefined, { mode, durationMs, prefix })),
    stats: (prefix) => call('GET', 'stats', prefix),
    resetStats: async (prefix) => void (await call('POST', 'stats/reset', prefix)),
    flushScripts: async () => void (await call('POST', 'scripts/flush')),
  }
}

// @upstash/ratelimit 2.2.0's slidingWindow limit script, verbatim (its SHA-1 is checked in case 14).
export const SLIDING_WINDOW_SCRIPT = `#!lua flags=allow-key-locking
  local currentKey  = KEYS[1]           -- identifier including prefixes
  local previousKey = KEYS[2]           -- key of the previous bucket
  local dynamicLimitKey = KEYS[3]       -- optional: key for dynamic limit in redis
  local tokens      = tonumber(ARGV[1]) -- default tokens per window
  local now         = ARGV[2]           -- current timestamp in milliseconds
  local window      = ARGV[3]           -- interval in milliseconds
  local incrementBy = tonumber(ARGV[4]) -- increment rate per request at a given value, default is 1

  -- Check for dynamic limit
  local effectiveLimit = tokens
  if dynamicLimitKey and dynamicLimitKey ~= "" then
    local dynamicLimit = redis.call("GET", dynamicLimitKey)
    if dynamicLimit then
      effectiveLimit = tonumber(dynamicLimit)
    end
  end

  local requestsInCurrentWindow = redis.call("GET", currentKey)
  if requestsInCurrentWindow == false then
    requestsInCurrentWindow = 0
  end

  local requestsInPreviousWindow = redis.call("GET", previousKey)
  if requestsInPreviousWindow == false then
    requestsInPreviousWindow = 0
  end
  local percentageInCurrent = ( now % window ) / window
  -- weighted requests to consider from the previous window
  requestsInPreviousWindow = math.floor(( 1 - percentageInCurrent ) * requestsInPreviousWindow)

  -- Only check limit if not refunding (negative rate)
  if incrementBy > 0 and requestsInPreviousWindow + requestsInCurrentWindow >= effectiveLimit then
    return {-1, effectiveLimit}
  end

  local newValue = redis.call("INCRBY", currentKey, incrementBy)
  if newValue == incrementBy then
    -- The first time this key is set, the value will be equal to incrementBy.
    -- So we only need the expire command once
    redis.call("PEXPIRE", currentKey, window * 2 + 1000) -- Enough time to overlap with a new window + 1 second
  end
  return {effectiveLimit - ( newValue + requestsInPreviousWindow ), effectiveLimit}
`
export const SLIDING_WINDOW_SHA = '74740bb3d7792848093cdef586b6b6037c455fd6'
const NOSCRIPT_MESSAGE = 'NOSCRIPT No matching script. Please use EVAL.'
const HOUR_MS = 3_600_000

// Captured at import, so control calls and raw requests bypass any fetch spy a test installs.
const originalFetch = globalThis.fetch
const realFetch: typeof fetch = (input, init) => originalFetch.call(globalThis, input, init)

interface RecordedRequest {
  path: string
  headers: Headers
  body: unknown
  status?: number
  responseText?: string
}

/** Records every request the clients make (always POST) and passes it on; `stop()` removes the spy. */
function recordRequests() {
  const requests: RecordedRequest[] = []
  const spy = vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
    const entry: RecordedRequest = {
      path: new URL(String(input)).pathname,
      headers: new Headers(init?.headers),
      body: typeof init?.body === 'string' ? JSON.parse(init.body) : undefined,
    }
    requests.push(entry)
    const res = await realFetch(input, init)
    entry.status = res.status
    entry.responseText = await res.clone().text()
    return res
  })
  return { requests, stop: () => spy.mockRestore() }
}

/** The commands of a recorded request, whether it was a single command or a pipeline. */
function commandsOf(request: RecordedRequest | undefined): unknown[][] {
  const body = Array.isArray(request?.body) ? request.body : []
  return Array.isArray(body[0]) ? (body as unknown[][]) : [body]
}

function commandNames(requests: RecordedRequest[]): unknown[] {
  return requests.map((request) => commandsOf(request)[0]?.[0])
}

function unique(label: string): string {
  return `conformance:${label}:${crypto.randomUUID()}`
}

function lanePrefix(): string {
  return `/lane-${crypto.randomUUID()}`
}

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/**
 * Registers the numbered conformance cases as vitest blocks. `getContext` is read inside each test, after the caller's
 * beforeAll.
 * @example upstashConformanceSuite(() => ({ url, token, makeRedis: (o) => new Redis({ url, token, ...o }), control }))
 */
export function upstashConformanceSuite(getContext: () => ConformanceContext): void {
  const ctx = () => getContext()
  const redis = (options?: ClientOptions) => ctx().makeRedis(options)

  async function raw(path: string, body: string, headers: Record<string, string> = {}) {
    const res = await realFetch(`${ctx().url}${path}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ctx().token}`, 'content-type': 'application/json', ...headers },
      body,
    })
    const text = await res.text()
    return { status: res.status, headers: res.headers, text, json: JSON.parse(text) as unknown }
  }

  describe('upstash REST conformance', () => {
    afterEach(() => {
      vi.restoreAllMocks()
    })

    it('case 1: ping() returns "PONG" (simple strings are base64-encoded)', async () => {
      expect(await redis().ping()).toBe('PONG')
      expect(await redis().ping(['héllo'])).toBe('héllo')
      expect(await redis({ enableAutoPipelining: false }).ping()).toBe('PONG')
      const res = await raw('/', '["ping"]', { 'upstash-encoding': 'base64' })
      expect(res.json).toEqual({ result: btoa('PONG') })
    })

    it('case 2: a status reply inside an array comes back as ["OK","PONG"]', async () => {
      const script = "return {redis.call('SET',KEYS[1],'v'), redis.status_reply('PONG')}"
      expect(await redis().eval(script, [unique('c2')], [])).toEqual(['OK', 'PONG'])
      const res = await raw('/pipeline', JSON.stringify([['eval', script, 1, unique('c2')]]), {
        'upstash-encoding': 'base64',
      })
      expect(res.json).toEqual([{ result: [btoa('OK'), btoa('PONG')] }])
    })

    it('case 3: a nested Lua array with false/nil/int/string keeps its shape', async () => {
      const script = "return {1,'OK',false,{2,'x'}}"
      expect(await redis().eval(script, [], [])).toEqual([1, 'OK', null, [2, 'x']])
      const res = await raw('/', JSON.stringify(['eval', script, 0]), { 'upstash-encoding': 'base64' })
      expect(res.json).toEqual({ result: [1, 'T0s=', null, [2, 'eA==']] })
    })

    it('case 4: SET NX EX twice gives "OK" then null; EXISTS counts; GET of a missing key is null', async () => {
      const key = unique('c4')
      const client = redis()
      expect(await client.set(key, 'revoked', { nx: true, ex: 60 })).toBe('OK')
      expect(await client.set(key, 'revoked', { nx: true, ex: 60 })).toBeNull()
      expect(await client.exists(key, unique('c4-missing'))).toBe(1)
      expect(await client.get(unique('c4-missing'))).toBeNull()
      const ttl = await client.ttl(key)
      expect(ttl).toBeGreaterThan(0)
      expect(ttl).toBeLessThanOrEqual(60)
    })

    it('case 4: raw HTTP GET of a missing key has a "result" key set to null', async () => {
      for (const encoding of [{}, { 'upstash-encoding': 'base64' }] as Record<string, string>[]) {
        const res = await raw('/', JSON.stringify(['get', unique('c4-raw')]), encoding)
        expect(res.status).toBe(200)
        expect(res.text).toMatch(/"result":null/)
        expect(res.json).toEqual({ result: null })
      }
    })

    it('case 5: UTF-8, numeric-looking strings and JSON values round-trip', async () => {
      const client = redis()
      const [utf8, digits, json] = [unique('c5-utf8'), unique('c5-digits'), unique('c5-json')]
      await client.set(utf8, 'héllo 🚀')
      await client.set(digits, '0123')
      await client.set(json, { a: 1 })
      expect(await client.get(utf8)).toBe('héllo 🚀')
      expect(await client.get(digits)).toBe('0123')
      expect(await client.get(json)).toEqual({ a: 1 })
      const res = await raw('/', JSON.stringify(['get', utf8]))
      expect(res.json).toEqual({ result: 'héllo 🚀' })
    })

    it('case 6: numbers, booleans and null arguments are converted as documented', async () => {
      const client = redis()
      const plain = redis({ enableAutoPipelining: false })
      const [num, bool, undef, nul] = [unique('c6-n'), unique('c6-b'), unique('c6-u'), unique('c6-null')]
      await client.set(num, 5)
      await client.set(bool, true)
      await client.set(undef, undefined)
      await client.set(nul, null)
      expect(await client.get(num)).toBe(5)
      expect(await client.get(bool)).toBe(true)
      expect(await client.strlen(undef)).toBe(0)
      expect(await client.exists(undef)).toBe(1)
      expect(await client.get(nul)).toBeNull()
      expect(await client.exists(nul)).toBe(1)
      const stored = await raw('/pipeline', JSON.stringify([num, bool, undef, nul].map((k) => ['get', k])))
      expect(stored.json).toEqual([{ result: '5' }, { result: 'true' }, { result: '' }, { result: 'null' }])
      const rawArgs = unique('c6-raw')
      await raw('/', JSON.stringify(['set', rawArgs, false]))
      expect((await raw('/', JSON.stringify(['get', rawArgs]))).json).toEqual({ result: 'false' })
      await raw('/', JSON.stringify(['set', rawArgs, null]))
      expect((await raw('/', JSON.stringify(['strlen', rawArgs]))).json).toEqual({ result: 0 })
      await raw('/', JSON.stringify(['set', rawArgs, 12.5, 'ex', 60]))
      expect(await plain.get(rawArgs)).toBe(12.5)
    })

    it('case 7: a single-command Redis error is HTTP 400 {"error"} and the client error carries the text', async () => {
      const key = unique('c7')
      const res = await raw('/', JSON.stringify(['set', key, 'not-a-number']))
      expect(res.status).toBe(200)
      const failed = await raw('/', JSON.stringify(['incr', key]))
      expect(failed.status).toBe(400)
      expect(failed.json).toEqual({ error: 'ERR value is not an integer or out of range' })
      await expect(redis({ enableAutoPipelining: false }).incr(key)).rejects.toThrow(
        /ERR value is not an integer or out of range, command was: \["incr"/,
      )
      await expect(redis().incr(key)).rejects.toThrow(/ERR value is not an integer or out of range/)
    })

    it('case 8: a pipeline whose middle command fails is 200 with a per-item error', async () => {
      const key = unique('c8')
      const body = JSON.stringify([
        ['set', key, 'v'],
        ['incr', key],
        ['get', key],
      ])
      const res = await raw('/pipeline', body, { 'upstash-encoding': 'base64' })
      expect(res.status).toBe(200)
      expect(res.json).toEqual([
        { result: btoa('OK') },
        { error: 'ERR value is not an integer or out of range' },
        { result: btoa('v') },
      ])
      const kept = await redis().pipeline().set(key, 'w').incr(key).get(key).exec({ keepErrors: true })
      expect(kept).toEqual([
        { result: 'OK', error: undefined },
        { result: undefined, error: 'ERR value is not an integer or out of range' },
        { result: 'w', error: undefined },
      ])
      await expect(redis().pipeline().set(key, 'w').incr(key).get(key).exec()).rejects.toThrow(
        /Command 2 \[ incr \] failed/,
      )
    })

    it('case 9: multi() with a runtime error answers 200 with a per-item error', async () => {
      const key = unique('c9')
      const results = await redis().multi().set(key, 'a').incr(key).get(key).exec({ keepErrors: true })
      expect(results).toEqual([
        { result: 'OK', error: undefined },
        { result: undefined, error: 'ERR value is not an integer or out of range' },
        { result: 'a', error: undefined },
      ])
    })

    it('case 9: multi() with a queue-time error is a non-2xx EXECABORT and applies nothing', async () => {
      const key = unique('c9-abort')
      await expect(redis().multi().set(key, 'x').expire(key, 0).exec()).rejects.toThrow(/^EXECABORT/)
      expect(await redis().exists(key)).toBe(0)
      const res = await raw(
        '/multi-exec',
        JSON.stringify([
          ['set', key, 'x'],
          ['expire', key],
        ]),
      )
      expect(res.status).toBe(400)
      expect(res.json).toEqual({ error: 'EXECABORT Transaction discarded because of previous errors.' })
      expect(await redis().exists(key)).toBe(0)
    })

    for (const path of ['/', '/pipeline', '/multi-exec']) {
      it(`case 10: missing, wrong and empty bearer tokens get 401 JSON on ${path}`, async () => {
        const body = path === '/' ? '["ping"]' : '[["ping"]]'
        const attempts: Record<string, string>[] = [
          {},
          { authorization: 'Bearer wrong-token' },
          { authorization: 'Bearer ' },
        ]
        for (const headers of attempts) {
          const res = await realFetch(`${ctx().url}${path}`, { method: 'POST', headers, body })
          expect(res.status).toBe(401)
          expect(res.headers.get('content-type')).toMatch(/^application\/json/)
          expect(await res.json()).toEqual({ error: expect.any(String) })
        }
      })
    }

    it('case 10: a client with the wrong token is rejected with an UpstashError', async () => {
      await expect(redis({ token: 'wrong-token' }).get(unique('c10'))).rejects.toThrow(/WRONGPASS|auth/i)
    })

    const malformed: [string, string, string][] = [
      ['/', 'not JSON', '{not json'],
      ['/', 'an empty body', ''],
      ['/', 'a JSON object', '{"a":1}'],
      ['/', 'an empty array', '[]'],
      ['/', 'a nested array argument', '["get",["k"]]'],
      ['/', 'an object argument', '["get",{"k":1}]'],
      ['/pipeline', 'not JSON', '[["ping"]'],
      ['/pipeline', 'a JSON object', '{"a":1}'],
      ['/pipeline', 'an empty array', '[]'],
      ['/pipeline', 'an empty command', '[[]]'],
      ['/pipeline', 'a nested object argument', '[["get",{"k":1}]]'],
      ['/multi-exec', 'a JSON object', '{"a":1}'],
      ['/multi-exec', 'an empty array', '[]'],
      ['/multi-exec', 'a nested array argument', '[["set","k",["v"]]]'],
    ]
    for (const [path, what, body] of malformed) {
      it(`case 11: ${what} on ${path} gets 400 JSON`, async () => {
        const res = await raw(path, body)
        expect(res.status).toBe(400)
        expect(res.headers.get('content-type')).toMatch(/^application\/json/)
        expect(res.json).toEqual({ error: expect.stringMatching(/^ERR /) })
      })
    }

    it('case 12: evalsha of an unknown SHA fails with the exact uppercase NOSCRIPT error', async () => {
      const sha = (await sha1Hex(unique('c12'))).toUpperCase()
      await expect(redis().evalsha(sha, [], [])).rejects.toThrow(/NOSCRIPT/)
      await expect(redis({ enableAutoPipelining: false }).evalsha(sha, [], [])).rejects.toThrow(/NOSCRIPT/)
      const single = await raw('/', JSON.stringify(['evalsha', sha, 0]))
      expect(single.status).toBe(400)
      expect(single.json).toEqual({ error: NOSCRIPT_MESSAGE })
      const piped = await raw('/pipeline', JSON.stringify([['evalsha', sha, 0]]))
      expect(piped.json).toEqual([{ error: NOSCRIPT_MESSAGE }])
    })

    it('case 13: an allow-key-locking script goes evalsha → NOSCRIPT → eval, then evalsha only', async () => {
      const key = unique('c13-script')
      const script = redis().createScript<number>(
        `#!lua flags=allow-key-locking\n-- ${crypto.randomUUID()}\nreturn redis.call('INCR', KEYS[1])`,
      )
      {
        const rec = recordRequests()
        expect(await script.exec([key], [])).toBe(1)
        expect(commandNames(rec.requests)).toEqual(['evalsha', 'eval'])
        expect(rec.requests[0]?.responseText).toContain('NOSCRIPT')
        rec.stop()
      }
      {
        const rec = recordRequests()
        expect(await script.exec([key], [])).toBe(2)
        expect(commandNames(rec.requests)).toEqual(['evalsha'])
      }
    })

    it('case 13: ratelimit scripts work first time, then by evalsha alone, and after SCRIPT FLUSH', async () => {
      const limiter = new Ratelimit({
        redis: redis(),
        limiter: Ratelimit.slidingWindow(5, '1 h'),
        prefix: unique('c13-rl'),
        ephemeralCache: false,
      })
      {
        const rec = recordRequests()
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 4 })
        const [first, ...rest] = rec.requests
        expect(commandNames(rec.requests.slice(0, 1))).toEqual(['evalsha'])
        // A server that already saw the script (another test file) answers at once; otherwise NOSCRIPT → eval.
        if (first?.responseText?.includes('NOSCRIPT')) {
          expect(commandNames(rest)).toEqual(['eval'])
          expect(String(commandsOf(rest[0])[0]?.[1])).toMatch(/^#!lua flags=allow-key-locking/)
        } else expect(rest).toEqual([])
        rec.stop()
      }
      {
        const rec = recordRequests()
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 3 })
        expect(rec.requests).toHaveLength(1)
        expect(rec.requests[0]?.body).toEqual([
          ['evalsha', SLIDING_WINDOW_SHA, 2, expect.any(String), expect.any(String), 5, expect.any(Number), HOUR_MS, 1],
        ])
        expect(rec.requests[0]?.responseText).not.toContain('error')
        rec.stop()
      }
      await ctx().control.flushScripts()
      expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 2 })
    })

    it('case 14: scriptLoad of the sliding-window script returns the client SHA, not the rewritten one', async () => {
      expect(await sha1Hex(SLIDING_WINDOW_SCRIPT)).toBe(SLIDING_WINDOW_SHA)
      expect(await redis().scriptLoad(SLIDING_WINDOW_SCRIPT)).toBe(SLIDING_WINDOW_SHA)
      expect(await redis().scriptExists(SLIDING_WINDOW_SHA)).toEqual([1])
      const key = unique('c14')
      const result = await redis().evalsha(SLIDING_WINDOW_SHA, [`${key}:1`, `${key}:0`], [10, Date.now(), HOUR_MS, 1])
      expect(result).toEqual([9, 10])
    })

    it('case 15: sliding window allows N, then denies with remaining 0, then answers from the cache', async () => {
      const prefix = unique('c15')
      const limiter = new Ratelimit({ redis: redis(), limiter: Ratelimit.slidingWindow(3, '1 h'), prefix })
      const results = []
      for (let i = 0; i < 4; i++) results.push(await limiter.limit('user'))
      expect(results.map((r) => [r.success, r.remaining])).toEqual([
        [true, 2],
        [true, 1],
        [true, 0],
        [false, 0],
      ])
      const keys = await redis().keys(`${prefix}:*`)
      expect(keys.length).toBeGreaterThan(0)
      for (const key of keys) {
        const pttl = await redis().pttl(key)
        expect(pttl).toBeGreaterThan(0)
        expect(pttl).toBeLessThanOrEqual(2 * HOUR_MS + 1000)
      }
      {
        const rec = recordRequests()
        expect(await limiter.limit('user')).toMatchObject({ success: false, remaining: 0, reason: 'cacheBlock' })
        expect(rec.requests).toEqual([])
      }
    })

    it('case 16: N concurrent limit() calls travel as one /pipeline of N evalsha and count atomically', async () => {
      const limiter = new Ratelimit({
        redis: redis(),
        limiter: Ratelimit.slidingWindow(10, '1 h'),
        prefix: unique('c16'),
        ephemeralCache: false,
      })
      expect((await limiter.limit('user')).remaining).toBe(9) // loads the script, so the batch below is evalsha only
      const rec = recordRequests()
      const results = await Promise.all(Array.from({ length: 5 }, () => limiter.limit('user')))
      expect(results.map((r) => r.remaining)).toEqual([8, 7, 6, 5, 4])
      expect(rec.requests).toHaveLength(1)
      expect(rec.requests[0]?.path).toMatch(/\/pipeline$/)
      expect(commandsOf(rec.requests[0]).map((command) => command[0])).toEqual(Array(5).fill('evalsha'))
    })

    it('case 17: resetUsedTokens runs the SCAN-based reset script and removes the counters', async () => {
      const prefix = unique('c17')
      const limiter = new Ratelimit({
        redis: redis(),
        limiter: Ratelimit.slidingWindow(3, '1 h'),
        prefix,
        ephemeralCache: false,
      })
      await limiter.limit('user')
      await limiter.limit('user')
      expect(await redis().keys(`${prefix}:user:*`)).not.toEqual([])
      await limiter.resetUsedTokens('user')
      expect(await redis().keys(`${prefix}:user:*`)).toEqual([])
      expect(await limiter.getRemaining('user')).toMatchObject({ remaining: 3, limit: 3 })
    })

    it("case 18: an empty upstash-sync-token header is accepted, and a write's answer carries a token to echo", async () => {
      const key = unique('c18')
      const res = await raw('/', JSON.stringify(['set', key, 'w']), { 'upstash-sync-token': '' })
      expect(res.status).toBe(200)
      expect(res.json).toEqual({ result: 'OK' })
      expect(res.headers.get('upstash-sync-token')).toMatch(/\S/)
      const client = redis()
      await client.set(key, 'v')
      expect(await client.get(key)).toBe('v') // the second request echoes the token the first one got
    })

    for (const suffix of ['/', '/some-prefix', '/some-prefix/']) {
      it(`case 19: a base URL ending in "${suffix}" works for single, pipeline and multi-exec`, async () => {
        const url = `${ctx().url}${suffix}`
        const key = unique('c19')
        const rec = recordRequests()
        const single = redis({ url, enableAutoPipelining: false })
        expect(await single.ping()).toBe('PONG')
        expect(await single.set(key, 'v')).toBe('OK')
        expect(await redis({ url }).get(key)).toBe('v')
        expect(await redis({ url }).multi().get(key).exec()).toEqual(['v'])
        const base = suffix === '/' ? '' : '/some-prefix'
        expect(rec.requests.map((r) => r.path)).toEqual([
          base || '/',
          base || '/',
          `${base}/pipeline`,
          `${base}/multi-exec`,
        ])
      })
    }

    it('case 20: responseEncoding:false gets plain strings and sends no Upstash-Encoding header', async () => {
      const client = redis({ responseEncoding: false })
      const key = unique('c20')
      const rec = recordRequests()
      expect(await client.ping()).toBe('PONG')
      await client.set(key, 'héllo')
      expect(await client.get(key)).toBe('héllo')
      expect(await client.eval("return {1,'OK',false,{2,'x'}}", [], [])).toEqual([1, 'OK', null, [2, 'x']])
      for (const request of rec.requests) expect(request.headers.has('upstash-encoding')).toBe(false)
      const get = rec.requests.find((r) => JSON.stringify(r.body).includes('"get"'))
      expect(JSON.parse(get?.responseText ?? 'null')).toEqual([{ result: 'héllo' }])
    })

    describe('case 21: failure modes', () => {
      it('case 21: a hanging server makes ratelimit fail open with reason "timeout"', async () => {
        const lane = lanePrefix()
        await ctx().control.setFault('hang', 3000, lane)
        try {
          const limiter = new Ratelimit({
            // No retry: when the hang ends the server drops the socket, and nothing should be resent afterwards.
            redis: redis({ url: `${ctx().url}${lane}`, retry: { retries: 0 } }),
            limiter: Ratelimit.slidingWindow(3, '1 h'),
            prefix: unique('c21-hang'),
            ephemeralCache: false,
            timeout: 300,
          })
          const started = Date.now()
          expect(await limiter.limit('user')).toMatchObject({
            success: true,
            limit: 0,
            remaining: 0,
            reason: 'timeout',
          })
          expect(Date.now() - started).toBeLessThan(2000)
        } finally {
          await ctx().control.setFault('none', undefined, lane)
        }
      })

      it('case 21: a server that drops connections makes the client and ratelimit reject', async () => {
        const lane = lanePrefix()
        await ctx().control.setFault('refuse', 5000, lane)
        try {
          const client = redis({ url: `${ctx().url}${lane}`, retry: { retries: 1, backoff: () => 10 } })
          const rec = recordRequests()
          await expect(client.get(unique('c21-refuse'))).rejects.toThrow()
          expect(rec.requests).toHaveLength(2) // the first attempt and one retry
          const limiter = new Ratelimit({
            redis: client,
            limiter: Ratelimit.slidingWindow(3, '1 h'),
            prefix: unique('c21'),
          })
          await expect(limiter.limit('user')).rejects.toThrow()
        } finally {
          await ctx().control.setFault('none', undefined, lane)
        }
      })

      it('case 21: a 500 JSON reply rejects at once, without retries', async () => {
        const lane = lanePrefix()
        await ctx().control.setFault('error500', 5000, lane)
        try {
          const client = redis({ url: `${ctx().url}${lane}` })
          const rec = recordRequests()
          const started = Date.now()
          await expect(client.get(unique('c21-500'))).rejects.toThrow(/^injected fault, command was/)
          expect(rec.requests).toHaveLength(1)
          const limiter = new Ratelimit({
            redis: client,
            limiter: Ratelimit.slidingWindow(3, '1 h'),
            prefix: unique('c21'),
          })
          await expect(limiter.limit('user')).rejects.toThrow(/injected fault/)
          expect(Date.now() - started).toBeLessThan(1000)
        } finally {
          await ctx().control.setFault('none', undefined, lane)
        }
      })

      it('case 21: a 502 with a non-JSON body gives UpstashJSONParseError', async () => {
        const spy = vi
          .spyOn(globalThis, 'fetch')
          .mockImplementation(async () => new Response('<html>502 Bad Gateway</html>', { status: 502 }))
        try {
          await expect(redis().get(unique('c21-502'))).rejects.toMatchObject({ name: 'UpstashJSONParseError' })
          expect(spy).toHaveBeenCalledTimes(1)
        } finally {
          spy.mockRestore()
        }
      })
    })

    it('case 22: bytes that are not UTF-8 become U+FFFD in JSON mode and survive in base64 mode', async () => {
      const key = unique('c22-bytes')
      await redis().eval("return redis.call('SET', KEYS[1], '\\255\\254abc')", [key], [])
      expect((await raw('/', JSON.stringify(['get', key]))).json).toEqual({ result: '\uFFFD\uFFFDabc' })
      expect((await raw('/', JSON.stringify(['get', key]), { 'upstash-encoding': 'base64' })).json).toEqual({
        result: '//5hYmM=',
      })
    })

    it('case 22: integers above 2^53 are exact on the wire; the client keeps strings but rounds integer replies', async () => {
      const key = unique('c22-int')
      const res = await raw('/', JSON.stringify(['incrby', key, '9007199254740993']))
      expect(res.text).toBe('{"result":9007199254740993}')
      expect(await redis().get(key)).toBe('9007199254740993') // a bulk string that JSON.parse cannot round-trip stays text
      expect(await redis().incr(key)).toBe(9007199254740994)
      const incremented = await raw('/', JSON.stringify(['incr', key]))
      expect(incremented.text).toBe('{"result":9007199254740995}')
      expect(await redis().incr(key)).toBe(9007199254740996)
      expect(await redis().incr(key)).toBe(9007199254740996) // 9007199254740997 on the wire, rounded by JSON.parse
    })
  })

  // What the gateway itself will use, beyond the reference's numbered cases.
  describe('client calls the gateway relies on', () => {
    it('get, set EX/NX, exists, incr, expire, ttl, mget and del behave as on Upstash', async () => {
      const client = redis()
      const [a, b, counter] = [unique('calls-a'), unique('calls-b'), unique('calls-n')]
      expect(await client.set(a, 'x', { ex: 120 })).toBe('OK')
      expect(await client.set(b, 'y', { nx: true, ex: 120 })).toBe('OK')
      expect(await client.mget(a, b, unique('calls-missing'))).toEqual(['x', 'y', null])
      expect(await client.incr(counter)).toBe(1)
      expect(await client.incr(counter)).toBe(2)
      expect(await client.expire(counter, 30)).toBe(1)
      expect(await client.ttl(counter)).toBeGreaterThan(0)
      expect(await client.exists(a, b, counter)).toBe(3)
      expect(await client.del(a, b, counter)).toBe(3)
      expect(await client.exists(a, b, counter)).toBe(0)
    })

    it('an explicit pipeline and a multi return every result in order', async () => {
      const key = unique('calls-batch')
      const pipeline = redis().pipeline().set(key, '1', { ex: 60 }).incr(key).get(key).exists(key)
      expect(await pipeline.exec()).toEqual([`OK`, 2, 2, 1])
      const multi = redis().multi().incr(key).expire(key, 30).ttl(key)
      const [incremented, expired, ttl] = (await multi.exec()) as [number, number, number]
      expect([incremented, expired]).toEqual([3, 1])
      expect(ttl).toBeGreaterThan(0)
    })

    it('fixed window allows N per window, then denies', async () => {
      const limiter = new Ratelimit({ redis: redis(), limiter: Ratelimit.fixedWindow(2, '1 h'), prefix: unique('fw') })
      const results = [await limiter.limit('user'), await limiter.limit('user'), await limiter.limit('user')]
      expect(results.map((r) => [r.success, r.remaining])).toEqual([
        [true, 1],
        [true, 0],
        [false, 0],
      ])
    })

    it('token bucket spends its tokens, then denies until refill', async () => {
      const limiter = new Ratelimit({
        redis: redis(),
        limiter: Ratelimit.tokenBucket(1, '1 h', 2),
        prefix: unique('tb'),
        ephemeralCache: false,
      })
      const results = [await limiter.limit('user'), await limiter.limit('user'), await limiter.limit('user')]
      expect(results.map((r) => r.success)).toEqual([true, true, false])
      expect(results[2]?.reset).toBeGreaterThan(Date.now())
    })
  })
}

import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { inspectRedis } from '../contract/backends'
import { createUpstashRest, UpstashError, type UpstashRestOptions } from './rest'

const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
const inspect = inspectRedis()

/** A client on its own lane of the shared local Upstash server, so injected faults and counts touch no other test. */
function laneClient(options: Partial<UpstashRestOptions> = {}) {
  const lane = `lane-${crypto.randomUUID()}`
  const redis = createUpstashRest({
    url: `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    timeoutMs: 2_000,
    retries: 0,
    ...options,
  })
  return { lane, redis }
}

const freshKey = () => `rest-test:${crypto.randomUUID()}`

async function sha1Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-1', new TextEncoder().encode(text))
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('')
}

/** The rejection of `promise`, which must reject. */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    () => undefined,
    (error: unknown) => error,
  )
  expect(outcome).toBeInstanceOf(Error)
  return outcome as Error
}

describe('Upstash REST client: commands against the local server', () => {
  it('ping answers PONG', async () => {
    expect(await laneClient().redis.ping()).toBe('PONG')
  })

  it('set with ex stores the value with that TTL; get reads it back, or null', async () => {
    const { redis } = laneClient()
    const key = freshKey()
    expect(await redis.set(key, 'v', { ex: 60 })).toBe('OK')
    const ttl = await inspect.ttl(key)
    expect(ttl).toBeGreaterThan(50)
    expect(ttl).toBeLessThanOrEqual(60)
    expect(await redis.get(key)).toBe('v')
    expect(await redis.get(freshKey())).toBeNull()
    expect(await redis.set(key, 'w')).toBe('OK')
    expect(await inspect.ttl(key)).toBe(-1)
  })

  it('mget answers in key order, with null for a missing key; nothing is deserialized', async () => {
    const { redis } = laneClient()
    const [a, b] = [freshKey(), freshKey()]
    await redis.set(a, '0123', { ex: 60 })
    await redis.set(b, 7, { ex: 60 })
    expect(await redis.mget(a, freshKey(), b)).toEqual(['0123', null, '7'])
  })

  it('del answers how many keys it removed', async () => {
    const { redis } = laneClient()
    const [a, b] = [freshKey(), freshKey()]
    await redis.set(a, '1', { ex: 60 })
    await redis.set(b, '1', { ex: 60 })
    expect(await redis.del(a, b, freshKey())).toBe(2)
    expect(await inspect.exists(a, b)).toBe(0)
  })

  it('eval passes keys and args and answers nested replies as they are', async () => {
    const { redis } = laneClient()
    const key = freshKey()
    expect(await redis.eval('return {KEYS[1], ARGV[1], ARGV[2], 1, false, {2, "x"}}', [key], [5, 'a'])).toEqual([
      key,
      '5',
      'a',
      1,
      null,
      [2, 'x'],
    ])
  })

  it('evalsha of an unknown script rejects with NOSCRIPT; after an eval the same sha runs', async () => {
    const { redis } = laneClient()
    const id = crypto.randomUUID()
    const script = `return ARGV[1] .. '${id}'`
    const sha = await sha1Hex(script)
    const error = await rejection(redis.evalsha(sha, [], ['x']))
    expect(error).toBeInstanceOf(UpstashError)
    expect(`${error}`).toContain('NOSCRIPT')
    expect(await redis.eval(script, [], ['x'])).toBe(`x${id}`)
    expect(await redis.evalsha(sha, [], ['x'])).toBe(`x${id}`)
  })

  it('a Redis error rejects with its text and the command name', async () => {
    const { redis } = laneClient()
    const key = freshKey()
    await redis.set(key, 'not a number', { ex: 60 })
    const error = await rejection(redis.eval("return redis.call('INCR', KEYS[1])", [key], []))
    expect(error).toBeInstanceOf(UpstashError)
    expect(error.message).toMatch(/^Upstash eval: .*ERR value is not an integer/)
  })

  it('a pipeline sends its commands in one request and answers each reply in order', async () => {
    const { lane, redis } = laneClient()
    const [a, b] = [freshKey(), freshKey()]
    await control.resetStats(lane)
    expect(await redis.pipeline().set(a, '1', { ex: 60 }).set(b, '2', { ex: 90 }).exec()).toEqual(['OK', 'OK'])
    expect(await control.stats(lane)).toEqual({ requests: 1, commands: 2 })
    expect(await inspect.mget(a, b)).toEqual(['1', '2'])
    expect(await inspect.ttl(b)).toBeGreaterThan(80)
  })

  it('a pipeline with one failing command rejects, naming it and Redis text', async () => {
    const { redis } = laneClient()
    const [a, b] = [freshKey(), freshKey()]
    const error = await rejection(redis.pipeline().set(a, '1', { ex: 60 }).set(b, '1', { ex: 0 }).exec())
    expect(error).toBeInstanceOf(UpstashError)
    expect(error.message).toMatch(/^Upstash pipeline command 1 \(set\): .*invalid expire time/)
    // Not a transaction: the command before the failing one was applied.
    expect(await inspect.exists(a, b)).toBe(1)
  })

  it('an empty pipeline rejects without a request', async () => {
    const { lane, redis } = laneClient()
    await control.resetStats(lane)
    await expect(redis.pipeline().exec()).rejects.toThrow(/no commands/)
    expect((await control.stats(lane)).requests).toBe(0)
  })
})

describe('Upstash REST client: failures', () => {
  afterEach(() => {
    vi.restoreAllMocks()
  })

  it('throws when Upstash hangs, within the timeout, and the next call has its own timer', async () => {
    const { lane, redis } = laneClient({ timeoutMs: 300, retries: 1 })
    await control.setFault('hang', 5_000, lane)
    const started = Date.now()
    const error = await rejection(redis.mget(freshKey()))
    const elapsed = Date.now() - started
    await control.setFault('none', undefined, lane)
    expect(error.name).toBe('TimeoutError')
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(1_500)
    expect(await redis.ping()).toBe('PONG')
  })

  it('retries a refused connection `retries` times, then rejects with the network error', async () => {
    const { lane, redis } = laneClient({ retries: 2 })
    await control.setFault('refuse', 10_000, lane)
    await control.resetStats(lane)
    const error = await rejection(redis.ping())
    const { requests } = await control.stats(lane)
    await control.setFault('none', undefined, lane)
    expect(error).not.toBeInstanceOf(UpstashError)
    expect(requests).toBe(3)
  })

  it('one timeout covers every retry of a call', async () => {
    const { lane, redis } = laneClient({ retries: 1_000, timeoutMs: 300 })
    await control.setFault('refuse', 10_000, lane)
    const started = Date.now()
    const error = await rejection(redis.ping())
    const elapsed = Date.now() - started
    await control.setFault('none', undefined, lane)
    expect(error.name).toBe('TimeoutError')
    expect(elapsed).toBeLessThan(1_500)
  })

  it('does not retry an HTTP error from Upstash, and rejects with its text', async () => {
    const { lane, redis } = laneClient({ retries: 3 })
    await control.setFault('error500', 10_000, lane)
    await control.resetStats(lane)
    const error = await rejection(redis.pipeline().set(freshKey(), '1', { ex: 1 }).exec())
    const { requests } = await control.stats(lane)
    await control.setFault('none', undefined, lane)
    expect(error).toBeInstanceOf(UpstashError)
    expect(error.message).toBe('Upstash pipeline: injected fault')
    expect(requests).toBe(1)
  })

  it('never puts the token in an error message: a refused token, nor a reply that quotes it', async () => {
    const token = `wrong-${crypto.randomUUID()}`
    const { redis } = laneClient({ token })
    const refused = await rejection(redis.ping())
    expect(refused).toBeInstanceOf(UpstashError)
    expect(refused.message).not.toContain(token)

    const replies = [
      new Response(JSON.stringify({ error: `WRONGPASS ${token} is not valid` }), { status: 401 }),
      new Response(`<html>bad gateway for ${token}</html>`, { status: 502 }),
    ]
    vi.spyOn(globalThis, 'fetch').mockImplementation(async () => replies.shift() ?? Response.error())
    for (const expected of [/^Upstash ping: WRONGPASS <token> is not valid$/, /^Upstash ping: HTTP 502, not JSON: /]) {
      const error = await rejection(redis.ping())
      expect(error.message).toMatch(expected)
      expect(error.message).not.toContain(token)
    }
  })

  it('a token the Headers API refuses fails each call, never the client itself, and is never quoted', async () => {
    const token = 'pasted-token-with-a-line\nbreak-from-a-document'
    const { redis } = laneClient({ token })
    for (let i = 0; i < 2; i++) {
      const error = await rejection(redis.ping())
      expect(error).toBeInstanceOf(Error)
      expect(String((error as Error).message)).not.toContain('from-a-document')
    }
  })

  it('echoes the newest upstash-sync-token, as @upstash/redis does for read-your-writes', async () => {
    const sent: (string | null)[] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (_input, init) => {
      sent.push(new Headers(init?.headers).get('upstash-sync-token'))
      return Response.json({ result: 'OK' }, { headers: { 'upstash-sync-token': `sync-${sent.length}` } })
    })
    const { redis } = laneClient()
    await redis.set(freshKey(), '1', { ex: 1 })
    await redis.mget(freshKey())
    await redis.mget(freshKey())
    expect(sent).toEqual([null, 'sync-1', 'sync-2'])
  })

  it('sends the sync token only with commands a replica may answer, and keeps the newest from every answer', async () => {
    const sent: [string, string | null][] = []
    vi.spyOn(globalThis, 'fetch').mockImplementation(async (input, init) => {
      const body = JSON.parse(String(init?.body)) as unknown[]
      const name = String(Array.isArray(body[0]) ? `pipeline:${body[0][0]}` : body[0])
      sent.push([name, new Headers(init?.headers).get('upstash-sync-token')])
      const reply = String(input).endsWith('/pipeline') ? [{ result: 'OK' }] : { result: 'OK' }
      return Response.json(reply, { headers: { 'upstash-sync-token': `sync-${sent.length}` } })
    })
    const { redis } = laneClient()
    await redis.get(freshKey())
    await redis.evalsha('0'.repeat(40), [freshKey()], [1])
    await redis.eval('return 1', [freshKey()], [])
    await redis.set(freshKey(), '1')
    await redis.del(freshKey())
    await redis.pipeline().set(freshKey(), '1').exec()
    await redis.mget(freshKey())
    await redis.ping()
    expect(sent).toEqual([
      ['get', null],
      ['evalsha', null],
      ['eval', null],
      ['set', null],
      ['del', null],
      ['pipeline:set', null],
      ['mget', 'sync-6'],
      ['ping', 'sync-7'],
    ])
  })
})

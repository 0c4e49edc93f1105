import { spawn } from 'node:child_process'
import net from 'node:net'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { Ratelimit } from '@upstash/ratelimit'
import { Redis } from '@upstash/redis'
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import {
  type ClientOptions,
  type ConformanceControl,
  httpControl,
  upstashConformanceSuite,
} from '../test/conformance/upstash-cases.ts'
import { freePort, waitForPort } from './lib/free-port.ts'
import { REDIS_SERVER_MISSING_MESSAGE, startRedisServer } from './lib/redis-server.ts'
import { withoutAllowKeyLocking } from './lib/upstash-commands.ts'
import { createConnection } from './lib/upstash-redis.ts'
import { startUpstashLocal, type UpstashLocal } from './upstash-local.ts'

const SCRIPT_PATH = path.join(import.meta.dirname, 'upstash-local.ts')
const REDIS_SERVER_PATH = path.join(import.meta.dirname, 'lib', 'redis-server.ts')
const FAST_RETRY = { retries: 1, backoff: () => 10 }

let local: UpstashLocal

beforeAll(async () => {
  local = await startUpstashLocal({ faultControl: true })
})

afterAll(async () => {
  await local?.close()
})

function client(server: UpstashLocal, options: ClientOptions = {}): Redis {
  return new Redis({ url: server.url, token: server.token, enableTelemetry: false, ...options })
}

function directControl(server: UpstashLocal): ConformanceControl {
  return {
    setFault: async (mode, durationMs, prefix) => server.setFault(mode, durationMs, prefix),
    stats: async (prefix) => server.stats(prefix),
    resetStats: async (prefix) => server.resetStats(prefix),
    flushScripts: () => server.flushScripts(),
  }
}

async function post(server: UpstashLocal, pathname: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${server.url}${pathname}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${server.token}`, ...headers },
    body,
  })
  const text = await res.text()
  return { status: res.status, text, json: JSON.parse(text) as unknown }
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1' })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

async function eventually<T>(fn: () => Promise<T>, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return await fn()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
  }
}

/**
 * A TCP server that speaks just enough RESP to pass for a Redis of `version`: INFO answers with that
 * redis_version, every other command with +OK. Tracks its sockets, so a test can see that they were closed.
 */
async function startFakeRedis(version: string) {
  const sockets = new Set<net.Socket>()
  const info = `# Server\r\nredis_version:${version}\r\nredis_mode:standalone\r\n`
  const server = net.createServer((socket) => {
    sockets.add(socket)
    socket.once('close', () => sockets.delete(socket))
    let pending = ''
    socket.on('data', (chunk: Buffer) => {
      pending += chunk.toString('latin1')
      for (let command = takeCommand(pending); command; command = takeCommand(pending)) {
        pending = command.rest
        const isInfo = command.args[0]?.toUpperCase() === 'INFO'
        socket.write(isInfo ? `$${Buffer.byteLength(info)}\r\n${info}\r\n` : '+OK\r\n')
      }
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    url: `redis://127.0.0.1:${port}`,
    sockets,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** One complete RESP command (an array of bulk strings) at the start of `text`, or undefined if not all there yet. */
function takeCommand(text: string): { args: string[]; rest: string } | undefined {
  const header = /^\*(\d+)\r\n/.exec(text)
  if (!header) return undefined
  const args: string[] = []
  let offset = header[0].length
  for (let i = 0; i < Number(header[1]); i++) {
    const bulk = /^\$(\d+)\r\n/.exec(text.slice(offset))
    if (!bulk) return undefined
    const start = offset + bulk[0].length
    offset = start + Number(bulk[1]) + 2
    if (text.length < offset) return undefined
    args.push(text.slice(start, offset - 2))
  }
  return { args, rest: text.slice(offset) }
}

upstashConformanceSuite(() => ({
  url: local.url,
  token: local.token,
  makeRedis: (options) => client(local, options),
  control: directControl(local),
}))

describe('upstash-local (Node only)', () => {
  describe('case 13: script handling across restarts', () => {
    it('case 13: on a fresh server the first limit() costs evalsha + eval, later ones evalsha only', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl })
      try {
        await server.flushScripts()
        const limiter = new Ratelimit({
          redis: client(server),
          limiter: Ratelimit.slidingWindow(5, '1 h'),
          prefix: `node:c13:${crypto.randomUUID()}`,
          ephemeralCache: false,
        })
        server.resetStats()
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 4 })
        expect(server.stats()).toEqual({ requests: 2, commands: 2 })
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 3 })
        expect(server.stats()).toEqual({ requests: 3, commands: 3 })
      } finally {
        await server.close()
      }
    })

    it('case 13: ratelimit keeps working after an upstash-local restart and a redis-server restart', async () => {
      let redisServer = await startRedisServer()
      let server = await startUpstashLocal({ redisUrl: redisServer.url })
      const { token } = server
      const port = Number(new URL(server.url).port)
      const redis = client(server)
      const limiter = new Ratelimit({
        redis,
        limiter: Ratelimit.slidingWindow(5, '1 h'),
        prefix: 'node:c13:restart',
        ephemeralCache: false,
      })
      try {
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 4 })

        await server.close()
        server = await startUpstashLocal({ redisUrl: redisServer.url, port, token })
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 3 })
        expect(server.stats().requests).toBe(2) // the new server did not know the SHA: NOSCRIPT, then eval

        await redisServer.stop()
        const outage = await post(server, '/', '["ping"]')
        expect(outage.status).toBe(503)
        expect(outage.json).toEqual({ error: expect.stringMatching(/^ERR upstash-local cannot reach Redis/) })

        redisServer = await startRedisServer({ port: redisServer.port })
        await eventually(() => redis.ping())
        server.resetStats()
        expect(await limiter.limit('user')).toMatchObject({ success: true, remaining: 4 }) // data went with the old redis
        expect(server.stats().requests).toBe(1) // the server remembers the script body, so evalsha still works
      } finally {
        await server.close()
        await redisServer.stop()
      }
    })
  })

  describe('case 21: failure modes seen through the real clients', () => {
    it('case 21: a stopped server makes the client reject after ~4.3 s of default retries', async () => {
      const url = `http://127.0.0.1:${await freePort()}`
      const redis = new Redis({ url, token: 'irrelevant', enableTelemetry: false })
      const limiter = new Ratelimit({ redis, limiter: Ratelimit.slidingWindow(3, '1 h'), ephemeralCache: false })
      const started = Date.now()
      const elapsed = async (promise: Promise<unknown>) => {
        await expect(promise).rejects.toThrow()
        return Date.now() - started
      }
      const [getMs, limitMs] = await Promise.all([elapsed(redis.get('k')), elapsed(limiter.limit('user'))])
      for (const ms of [getMs, limitMs]) {
        expect(ms).toBeGreaterThan(3800)
        expect(ms).toBeLessThan(5000) // before ratelimit's 5 s timer, so it rejects instead of failing open
      }
    }, 10_000)

    it('case 21: a fault reverts to normal by itself after durationMs', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl })
      try {
        server.setFault('error500', 300)
        await expect(client(server).ping()).rejects.toThrow(/injected fault/)
        await new Promise((resolve) => setTimeout(resolve, 400))
        expect(await client(server).ping()).toBe('PONG')
      } finally {
        await server.close()
      }
    })

    it('case 21: refuse drops the connection and error500 answers 500 JSON, for every endpoint', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl })
      try {
        server.setFault('refuse')
        await expect(fetch(`${server.url}/pipeline`, { method: 'POST', body: '[["ping"]]' })).rejects.toThrow(TypeError)
        await expect(client(server, { retry: FAST_RETRY }).ping()).rejects.toThrow()
        server.setFault('error500')
        for (const pathname of ['/', '/pipeline', '/multi-exec', '/nope/nope/nope']) {
          const res = await post(server, pathname, '["ping"]')
          expect([res.status, res.json]).toEqual([500, { error: 'injected fault' }])
        }
        server.setFault('none')
        expect(await client(server).ping()).toBe('PONG')
      } finally {
        await server.close()
      }
    })

    it('case 21: close() releases requests hung by the hang fault', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl })
      server.setFault('hang')
      const hung = fetch(`${server.url}/`, { method: 'POST', body: '["ping"]' })
      await new Promise((resolve) => setTimeout(resolve, 100))
      const started = Date.now()
      await server.close()
      await expect(hung).rejects.toThrow(TypeError)
      expect(Date.now() - started).toBeLessThan(1000)
    })

    it('case 21: a prefix-scoped fault leaves other clients of the same server alone', async () => {
      const lane = `/lane-${crypto.randomUUID()}`
      local.setFault('error500', 5000, lane)
      try {
        await expect(client(local, { url: `${local.url}${lane}` }).ping()).rejects.toThrow(/injected fault/)
        expect(await client(local).ping()).toBe('PONG')
        expect(await client(local, { url: `${local.url}/other-lane` }).ping()).toBe('PONG')
      } finally {
        local.setFault('none', undefined, lane)
      }
    })
  })

  describe('read-your-writes', () => {
    it('answers every command and batch with a new upstash-sync-token, and accepts any the client sends', async () => {
      const tokens: (string | null)[] = []
      for (const [pathname, body, sent] of [
        ['/', '["set","ryw:a","1"]', undefined],
        ['/', '["get","ryw:a"]', ''],
        ['/pipeline', '[["set","ryw:b","2"],["get","ryw:b"]]', 'local-1'],
        ['/multi-exec', '[["get","ryw:a"]]', 'not-one-of-ours'],
      ] as const) {
        const headers: Record<string, string> = { authorization: `Bearer ${local.token}` }
        if (sent !== undefined) headers['upstash-sync-token'] = sent
        const res = await fetch(`${local.url}${pathname}`, { method: 'POST', headers, body })
        expect([pathname, res.status]).toEqual([pathname, 200])
        await res.arrayBuffer()
        tokens.push(res.headers.get('upstash-sync-token'))
      }
      expect(tokens.every((t) => t !== null && /^local-\d+$/.test(t))).toBe(true)
      expect(new Set(tokens).size).toBe(tokens.length)
      // The library keeps the newest and sends it back: reads still answer.
      const redis = client(local)
      await redis.set('ryw:c', 'v')
      expect(await redis.get('ryw:c')).toBe('v')
    })

    it('sends no sync token with an error', async () => {
      const res = await fetch(`${local.url}/`, {
        method: 'POST',
        headers: { authorization: `Bearer ${local.token}` },
        body: '["nosuchcommand"]',
      })
      expect(res.status).toBe(400)
      expect(res.headers.get('upstash-sync-token')).toBeNull()
    })
  })

  describe('control endpoints', () => {
    it('require the bearer token', async () => {
      for (const [method, pathname] of [
        ['POST', 'fault'],
        ['GET', 'stats'],
        ['POST', 'stats/reset'],
      ] as const) {
        for (const authorization of [undefined, 'Bearer wrong', 'Bearer ']) {
          const res = await fetch(`${local.url}/__control/${pathname}`, {
            method,
            headers: authorization ? { authorization } : {},
            body: method === 'POST' ? '{"mode":"hang"}' : undefined,
          })
          expect(res.status).toBe(401)
          expect(await res.json()).toEqual({ error: expect.any(String) })
        }
      }
      expect(await client(local).ping()).toBe('PONG') // the unauthenticated fault request changed nothing
    })

    it('check the token before anything else: an unauthenticated call gets 401 and learns or changes nothing', async () => {
      const attempts = [
        ['POST', 'fault', '{"mode":"error500"}'],
        ['POST', 'stats/reset', ''],
        ['POST', 'scripts/flush', ''],
        ['GET', 'stats', undefined],
        ['DELETE', 'fault', undefined],
        ['GET', 'no-such-action', undefined],
        ['POST', '', ''],
      ] as const
      for (const faultControl of [true, false]) {
        const server = await startUpstashLocal({ redisUrl: local.redisUrl, faultControl })
        try {
          const sha = await client(server).scriptLoad(`return '${crypto.randomUUID()}'`)
          const before = server.stats()
          for (const [method, action, body] of attempts) {
            for (const authorization of [undefined, 'Bearer wrong', 'Bearer ']) {
              const res = await fetch(`${server.url}/__control/${action}`, {
                method,
                headers: authorization ? { authorization } : {},
                body,
              })
              expect([faultControl, method, action, res.status]).toEqual([faultControl, method, action, 401])
              expect(await res.json()).toEqual({ error: expect.any(String) })
            }
          }
          expect(server.stats()).toEqual(before)
          expect(await client(server).ping()).toBe('PONG')
          expect(await client(server).scriptExists(sha)).toEqual([1])
        } finally {
          await server.close()
        }
      }
    })

    it('count only non-control requests, per prefix too, and reset', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl, faultControl: true })
      const control = httpControl(server.url, server.token)
      try {
        await control.resetStats()
        await post(server, '/pipeline', '[["ping"],["ping"],["ping"]]')
        await post(server, '/lane-a/', '["ping"]')
        await control.stats()
        expect(await control.stats()).toEqual({ requests: 2, commands: 4 })
        expect(await control.stats('/lane-a')).toEqual({ requests: 1, commands: 1 })
        expect(await control.stats('')).toEqual({ requests: 1, commands: 3 })
        await control.resetStats()
        expect(await control.stats()).toEqual({ requests: 0, commands: 0 })
      } finally {
        await server.close()
      }
    })

    it('switch faults over HTTP, validate the body and reject other methods', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl, faultControl: true })
      const control = httpControl(server.url, server.token)
      try {
        await control.setFault('error500', 5000)
        await expect(client(server).ping()).rejects.toThrow(/injected fault/)
        await control.setFault('none')
        expect(await client(server).ping()).toBe('PONG')
        const bad = await post(server, '/__control/fault', '{"mode":"explode"}')
        expect([bad.status, bad.json]).toEqual([400, { error: expect.stringMatching(/^ERR mode/) }])
        const wrongMethod = await fetch(`${server.url}/__control/stats`, {
          method: 'POST',
          headers: { authorization: `Bearer ${server.token}` },
        })
        expect(wrongMethod.status).toBe(405)
      } finally {
        await server.close()
      }
    })

    it('runs a script it knows by its SHA (not its body), and by its body once Redis has forgotten it', async () => {
      const redis = createConnection(local.redisUrl, 'test-commandstats', () => {})
      await redis.connect()
      // Single commands: the client's auto-pipelining would send them through /pipeline, where scripts run as EVAL.
      const single = client(local, { enableAutoPipelining: false })
      const calls = async (name: string) => {
        const stats = (await redis.info('commandstats')).split('\r\n')
        const line = stats.find((l: string) => l.startsWith(`cmdstat_${name}:`))
        return Number(/calls=(\d+)/.exec(line ?? '')?.[1] ?? 0)
      }
      try {
        const script = `#!lua flags=allow-key-locking\nreturn {KEYS[1], ARGV[1], '${crypto.randomUUID()}'}`
        const sha = await single.scriptLoad(script)
        const key = `node:known:${crypto.randomUUID()}`
        const [evalsha, evals] = [await calls('evalsha'), await calls('eval')]
        const first = await single.evalsha<string[], string[]>(sha, [key], ['a'])
        expect(first.slice(0, 2)).toEqual([key, 'a'])
        expect([(await calls('evalsha')) - evalsha, (await calls('eval')) - evals]).toEqual([1, 0])
        await local.flushScripts()
        expect(await single.evalsha<string[], string[]>(sha, [key], ['b'])).toEqual([key, 'b', first[2]])
        // NOSCRIPT from Redis, then the stored body: the client saw neither.
        expect([(await calls('evalsha')) - evalsha, (await calls('eval')) - evals]).toEqual([2, 1])
      } finally {
        redis.disconnect()
      }
    })

    it('flush the script cache over HTTP, which clients may not do themselves', async () => {
      const sha = await client(local).scriptLoad(`return '${crypto.randomUUID()}'`)
      expect(await client(local).scriptExists(sha)).toEqual([1])
      await httpControl(local.url, local.token).flushScripts()
      expect(await client(local).scriptExists(sha)).toEqual([0])
    })

    it('are 404 when faultControl is off', async () => {
      const server = await startUpstashLocal({ redisUrl: local.redisUrl })
      try {
        const res = await fetch(`${server.url}/__control/stats`, {
          headers: { authorization: `Bearer ${server.token}` },
        })
        expect(res.status).toBe(404)
        expect(await res.json()).toEqual({ error: expect.any(String) })
      } finally {
        await server.close()
      }
    })
  })

  describe('HTTP details', () => {
    it('unknown paths get 404 JSON and other methods 405 JSON', async () => {
      for (const pathname of ['/a/b/c', '/prefix/unknown', '/subscribe/channel/x']) {
        const res = await post(local, pathname, '["ping"]')
        expect([res.status, res.json]).toEqual([404, { error: expect.any(String) }])
      }
      for (const method of ['GET', 'PUT', 'DELETE']) {
        const res = await fetch(`${local.url}/pipeline`, {
          method,
          headers: { authorization: `Bearer ${local.token}` },
        })
        expect(res.status).toBe(405)
        expect(res.headers.get('allow')).toBe('POST')
        expect(await res.json()).toEqual({ error: expect.any(String) })
      }
    })

    it('accepts any casing of the Upstash-Encoding value and of the Bearer scheme', async () => {
      const res = await post(local, '/', '["ping"]', {
        'upstash-encoding': 'BASE64',
        authorization: `bearer ${local.token}`,
      })
      expect([res.status, res.json]).toEqual([200, { result: 'UE9ORw==' }])
    })

    it('rejects an oversized body with 413 JSON', async () => {
      const res = await post(local, '/', JSON.stringify(['set', 'big', 'x'.repeat(11 * 1024 * 1024)]))
      expect([res.status, res.json]).toEqual([413, { error: expect.any(String) }])
    })

    it('keeps concurrent MULTI/EXEC blocks contiguous next to concurrent pipelines', async () => {
      const key = `node:contiguous:${crypto.randomUUID()}`
      const multi = JSON.stringify([
        ['incr', key],
        ['incr', key],
        ['incr', key],
      ])
      const pipeline = JSON.stringify([['incr', key]])
      const responses = await Promise.all(
        Array.from({ length: 40 }, (_, i) =>
          post(local, i % 2 ? '/multi-exec' : '/pipeline', i % 2 ? multi : pipeline),
        ),
      )
      const values = responses.flatMap((res) => (res.json as { result: number }[]).map((item) => item.result))
      expect(new Set(values).size).toBe(80)
      for (const res of responses.filter((_, i) => i % 2)) {
        const [first = 0, ...others] = (res.json as { result: number }[]).map((item) => item.result)
        expect(others).toEqual([first + 1, first + 2])
      }
    })

    it('allow-key-locking scripts run at /, inside /pipeline and inside /multi-exec', async () => {
      const script = `#!lua flags=allow-key-locking\n-- ${crypto.randomUUID()}\nreturn 7`
      // Without no-writes a shebang script counts as a writer, which EVAL_RO refuses.
      const readOnly = `#!lua flags=no-writes,allow-key-locking\n-- ${crypto.randomUUID()}\nreturn 7`
      expect((await post(local, '/', JSON.stringify(['eval', script, 0]))).json).toEqual({ result: 7 })
      expect((await post(local, '/', JSON.stringify(['eval_ro', readOnly, 0]))).json).toEqual({ result: 7 })
      for (const pathname of ['/pipeline', '/multi-exec']) {
        const res = await post(
          local,
          pathname,
          JSON.stringify([
            ['eval_ro', readOnly, 0],
            ['script', 'load', readOnly],
          ]),
        )
        expect(res.json).toEqual([{ result: 7 }, { result: expect.stringMatching(/^[0-9a-f]{40}$/) }])
        const [, loaded] = res.json as { result: string }[]
        const sha = String(loaded?.result)
        expect((await post(local, pathname, JSON.stringify([['evalsha_ro', sha, 0]]))).json).toEqual([{ result: 7 }])
      }
    })
    it('refuses an allow-key-locking script that touches a key it did not declare, as Upstash does', async () => {
      const tag = crypto.randomUUID()
      const declared = `#!lua flags=allow-key-locking\n-- ${tag}\nredis.call('SET', KEYS[1], 'x')\nreturn redis.call('GET', KEYS[1])`
      expect((await post(local, '/', JSON.stringify(['eval', declared, 1, `kg:${tag}`]))).json).toEqual({ result: 'x' })
      const undeclared = `#!lua flags=allow-key-locking\n-- ${tag}\nreturn redis.call('GET', 'kg:other:${tag}')`
      const refused = await post(local, '/', JSON.stringify(['eval', undeclared, 0]))
      expect(JSON.stringify(refused.json)).toMatch(/GET on key kg:other:\S+ not declared in KEYS/)
      const multi = `#!lua flags=allow-key-locking\n-- ${tag}\nreturn redis.call('MGET', KEYS[1], 'kg:other:${tag}')`
      expect(JSON.stringify((await post(local, '/', JSON.stringify(['eval', multi, 1, `kg:${tag}`]))).json)).toMatch(
        /MGET on key kg:other/,
      )
      // TIME takes no key; a script without the flag is not checked (Upstash does not lock its keys either).
      const time = `#!lua flags=allow-key-locking\n-- ${tag}\nreturn #redis.call('TIME')`
      expect((await post(local, '/', JSON.stringify(['eval', time, 0]))).json).toEqual({ result: 2 })
      const plain = `-- ${tag}\nreturn redis.call('GET', 'kg:other:${tag}')`
      expect((await post(local, '/', JSON.stringify(['eval', plain, 0]))).json).toEqual({ result: null })
    })
  })

  describe('command allow-list', () => {
    // Each would be harmful or useless here: wipe or reconfigure Redis, stop it, block or re-state the shared
    // connection, or read what the gateway never reads. Mixed case on purpose: the check ignores case.
    const refused: [string, (string | number)[]][] = [
      ["'flushall'", ['flushall']],
      ["'flushdb'", ['FlushDB']],
      ["'config'", ['config', 'set', 'maxmemory', '1mb']],
      ["'debug'", ['DEBUG', 'sleep', '0']],
      ["'shutdown'", ['shutdown', 'nosave']],
      ["'module'", ['module', 'list']],
      ["'client'", ['client', 'list']],
      ["'script flush'", ['script', 'flush']],
      ["'script kill'", ['Script', 'Kill']],
      ["'script'", ['script']],
      ["'function'", ['function', 'flush']],
      ["'subscribe'", ['subscribe', 'c']],
      ["'select'", ['select', 1]],
      ["'blpop'", ['blpop', 'k', 0]],
      ["'multi'", ['multi']],
      ["'hgetall'", ['hgetall', 'k']],
    ]
    const refusal = (what: string) => ({ error: `ERR command ${what} is not supported by upstash-local` })
    let server: UpstashLocal
    let key: string

    // A private redis-server, so a command that slips through cannot disturb the other tests.
    beforeAll(async () => {
      server = await startUpstashLocal()
    })
    afterAll(async () => {
      await server?.close()
    })
    beforeEach(async () => {
      key = `node:allow-list:${crypto.randomUUID()}`
      expect((await post(server, '/', JSON.stringify(['set', key, 'kept']))).json).toEqual({ result: 'OK' })
    })

    it('refuses every other command and subcommand at /, naming it, and runs nothing', async () => {
      for (const [what, command] of refused) {
        const res = await post(server, '/', JSON.stringify(command))
        expect([what, res.status, res.json]).toEqual([what, 400, refusal(what)])
      }
      expect((await post(server, '/', JSON.stringify(['get', key]))).json).toEqual({ result: 'kept' })
    })

    it('refuses them per item inside /pipeline and runs the rest', async () => {
      const commands = [['set', key, 'piped'], ...refused.map(([, command]) => command), ['get', key]]
      const res = await post(server, '/pipeline', JSON.stringify(commands))
      expect(res.status).toBe(200)
      expect(res.json).toEqual([{ result: 'OK' }, ...refused.map(([what]) => refusal(what)), { result: 'piped' }])
    })

    it('refuses a /multi-exec block that holds one, before anything in it runs', async () => {
      for (const [what, command] of refused) {
        const res = await post(server, '/multi-exec', JSON.stringify([['set', key, 'changed'], command]))
        expect([what, res.status, res.json]).toEqual([what, 400, refusal(what)])
      }
      expect((await post(server, '/', JSON.stringify(['get', key]))).json).toEqual({ result: 'kept' })
    })

    it('accepts the allowed commands and subcommands in any case', async () => {
      expect((await post(server, '/', '["PiNg"]')).json).toEqual({ result: 'PONG' })
      expect((await post(server, '/', JSON.stringify(['Get', key]))).json).toEqual({ result: 'kept' })
      const loaded = await post(server, '/', '["SCRIPT","Load","return 1"]')
      expect(loaded.json).toEqual({ result: 'e0e1f9fabfc9d4800c877a703b823ac0578ff8db' })
      expect((await post(server, '/', '["script","EXISTS","e0e1f9fabfc9d4800c877a703b823ac0578ff8db"]')).json).toEqual({
        result: [1],
      })
    })
  })

  describe('withoutAllowKeyLocking', () => {
    const rows: [string, string, string | undefined][] = [
      ['drops the only flag and the flags= token', '#!lua flags=allow-key-locking\nreturn 1', '#!lua\nreturn 1'],
      ['keeps other flags', '#!lua flags=no-writes,allow-key-locking\nreturn 1', '#!lua flags=no-writes\nreturn 1'],
      [
        'keeps other shebang options',
        '#!lua flags=allow-key-locking,no-writes name=x\nreturn 1',
        '#!lua flags=no-writes name=x\nreturn 1',
      ],
      ['handles a one-line script', '#!lua flags=allow-key-locking', '#!lua'],
      ['leaves scripts without the flag alone', '#!lua flags=no-writes\nreturn 1', undefined],
      ['ignores a shebang that is not on line 1', 'return 1\n#!lua flags=allow-key-locking', undefined],
      ['ignores the flag outside the shebang', 'return 1 -- flags=allow-key-locking', undefined],
    ]
    for (const [name, input, expected] of rows) {
      it(name, () => expect(withoutAllowKeyLocking(input)).toBe(expected))
    }
  })

  describe('redis-server lifecycle', () => {
    it('startRedisServer() explains how to install redis-server when it is not on PATH', async () => {
      const saved = { PATH: process.env.PATH, REDIS_URL: process.env.REDIS_URL }
      process.env.PATH = ''
      delete process.env.REDIS_URL
      try {
        await expect(startRedisServer()).rejects.toThrow(REDIS_SERVER_MISSING_MESSAGE)
        await expect(startUpstashLocal()).rejects.toThrow(
          /sudo apt-get install redis-server.*brew install redis.*REDIS_URL/,
        )
      } finally {
        process.env.PATH = saved.PATH
        if (saved.REDIS_URL !== undefined) process.env.REDIS_URL = saved.REDIS_URL
      }
    })

    it('refuses to start on a Redis older than 7, naming the version it found', async () => {
      const fake = await startFakeRedis('6.2.0')
      const started = startUpstashLocal({ redisUrl: fake.url })
      try {
        await expect(started).rejects.toThrow(/Redis at redis:\/\/127\.0\.0\.1:\d+ is version 6\.2\.0.*Redis >= 7/)
        await eventually(async () => expect(fake.sockets.size).toBe(0), 2000) // both connections were closed
      } finally {
        await started.then(
          (server) => server.close(),
          () => {},
        )
        await fake.close()
      }
    })

    it('close() stops the redis-server it started', async () => {
      const server = await startUpstashLocal()
      const redisPort = Number(new URL(server.redisUrl).port)
      expect(await canConnect(redisPort)).toBe(true)
      await server.close()
      expect(await canConnect(redisPort)).toBe(false)
    })

    it('redis-server does not outlive a parent killed with SIGKILL', async () => {
      const program = `const { startRedisServer } = await import(${JSON.stringify(REDIS_SERVER_PATH)})
        console.log((await startRedisServer()).port); setInterval(() => {}, 1000)`
      const child = spawn(process.execPath, ['--input-type=module', '-e', program], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      const port = Number(
        await new Promise<string>((resolve) => createInterface({ input: child.stdout }).once('line', resolve)),
      )
      expect(await canConnect(port)).toBe(true)
      child.kill('SIGKILL')
      await eventually(async () => expect(await canConnect(port)).toBe(false), 3000)
    })

    it('the CLI prints its URL, serves requests and stops its redis on SIGTERM', async () => {
      const port = await freePort()
      const env: NodeJS.ProcessEnv = { ...process.env, UPSTASH_LOCAL_TOKEN: 'cli-token' }
      delete env.REDIS_URL
      const child = spawn(process.execPath, [SCRIPT_PATH, '--port', String(port)], {
        env,
        stdio: ['ignore', 'pipe', 'pipe'],
      })
      const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
      try {
        const line = await new Promise<string>((resolve) =>
          createInterface({ input: child.stdout }).once('line', resolve),
        )
        const match =
          /^upstash-local listening on (http:\/\/127\.0\.0\.1:(\d+)) \(redis redis:\/\/127\.0\.0\.1:(\d+)\)$/.exec(line)
        const [, url = '', listenPort, redisPort] = match ?? []
        expect(listenPort).toBe(String(port))
        const redis = new Redis({ url, token: 'cli-token', enableTelemetry: false })
        expect(await redis.ping()).toBe('PONG')
        child.kill('SIGTERM')
        expect(await exited).toBe(0)
        expect(await canConnect(Number(redisPort))).toBe(false)
      } finally {
        child.kill('SIGKILL')
      }
    })

    it('the CLI exits with the install hint when redis-server is missing', async () => {
      const env = { UPSTASH_LOCAL_TOKEN: 'cli-token', PATH: '' }
      const child = spawn(process.execPath, [SCRIPT_PATH], { env, stdio: ['ignore', 'pipe', 'pipe'] })
      let stderr = ''
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()))
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
      expect(code).toBe(1)
      expect(stderr).toContain('sudo apt-get install redis-server')
    })

    it('waitForPort() resolves for a listening port and rejects after the timeout otherwise', async () => {
      await waitForPort(Number(new URL(local.url).port), '127.0.0.1', 1000)
      await expect(waitForPort(await freePort(), '127.0.0.1', 100)).rejects.toThrow(/nothing is listening/)
    })
  })
})

// The Redis side of upstash-local: its connections, running prepared commands on them (alone, pipelined or as
// one MULTI/EXEC block) and turning RESP replies into the JSON values Upstash REST answers with.
import ioredis, { type Redis as RedisConnection } from 'ioredis'
import { redactUrl } from './redact-url.ts'
import type { Executable, Prepared } from './upstash-commands.ts'

export type { RedisConnection }
export type Outcome = { result: unknown } | { error: string }

// ioredis is CommonJS and its module.exports is the Redis class. The default import is that class both in Node and
// in vite's module runner (the workers project's global setup), where the named `Redis` export comes out undefined.
const IORedis = ioredis as unknown as typeof RedisConnection
const { ReplyError } = ioredis as unknown as { ReplyError: new (message: string) => Error }
const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON

/** Redis could not be reached (as opposed to Redis answering with an error reply). */
export class RedisUnavailableError extends Error {}

// Every command is written in this tick, so they reach Redis in request order: a script runs in its EVAL form,
// since a NOSCRIPT retry would run after the commands that follow it.
export function runPipeline(conn: RedisConnection, prepared: Prepared[]): Promise<Outcome[]> {
  return Promise.all(prepared.map((p) => ('rejected' in p ? { error: p.rejected } : execute(conn, p.fallback ?? p))))
}

// MULTI, the commands and EXEC are written in one tick on a connection used for nothing else, so no other
// request can interleave; a queue-time error makes EXEC answer EXECABORT and nothing is applied.
export async function runTransaction(
  conn: RedisConnection,
  prepared: Executable[],
): Promise<Outcome[] | { error: string }> {
  const queued = [
    execute(conn, { name: 'MULTI', args: [] }),
    ...prepared.map((p) => execute(conn, { name: (p.fallback ?? p).name, args: (p.fallback ?? p).args })),
  ]
  const [, exec] = await Promise.all([Promise.all(queued), execute(conn, { name: 'EXEC', args: [] })])
  if ('error' in exec) return exec
  if (!Array.isArray(exec.result)) return { error: 'EXECABORT Transaction discarded' }
  return exec.result.map((reply: unknown, i) => {
    if (isReplyError(reply)) return { error: reply.message }
    const finish = prepared[i]?.finish
    return { result: finish ? finish(reply) : reply }
  })
}

export async function execute(conn: RedisConnection, prepared: Executable): Promise<Outcome> {
  try {
    const reply = await conn.callBuffer(prepared.name, prepared.args)
    return { result: prepared.finish ? prepared.finish(reply) : reply }
  } catch (err) {
    if (isReplyError(err) && prepared.fallback && err.message.startsWith('NOSCRIPT')) {
      return execute(conn, prepared.fallback)
    }
    if (isReplyError(err)) return { error: err.message }
    throw new RedisUnavailableError(err instanceof Error ? err.message : String(err))
  }
}

export function outcomeToJson(outcome: Outcome, base64: boolean): Outcome {
  return 'error' in outcome ? outcome : { result: toJson(outcome.result, base64) }
}

// Base64 mode encodes every string at every depth, status replies included; integers and nil stay as they are.
export function toJson(reply: unknown, base64: boolean): unknown {
  if (reply === null || reply === undefined) return null
  if (Buffer.isBuffer(reply)) return base64 ? reply.toString('base64') : reply.toString('utf8')
  if (typeof reply === 'string') return integerToJson(reply)
  if (Array.isArray(reply)) return reply.map((item: unknown) => toJson(item, base64))
  // An error element inside a Lua table has no REST form; its text is the most useful rendering.
  if (isReplyError(reply)) return toJson(Buffer.from(reply.message), base64)
  return reply
}

// With stringNumbers, integer replies arrive as decimal text; keep digits beyond 2^53 exact in the JSON.
function integerToJson(digits: string): unknown {
  const value = Number(digits)
  return Number.isSafeInteger(value) || !rawJSON ? value : rawJSON(digits)
}

function isReplyError(value: unknown): value is Error {
  return value instanceof ReplyError
}

export function createConnection(redisUrl: string, name: string, log: (line: string) => void): RedisConnection {
  const conn = new IORedis(redisUrl, {
    lazyConnect: true,
    connectionName: name,
    // Fail fast instead of queueing: a request during an outage gets 503, not a hang.
    enableOfflineQueue: false,
    maxRetriesPerRequest: 0,
    autoResendUnfulfilledCommands: false,
    stringNumbers: true,
    retryStrategy: (attempt) => Math.min(attempt * 50, 1000),
  })
  let wasReady = false
  conn.on('ready', () => {
    if (wasReady) log(`upstash-local: ${name} reconnected to ${redactUrl(redisUrl)}`)
    wasReady = true
  })
  conn.on('close', () => {
    if (wasReady && conn.status !== 'end') log(`upstash-local: ${name} lost its connection to Redis`)
  })
  conn.on('error', () => {}) // reported through 'close' and the 503 answers; ioredis would print each retry otherwise
  return conn
}

export async function connectOrExplain(conn: RedisConnection, redisUrl: string): Promise<void> {
  try {
    await conn.connect()
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new Error(`upstash-local: cannot reach Redis at ${redactUrl(redisUrl)} (${reason})`)
  }
}

// Redis 7 brought the `#!lua flags=...` script shebang that the gateway's and @upstash/ratelimit's Lua scripts begin
// with. An older Redis would start fine and then fail every rate-limit call with a script error, so refuse it up front.
const MIN_REDIS_MAJOR = 7

/** Reads `INFO server` and throws, naming the version found, unless Redis is 7 or newer. */
export async function requireRedis7(conn: RedisConnection, redisUrl: string): Promise<void> {
  let info: string
  try {
    info = await conn.info('server')
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new Error(`upstash-local: cannot read the version of Redis at ${redactUrl(redisUrl)} (${reason})`)
  }
  checkRedisVersion(info, redisUrl)
}

/** Throws unless the `INFO server` text reports redis_version 7 or newer. */
export function checkRedisVersion(info: string, redisUrl: string): void {
  const version = /^redis_version:(\S+)/m.exec(info)?.[1]
  if (version !== undefined && Number.parseInt(version, 10) >= MIN_REDIS_MAJOR) return
  const found = version === undefined ? 'does not report its version' : `is version ${version}`
  throw new Error(
    `upstash-local: Redis at ${redactUrl(redisUrl)} ${found}; upstash-local needs Redis >= ${MIN_REDIS_MAJOR}, ` +
      'because the Lua scripts it runs start with "#!lua flags=..." shebangs, which Redis 7 introduced',
  )
}

// Local stand-in for the Upstash Redis REST API in front of a real redis-server, so the real
// @upstash/redis and @upstash/ratelimit clients run unchanged in tests and local development.
// Loopback only, one token, no persistence: a test tool, never a production proxy.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import ioredis, { type Redis as RedisConnection } from 'ioredis'
import { redactUrl } from './lib/redact-url.ts'
import { type RedisServer, startRedisServer } from './lib/redis-server.ts'

export type FaultMode = 'none' | 'refuse' | 'hang' | 'error500' | 'slow'

/** Latency the `slow` fault adds before a request is served normally: makes round trips countable by time. */
export const SLOW_FAULT_LATENCY_MS = 250

export interface UpstashLocalOptions {
  /** Redis to forward to. @default process.env.REDIS_URL, else a private redis-server stopped by close() */
  redisUrl?: string
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (a free port) */
  port?: number
  /** Bearer token clients must present. @default 24 random bytes, base64url */
  token?: string
  /** Enables the `/__control/*` endpoints (same bearer token). @default false */
  faultControl?: boolean
  /** Lifecycle messages only; never tokens or command arguments. @default discard */
  log?: (line: string) => void
}

export interface RequestStats {
  requests: number
  commands: number
}

export interface UpstashLocal {
  url: string
  token: string
  redisUrl: string
  /**
   * Makes non-control requests fail until `durationMs` elapses (then back to 'none').
   * `prefix` (one path segment such as '/lane-1') limits the fault to clients whose base URL has that prefix,
   * so one test file can break its own traffic without touching others sharing the server.
   */
  setFault(mode: FaultMode, durationMs?: number, prefix?: string): void
  /** Totals since the last reset; with `prefix`, only requests under that path prefix ('' = no prefix). */
  stats(prefix?: string): RequestStats
  resetStats(prefix?: string): void
  close(): Promise<void>
}

type Scalar = string | number | boolean | null
type Command = Scalar[]
type Endpoint = 'single' | 'pipeline' | 'multi-exec'
type Route = { kind: Endpoint | 'unknown'; lane: string } | { kind: 'control'; action: string }
type Outcome = { result: unknown } | { error: string }
type Executable = { name: string; args: string[]; finish?: (reply: unknown) => unknown }
type Prepared = Executable | { rejected: string }
type ScriptRegistry = Map<string, { serverSha: string; body: string }>
type JsonBody = { ok: true; value: unknown } | { ok: false; status: number; error: string }

interface Server {
  scripts: ScriptRegistry
  shared: RedisConnection
  transactions: RedisConnection
  token: string
  faultControl: boolean
  faults: Map<string, { mode: Exclude<FaultMode, 'none'>; timer?: NodeJS.Timeout }>
  hung: Map<string, Set<http.ServerResponse>>
  counters: Map<string, RequestStats>
  total: RequestStats
  log: (line: string) => void
}

const MAX_BODY_BYTES = 10 * 1024 * 1024
const FAULT_MODES: readonly FaultMode[] = ['none', 'refuse', 'hang', 'error500', 'slow']
const ALLOW_KEY_LOCKING = 'allow-key-locking'
const CONTROL_ACTIONS = new Set(['fault', 'stats', 'stats/reset'])
// They change connection state or block the connection that every request shares.
const UNSUPPORTED_COMMANDS = new Set([
  'MULTI',
  'EXEC',
  'DISCARD',
  'WATCH',
  'UNWATCH',
  'SELECT',
  'QUIT',
  'RESET',
  'HELLO',
  'AUTH',
  'CLIENT',
  'MONITOR',
  'SUBSCRIBE',
  'PSUBSCRIBE',
  'SSUBSCRIBE',
  'UNSUBSCRIBE',
  'PUNSUBSCRIBE',
  'SUNSUBSCRIBE',
  'SYNC',
  'PSYNC',
  'REPLCONF',
  'SHUTDOWN',
  'WAIT',
  'WAITAOF',
  'BLPOP',
  'BRPOP',
  'BRPOPLPUSH',
  'BLMOVE',
  'BLMPOP',
  'BZPOPMIN',
  'BZPOPMAX',
  'BZMPOP',
])
// ioredis is CommonJS and its module.exports is the Redis class. The default import is that class both in Node and
// in vite's module runner (the workers project's global setup), where the named `Redis` export comes out undefined.
const IORedis = ioredis as unknown as typeof RedisConnection
const { ReplyError } = ioredis as unknown as { ReplyError: new (message: string) => Error }
const rawJSON = (JSON as unknown as { rawJSON?: (text: string) => unknown }).rawJSON

class RedisUnavailableError extends Error {}

/**
 * Starts an Upstash-REST-compatible HTTP server (`POST /`, `/pipeline`, `/multi-exec`) over Redis.
 * @example
 * const upstash = await startUpstashLocal({ faultControl: true })
 * const redis = new Redis({ url: upstash.url, token: upstash.token })
 * await upstash.close()
 */
export async function startUpstashLocal(opts: UpstashLocalOptions = {}): Promise<UpstashLocal> {
  const log = opts.log ?? (() => {})
  const token = opts.token ?? randomBytes(24).toString('base64url')
  if (!/^\S+$/.test(token)) throw new Error('upstash-local: token must be a non-empty string without whitespace')
  const configuredUrl = opts.redisUrl || process.env.REDIS_URL
  const ownRedis = configuredUrl ? undefined : await startRedisServer()
  const redisUrl = configuredUrl || (ownRedis as RedisServer).url
  const state: Server = {
    scripts: new Map(),
    shared: createConnection(redisUrl, 'upstash-local', log),
    transactions: createConnection(redisUrl, 'upstash-local-multi', log),
    token,
    faultControl: opts.faultControl ?? false,
    faults: new Map(),
    hung: new Map(),
    counters: new Map(),
    total: { requests: 0, commands: 0 },
    log,
  }
  const server = http.createServer((req, res) => {
    handleRequest(state, req, res).catch((err: unknown) => {
      log(`upstash-local: internal error: ${err instanceof Error ? err.message : String(err)}`)
      if (!res.headersSent) sendJson(res, 500, { error: 'ERR internal error in upstash-local' })
      else res.destroy()
    })
  })
  const shutdown = async () => {
    for (const scope of [...state.faults.keys()]) clearFault(state, scope)
    const closed = new Promise<void>((resolve) => server.close(() => resolve()))
    server.closeAllConnections()
    await closed
    state.shared.disconnect()
    state.transactions.disconnect()
    await ownRedis?.stop()
  }
  let address: { host: string; port: number }
  try {
    await Promise.all([connectOrExplain(state.shared, redisUrl), connectOrExplain(state.transactions, redisUrl)])
    address = await listen(server, opts.host ?? '127.0.0.1', opts.port ?? 0)
  } catch (err) {
    await shutdown()
    throw err
  }
  let closing: Promise<void> | undefined
  return {
    url: `http://${address.host}:${address.port}`,
    token,
    redisUrl,
    setFault: (mode, durationMs, prefix) => setFault(state, mode, durationMs, prefix),
    stats: (prefix) => readStats(state, prefix),
    resetStats: (prefix) => resetStats(state, prefix),
    close: () => (closing ??= shutdown()),
  }
}

// ---------------------------------------------------------------- HTTP

async function handleRequest(state: Server, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstash-local')
  const route = parseRoute(url.pathname, state.faultControl)
  if (route.kind === 'control') return handleControl(state, route.action, url, req, res)

  count(state, route.lane, 'requests', 1)
  const fault = activeFault(state, route.lane)
  if (fault?.mode === 'slow') await new Promise((resolve) => setTimeout(resolve, SLOW_FAULT_LATENCY_MS))
  else if (fault) return applyFault(state, { mode: fault.mode, scope: fault.scope }, req, res)
  if (route.kind === 'unknown') return sendJson(res, 404, { error: `ERR unknown endpoint ${url.pathname}` })
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'ERR method not allowed, use POST' }, { allow: 'POST' })
  if (!isAuthorized(req, state.token)) return sendUnauthorized(res)

  const body = await readJsonBody(req)
  if (!body.ok) return sendJson(res, body.status, { error: body.error })
  const base64 = wantsBase64(req)
  try {
    if (route.kind === 'single') return await runSingle(state, route.lane, body.value, base64, res)
    return await runBatch(state, route.lane, route.kind, body.value, base64, res)
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err
    return sendJson(res, 503, { error: `ERR upstash-local cannot reach Redis: ${err.message}` })
  }
}

function parseRoute(pathname: string, faultControl: boolean): Route {
  const segments = pathname.split('/').filter(Boolean)
  if (segments[0] === '__control') {
    return faultControl ? { kind: 'control', action: segments.slice(1).join('/') } : { kind: 'unknown', lane: '' }
  }
  const endpoint = (segment: string | undefined): Endpoint | undefined =>
    segment === 'pipeline' || segment === 'multi-exec' ? segment : undefined
  // A base URL may carry one path segment as a prefix (`http://host/prefix`); the client appends `/pipeline`.
  if (segments.length === 0) return { kind: 'single', lane: '' }
  if (segments.length === 1) {
    const kind = endpoint(segments[0])
    return kind ? { kind, lane: '' } : { kind: 'single', lane: `/${segments[0]}` }
  }
  const lane = `/${segments[0]}`
  return segments.length === 2 ? { kind: endpoint(segments[1]) ?? 'unknown', lane } : { kind: 'unknown', lane }
}

function isAuthorized(req: http.IncomingMessage, token: string): boolean {
  const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')?.[1]
  if (presented === undefined) return false
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(presented), digest(token))
}

function wantsBase64(req: http.IncomingMessage): boolean {
  const value = req.headers['upstash-encoding']
  return typeof value === 'string' && value.trim().toLowerCase() === 'base64'
}

async function readJsonBody(req: http.IncomingMessage): Promise<JsonBody> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES)
    return { ok: false, status: 413, error: `ERR request body larger than ${MAX_BODY_BYTES} bytes` }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) }
  } catch {
    return { ok: false, status: 400, error: 'ERR failed to parse the request body as JSON' }
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  })
  res.end(text)
}

function sendUnauthorized(res: http.ServerResponse): void {
  sendJson(res, 401, { error: 'WRONGPASS invalid or missing auth token' }, { 'www-authenticate': 'Bearer' })
}

function listen(server: http.Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.removeListener('error', reject)
      const address = server.address()
      if (address === null || typeof address === 'string') return reject(new Error('upstash-local: no TCP address'))
      resolve({ host, port: address.port })
    })
  })
}

// ---------------------------------------------------------------- command execution

async function runSingle(state: Server, lane: string, value: unknown, base64: boolean, res: http.ServerResponse) {
  const command = asCommand(value)
  if (typeof command === 'string') return sendJson(res, 400, { error: command })
  const prepared = prepareCommand(command, state.scripts)
  if ('rejected' in prepared) return sendJson(res, 400, { error: prepared.rejected })
  count(state, lane, 'commands', 1)
  const outcome = await execute(state.shared, prepared)
  if ('error' in outcome) return sendJson(res, 400, { error: outcome.error })
  return sendJson(res, 200, { result: toJson(outcome.result, base64) })
}

async function runBatch(
  state: Server,
  lane: string,
  kind: 'pipeline' | 'multi-exec',
  value: unknown,
  base64: boolean,
  res: http.ServerResponse,
) {
  const commands = asCommandList(value)
  if (typeof commands === 'string') return sendJson(res, 400, { error: commands })
  const prepared = commands.map((command) => prepareCommand(command, state.scripts))
  const executable = prepared.filter((p): p is Executable => !('rejected' in p))
  if (kind === 'multi-exec' && executable.length < prepared.length) {
    return sendJson(res, 400, { error: (prepared.find((p) => 'rejected' in p) as { rejected: string }).rejected })
  }
  count(state, lane, 'commands', executable.length)
  const outcomes =
    kind === 'pipeline'
      ? await runPipeline(state.shared, prepared)
      : await runTransaction(state.transactions, executable)
  if (!Array.isArray(outcomes)) return sendJson(res, 400, outcomes)
  return sendJson(
    res,
    200,
    outcomes.map((outcome) => outcomeToJson(outcome, base64)),
  )
}

// Every command is written in this tick, so they reach Redis in request order.
function runPipeline(conn: RedisConnection, prepared: Prepared[]): Promise<Outcome[]> {
  return Promise.all(prepared.map((p) => ('rejected' in p ? { error: p.rejected } : execute(conn, p))))
}

// MULTI, the commands and EXEC are written in one tick on a connection used for nothing else, so no other
// request can interleave; a queue-time error makes EXEC answer EXECABORT and nothing is applied.
async function runTransaction(conn: RedisConnection, prepared: Executable[]): Promise<Outcome[] | { error: string }> {
  const queued = [
    execute(conn, { name: 'MULTI', args: [] }),
    ...prepared.map((p) => execute(conn, { name: p.name, args: p.args })),
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

async function execute(conn: RedisConnection, prepared: Executable): Promise<Outcome> {
  try {
    const reply = await conn.callBuffer(prepared.name, prepared.args)
    return { result: prepared.finish ? prepared.finish(reply) : reply }
  } catch (err) {
    if (isReplyError(err)) return { error: err.message }
    throw new RedisUnavailableError(err instanceof Error ? err.message : String(err))
  }
}

function asCommand(value: unknown): Command | string {
  if (!Array.isArray(value)) return 'ERR the request body must be a JSON array: ["command", ...args]'
  if (value.length === 0) return 'ERR empty command'
  if (typeof value[0] !== 'string' || value[0] === '') return 'ERR the command name must be a non-empty string'
  if (!value.every(isScalar)) return 'ERR command arguments must be strings, numbers, booleans or null'
  return value
}

function asCommandList(value: unknown): Command[] | string {
  if (!Array.isArray(value) || value.length === 0)
    return 'ERR the request body must be a non-empty JSON array of commands'
  const commands: Command[] = []
  for (const item of value) {
    const command = asCommand(item)
    if (typeof command === 'string') return command
    commands.push(command)
  }
  return commands
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value)
}

// Upstash REST argument conversion: numbers in decimal, booleans as words, JSON null as "".
function toRedisArg(value: Scalar): string {
  return value === null ? '' : String(value)
}

function prepareCommand(command: Command, scripts: ScriptRegistry): Prepared {
  const name = String(command[0]).toUpperCase()
  const args = command.slice(1).map(toRedisArg)
  if (isUnsupported(name, args))
    return { rejected: `ERR command '${name.toLowerCase()}' is not supported by upstash-local` }
  if (name === 'EVAL' || name === 'EVAL_RO') return prepareEval(name, args, scripts)
  if (name === 'EVALSHA' || name === 'EVALSHA_RO') return prepareEvalsha(name, args, scripts)
  if (name === 'SCRIPT') return prepareScript(args, scripts)
  // Upper case also keeps ioredis's reply transformers (keyed by lower-case names, e.g. hgetall) out of the way.
  return { name, args }
}

function isUnsupported(name: string, args: string[]): boolean {
  const blockingRead = (name === 'XREAD' || name === 'XREADGROUP') && args.some((a) => a.toUpperCase() === 'BLOCK')
  return UNSUPPORTED_COMMANDS.has(name) || blockingRead
}

// ---------------------------------------------------------------- Lua scripts

function prepareEval(name: string, args: string[], scripts: ScriptRegistry): Prepared {
  const [script, ...rest] = args
  const rewritten = script === undefined ? undefined : registerScript(script, scripts)
  return { name, args: rewritten === undefined ? args : [rewritten, ...rest] }
}

// A known client SHA becomes EVAL of the stored body, which also survives SCRIPT FLUSH and Redis restarts.
function prepareEvalsha(name: string, args: string[], scripts: ScriptRegistry): Prepared {
  const [sha, ...rest] = args
  const known = sha === undefined ? undefined : scripts.get(sha.toLowerCase())
  if (!known) return { name, args }
  return { name: name === 'EVALSHA' ? 'EVAL' : 'EVAL_RO', args: [known.body, ...rest] }
}

function prepareScript(args: string[], scripts: ScriptRegistry): Prepared {
  const [subcommand = '', original, ...others] = args
  if (subcommand.toUpperCase() === 'LOAD' && original !== undefined && others.length === 0) {
    const rewritten = registerScript(original, scripts)
    if (rewritten === undefined) return { name: 'SCRIPT', args }
    const clientSha = sha1(original)
    const finish = (reply: unknown) => (Buffer.isBuffer(reply) ? Buffer.from(clientSha) : reply)
    return { name: 'SCRIPT', args: ['LOAD', rewritten], finish }
  }
  if (subcommand.toUpperCase() === 'EXISTS') {
    const shas = args.slice(1).map((sha) => scripts.get(sha.toLowerCase())?.serverSha ?? sha)
    return { name: 'SCRIPT', args: [subcommand, ...shas] }
  }
  return { name: 'SCRIPT', args }
}

/** Returns the script Redis will accept, remembering it under the client's SHA, or undefined if unchanged. */
function registerScript(script: string, scripts: ScriptRegistry): string | undefined {
  const rewritten = withoutAllowKeyLocking(script)
  if (rewritten === undefined) return undefined
  scripts.set(sha1(script), { serverSha: sha1(rewritten), body: rewritten })
  return rewritten
}

// `allow-key-locking` exists only on Upstash; redis-server 7 rejects the whole script because of it.
// Only the flag is removed, so line numbers and the rest of the body stay byte-for-byte the same.
export function withoutAllowKeyLocking(script: string): string | undefined {
  if (!script.startsWith('#!lua')) return undefined
  const end = script.indexOf('\n')
  const firstLine = end === -1 ? script : script.slice(0, end)
  const rewrittenLine = firstLine.replace(/([ \t]+)flags=(\S*)/, (_match, space: string, list: string) => {
    const kept = list.split(',').filter((flag) => flag !== ALLOW_KEY_LOCKING)
    return kept.length > 0 ? `${space}flags=${kept.join(',')}` : ''
  })
  if (rewrittenLine === firstLine) return undefined
  return rewrittenLine + (end === -1 ? '' : script.slice(end))
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex')
}

// ---------------------------------------------------------------- reply conversion

function outcomeToJson(outcome: Outcome, base64: boolean): Outcome {
  return 'error' in outcome ? outcome : { result: toJson(outcome.result, base64) }
}

// Base64 mode encodes every string at every depth, status replies included; integers and nil stay as they are.
function toJson(reply: unknown, base64: boolean): unknown {
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

// ---------------------------------------------------------------- faults and stats

function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '')
  if (trimmed.includes('/'))
    throw new TypeError(`upstash-local: a fault/stats prefix is one path segment, got ${prefix}`)
  return trimmed === '' ? '' : `/${trimmed}`
}

function setFault(state: Server, mode: FaultMode, durationMs?: number, prefix?: string): void {
  if (!FAULT_MODES.includes(mode)) throw new TypeError(`upstash-local: unknown fault mode ${String(mode)}`)
  if (durationMs !== undefined && !(Number.isFinite(durationMs) && durationMs >= 0)) {
    throw new TypeError('upstash-local: durationMs must be a non-negative number')
  }
  const scope = normalizePrefix(prefix)
  clearFault(state, scope)
  if (mode === 'none') return
  const timer = durationMs === undefined ? undefined : setTimeout(() => clearFault(state, scope), durationMs)
  timer?.unref()
  state.faults.set(scope, timer ? { mode, timer } : { mode })
  state.log(
    `upstash-local: fault ${mode}${scope ? ` on ${scope}` : ''}${durationMs === undefined ? '' : ` for ${durationMs} ms`}`,
  )
}

// Hung requests are dropped when their hang ends, so no socket outlives the fault.
function clearFault(state: Server, scope: string): void {
  const fault = state.faults.get(scope)
  if (!fault) return
  clearTimeout(fault.timer)
  state.faults.delete(scope)
  for (const res of state.hung.get(scope) ?? []) res.destroy()
  state.hung.delete(scope)
}

function activeFault(state: Server, lane: string): { mode: Exclude<FaultMode, 'none'>; scope: string } | undefined {
  const global = state.faults.get('')
  if (global) return { mode: global.mode, scope: '' }
  const scoped = lane ? state.faults.get(lane) : undefined
  return scoped ? { mode: scoped.mode, scope: lane } : undefined
}

function applyFault(
  state: Server,
  fault: { mode: Exclude<FaultMode, 'none' | 'slow'>; scope: string },
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  if (fault.mode === 'refuse') {
    req.socket.destroy()
  } else if (fault.mode === 'error500') {
    sendJson(res, 500, { error: 'injected fault' })
  } else {
    const hung = state.hung.get(fault.scope) ?? new Set()
    state.hung.set(fault.scope, hung)
    hung.add(res)
    res.once('close', () => hung.delete(res))
  }
}

function count(state: Server, lane: string, field: keyof RequestStats, n: number): void {
  const counter = state.counters.get(lane) ?? { requests: 0, commands: 0 }
  state.counters.set(lane, counter)
  counter[field] += n
  state.total[field] += n
}

function readStats(state: Server, prefix?: string): RequestStats {
  const counter = prefix === undefined ? state.total : state.counters.get(normalizePrefix(prefix))
  return { requests: counter?.requests ?? 0, commands: counter?.commands ?? 0 }
}

function resetStats(state: Server, prefix?: string): void {
  if (prefix !== undefined) return void state.counters.delete(normalizePrefix(prefix))
  state.counters.clear()
  state.total = { requests: 0, commands: 0 }
}

async function handleControl(
  state: Server,
  action: string,
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  if (!CONTROL_ACTIONS.has(action)) return sendJson(res, 404, { error: `ERR unknown control endpoint ${url.pathname}` })
  if (!isAuthorized(req, state.token)) return sendUnauthorized(res)
  const prefix = url.searchParams.get('prefix') ?? undefined
  try {
    if (action === 'stats' && req.method === 'GET') return sendJson(res, 200, readStats(state, prefix))
    if (action === 'stats/reset' && req.method === 'POST') {
      resetStats(state, prefix)
      return sendJson(res, 200, readStats(state, prefix))
    }
    if (action === 'fault' && req.method === 'POST') return await controlFault(state, req, res)
  } catch (err) {
    if (err instanceof TypeError) return sendJson(res, 400, { error: `ERR ${err.message}` })
    throw err
  }
  return sendJson(res, 405, { error: 'ERR method not allowed' }, { allow: action === 'stats' ? 'GET' : 'POST' })
}

async function controlFault(state: Server, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readJsonBody(req)
  if (!body.ok) return sendJson(res, body.status, { error: body.error })
  const { mode, durationMs, prefix } = (body.value ?? {}) as { mode?: unknown; durationMs?: unknown; prefix?: unknown }
  if (typeof mode !== 'string' || !FAULT_MODES.includes(mode as FaultMode)) {
    return sendJson(res, 400, { error: `ERR mode must be one of ${FAULT_MODES.join(', ')}` })
  }
  if (durationMs !== undefined && typeof durationMs !== 'number')
    return sendJson(res, 400, { error: 'ERR durationMs must be a number' })
  if (prefix !== undefined && typeof prefix !== 'string')
    return sendJson(res, 400, { error: 'ERR prefix must be a string' })
  setFault(state, mode as FaultMode, durationMs, prefix)
  return sendJson(res, 200, { mode, durationMs: durationMs ?? null, prefix: normalizePrefix(prefix) })
}

// ---------------------------------------------------------------- Redis connections

function createConnection(redisUrl: string, name: string, log: (line: string) => void): RedisConnection {
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

async function connectOrExplain(conn: RedisConnection, redisUrl: string): Promise<void> {
  try {
    await conn.connect()
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err)
    throw new Error(`upstash-local: cannot reach Redis at ${redactUrl(redisUrl)} (${reason})`)
  }
}

// ---------------------------------------------------------------- CLI

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string' }, token: { type: 'string' }, 'redis-url': { type: 'string' } },
  })
  const token = values.token ?? process.env.UPSTASH_LOCAL_TOKEN ?? process.env.UPSTASH_REDIS_REST_TOKEN
  if (!token) {
    console.error(
      'upstash-local: set UPSTASH_LOCAL_TOKEN or pass --token (the value of UPSTASH_REDIS_REST_TOKEN in .dev.vars)',
    )
    process.exit(2)
  }
  const portText = values.port ?? process.env.UPSTASH_LOCAL_PORT ?? '0'
  const port = Number(portText)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`upstash-local: invalid port ${portText}`)
    process.exit(2)
  }
  const local = await startUpstashLocal({
    redisUrl: values['redis-url'] ?? process.env.REDIS_URL,
    port,
    token,
    log: (line) => console.error(line),
  })
  console.log(`upstash-local listening on ${local.url} (redis ${redactUrl(local.redisUrl)})`)
  let stopping = false
  const stop = () => {
    if (stopping) process.exit(1)
    stopping = true
    local.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.on('SIGINT', stop)
  process.on('SIGTERM', stop)
}

const entry = process.argv[1]
if (entry !== undefined && pathToFileURL(path.resolve(entry)).href === import.meta.url) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err))
    process.exit(1)
  })
}

// Local stand-in for the Upstash Redis REST API in front of a real redis-server, so the real
// @upstash/redis and @upstash/ratelimit clients run unchanged in tests and local development.
// Loopback only, one token, no persistence: a test tool, never a production proxy.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { redactUrl } from './lib/redact-url.ts'
import { type RedisServer, startRedisServer } from './lib/redis-server.ts'
import {
  asCommand,
  asCommandList,
  type Executable,
  prepareCommand,
  type ScriptRegistry,
} from './lib/upstash-commands.ts'
import {
  activeFault,
  clearFault,
  count,
  FAULT_MODES,
  type FaultMode,
  type FaultState,
  normalizePrefix,
  type RequestStats,
  readStats,
  resetStats,
  SLOW_FAULT_LATENCY_MS,
  setFault,
} from './lib/upstash-faults.ts'
import {
  connectOrExplain,
  createConnection,
  execute,
  outcomeToJson,
  type RedisConnection,
  RedisUnavailableError,
  requireRedis7,
  runPipeline,
  runTransaction,
  toJson,
} from './lib/upstash-redis.ts'

export { type FaultMode, type RequestStats, SLOW_FAULT_LATENCY_MS } from './lib/upstash-faults.ts'

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
  /**
   * Empties Redis's script cache (SCRIPT FLUSH, which clients may not send), as a Redis restart would; the server
   * still knows the bodies of the scripts it has seen, so their EVALSHA keeps working.
   */
  flushScripts(): Promise<void>
  close(): Promise<void>
}

type Endpoint = 'single' | 'pipeline' | 'multi-exec'
type Route = { kind: Endpoint | 'unknown'; lane: string } | { kind: 'control'; action: string }
type JsonBody = { ok: true; value: unknown } | { ok: false; status: number; error: string }

interface Server extends FaultState {
  scripts: ScriptRegistry
  shared: RedisConnection
  transactions: RedisConnection
  token: string
  faultControl: boolean
}

const MAX_BODY_BYTES = 10 * 1024 * 1024
const CONTROL_ACTIONS = new Set(['fault', 'stats', 'stats/reset', 'scripts/flush'])

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
    await requireRedis7(state.shared, redisUrl)
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
    flushScripts: () => flushScripts(state),
    close: () => (closing ??= shutdown()),
  }
}

// ---------------------------------------------------------------- HTTP

async function handleRequest(state: Server, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstash-local')
  const route = parseRoute(url.pathname)
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

function parseRoute(pathname: string): Route {
  const segments = pathname.split('/').filter(Boolean)
  if (segments[0] === '__control') return { kind: 'control', action: segments.slice(1).join('/') }
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

// ---------------------------------------------------------------- faults and control endpoints

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

async function handleControl(
  state: Server,
  action: string,
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  // The token comes first, so a caller without it learns nothing, not even whether fault control is on.
  if (!isAuthorized(req, state.token)) return sendUnauthorized(res)
  if (!state.faultControl || !CONTROL_ACTIONS.has(action)) {
    return sendJson(res, 404, { error: `ERR unknown control endpoint ${url.pathname}` })
  }
  const prefix = url.searchParams.get('prefix') ?? undefined
  try {
    if (action === 'stats' && req.method === 'GET') return sendJson(res, 200, readStats(state, prefix))
    if (action === 'stats/reset' && req.method === 'POST') {
      resetStats(state, prefix)
      return sendJson(res, 200, readStats(state, prefix))
    }
    if (action === 'fault' && req.method === 'POST') return await controlFault(state, req, res)
    if (action === 'scripts/flush' && req.method === 'POST') {
      await flushScripts(state)
      return sendJson(res, 200, { flushed: true })
    }
  } catch (err) {
    if (err instanceof TypeError) return sendJson(res, 400, { error: `ERR ${err.message}` })
    throw err
  }
  return sendJson(res, 405, { error: 'ERR method not allowed' }, { allow: action === 'stats' ? 'GET' : 'POST' })
}

async function flushScripts(state: Server): Promise<void> {
  const outcome = await execute(state.shared, { name: 'SCRIPT', args: ['FLUSH'] })
  if ('error' in outcome) throw new Error(`upstash-local: SCRIPT FLUSH failed: ${outcome.error}`)
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

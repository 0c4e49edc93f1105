// Local stand-in for the Upstash Redis REST API in front of a real redis-server, so the real
// @upstash/redis and @upstash/ratelimit clients run unchanged in tests and local development.
// Loopback only, one token, no persistence: a test tool, never a production proxy.
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { parseDevVars } from './lib/dev-vars.ts'
import { redactUrl } from './lib/redact-url.ts'
import { type RedisServer, startRedisServer } from './lib/redis-server.ts'
import { flushScripts } from './lib/upstash-control.ts'
import {
  clearFault,
  type FaultMode,
  type RequestStats,
  readStats,
  resetStats,
  SLOW_FAULT_LATENCY_MS,
  setFault,
} from './lib/upstash-faults.ts'
import { handleRequest, type ServerState } from './lib/upstash-handler.ts'
import { listen, sendJson } from './lib/upstash-http.ts'
import { connectOrExplain, createConnection, requireRedis7 } from './lib/upstash-redis.ts'

export { type FaultMode, type RequestStats, SLOW_FAULT_LATENCY_MS } from './lib/upstash-faults.ts'

export interface UpstashLocalOptions {
  /** Redis to forward to. @default process.env.REDIS_URL, else a private redis-server stopped by close() */
  redisUrl?: string
  /** Where the private redis-server keeps its data across runs (see startRedisServer). @default nowhere: throwaway */
  redisDataDir?: string
  /** @default '127.0.0.1' */
  host?: string
  /** @default 0 (a free port) */
  port?: number
  /** Bearer token clients must present. @default 24 random bytes, base64url */
  token?: string
  /** Enables the `/__control/*` endpoints (same bearer token). @default false */
  faultControl?: boolean
  /**
   * Latency of the `slow` fault. The default makes round trips countable by time in tests; a benchmark sets a
   * realistic one (e.g. 20 ms, a nearby region) to see how the gateway's Upstash calls add up.
   * @default SLOW_FAULT_LATENCY_MS
   */
  slowLatencyMs?: number
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
  const ownRedis = configuredUrl ? undefined : await startRedisServer({ dataDir: opts.redisDataDir })
  const redisUrl = configuredUrl || (ownRedis as RedisServer).url
  const state: ServerState = {
    scripts: new Map(),
    shared: createConnection(redisUrl, 'upstash-local', log),
    transactions: createConnection(redisUrl, 'upstash-local-multi', log),
    token,
    faultControl: opts.faultControl ?? false,
    syncTokens: 0,
    faults: new Map(),
    hung: new Map(),
    counters: new Map(),
    total: { requests: 0, commands: 0 },
    slowLatencyMs: opts.slowLatencyMs ?? SLOW_FAULT_LATENCY_MS,
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

// ---------------------------------------------------------------- CLI

/**
 * The `wrangler dev` command that runs the gateway against this server: wrangler.toml's top level is
 * production-strict, so the development environment and the local URL go in as `--var` (over [vars] and
 * .dev.vars); the token and keys come from .dev.vars.
 */
export function wranglerDevCommand(url: string): string {
  return `npx wrangler dev --var ENVIRONMENT:development --var UPSTASH_REDIS_REST_URL:${url}`
}

/** The token: --token, UPSTASH_LOCAL_TOKEN, UPSTASH_REDIS_REST_TOKEN, else the one in `devVarsFile`. */
function chooseToken(given: string | undefined, devVarsFile: string): string | undefined {
  const token = given ?? process.env.UPSTASH_LOCAL_TOKEN ?? process.env.UPSTASH_REDIS_REST_TOKEN
  if (token || !existsSync(devVarsFile)) return token
  return parseDevVars(readFileSync(devVarsFile, 'utf8')).UPSTASH_REDIS_REST_TOKEN || undefined
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      port: { type: 'string' },
      token: { type: 'string' },
      'redis-url': { type: 'string' },
      'dev-vars': { type: 'string' },
    },
  })
  const devVarsFile = path.resolve(values['dev-vars'] ?? path.join(import.meta.dirname, '..', '.dev.vars'))
  const token = chooseToken(values.token, devVarsFile)
  if (!token) {
    console.error(
      `upstash-local: no token: ${path.relative(process.cwd(), devVarsFile) || devVarsFile} has no UPSTASH_REDIS_REST_TOKEN (\`npm run dev\` writes one; or pass --token / set UPSTASH_LOCAL_TOKEN)`,
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
  console.log('run the gateway against it with plain wrangler dev (in another terminal):')
  console.log('  npm run db:migrate:local   # once: the local D1 tables')
  console.log(`  ${wranglerDevCommand(local.url)}`)
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

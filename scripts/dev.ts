/**
 * `npm run dev`: the whole local stack in one command (.dev.vars, local D1 migrations, redis-server + the local
 * Upstash REST server, the echo upstream, `wrangler dev`), so working on the gateway needs no account. Everything it
 * starts, it stops (Ctrl-C, SIGTERM, or when any part dies). Development only; nothing here ships in the Worker.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import net from 'node:net'
import { constants } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { DEVELOPMENT_CORS_ORIGINS, DEVELOPMENT_UPSTREAM_SIGNING_SECRET } from '../src/config/vars.ts'
import { startEchoUpstream } from './echo-upstream.ts'
import { accountEventPrinter, DEV_ACCOUNT_EVENTS_PATH } from './lib/dev-account-events.ts'
import {
  assertHealthy,
  assertNoPlaceholders,
  assertPortFree,
  assertValidConfig,
  checkExtraArgs,
  checkNode,
  checkUrl,
  checkWranglerConfig,
  DevError,
  devBindings,
  parsePort,
} from './lib/dev-checks.ts'
import {
  checkpoint,
  forget,
  isStopping,
  onSignal,
  Stopping,
  say,
  seconds,
  shutdown,
  starting,
  track,
} from './lib/dev-lifecycle.ts'
import { signalGroup, stopGroup, watchGroup } from './lib/dev-process-group.ts'
import { ensureDevVars } from './lib/dev-vars.ts'
import { loadGatewayChecks } from './lib/doctor-worker.ts'
import { freePort } from './lib/free-port.ts'
import { redactUrl } from './lib/redact-url.ts'
import { startStaticServer } from './lib/static-server.ts'
import { startUpstashLocal } from './upstash-local.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const WRANGLER_JS = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
const HOST = '127.0.0.1'
const STEPS = 6
const READY_TIMEOUT_MS = 60_000
const READY_POLL_MS = 150
const REDIS_WATCH_MS = 1_000
/** The example browser app (examples/spa) is served on the gateway's port + this: its own origin (8790 by default). */
const SPA_PORT_OFFSET = 3

const step = (n: number, line: string) => say(`${n}/${STEPS} ${line}`)

function childEnv(): NodeJS.ProcessEnv {
  return {
    ...process.env,
    WRANGLER_SEND_METRICS: process.env.WRANGLER_SEND_METRICS ?? 'false',
    CLOUDFLARE_CF_FETCH_ENABLED: process.env.CLOUDFLARE_CF_FETCH_ENABLED ?? 'false',
    WRANGLER_LOG_PATH: process.env.WRANGLER_LOG_PATH ?? path.join(ROOT, '.wrangler', 'logs'),
  }
}

/**
 * Runs wrangler with this Node (not whatever `node` is first on PATH) in its own
 * process group, so one signal to the group also reaches its workerd children.
 */
function spawnWrangler(name: string, args: string[]): { child: ChildProcess; exited: Promise<number> } {
  const child = spawn(process.execPath, [WRANGLER_JS, ...args], {
    cwd: ROOT,
    env: childEnv(),
    detached: true,
    stdio: ['ignore', 'inherit', 'inherit'],
  })
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? (constants.signals[signal] ?? 0) : 0)))
    child.once('error', (err) => {
      say(`could not start ${name}: ${err.message}`)
      resolve(1)
    })
  })
  const pid = child.pid
  if (pid !== undefined) {
    const watchdog = watchGroup(pid)
    void exited.then(() => watchdog.dismiss())
    track({
      name,
      stop: () => stopGroup(pid, exited).finally(() => watchdog.dismiss()),
      kill: () => signalGroup(pid, 'SIGKILL'),
    })
  }
  return { child, exited }
}

/** One TCP connect to `url`'s host and port; true if something accepted it. */
function answers(url: string): Promise<boolean> {
  const { hostname, port } = new URL(url)
  return new Promise((resolve) => {
    const socket = net.connect({ host: hostname.replace(/^\[|\]$/g, ''), port: Number(port || 6379) })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once('connect', () => done(true))
    socket.once('error', () => done(false))
  })
}

/** upstash-local owns its redis-server child; a lost port is how dev.ts learns that it died. */
function watchRedis(url: string): void {
  let misses = 0
  const timer = setInterval(() => {
    void answers(url).then((ok) => {
      misses = ok ? 0 : misses + 1
      if (misses >= 2 && !isStopping()) void shutdown('redis-server stopped answering', 1)
    })
  }, REDIS_WATCH_MS)
  timer.unref()
}

async function waitUntilReady(port: number, wranglerExited: Promise<number>): Promise<number> {
  let exited: number | undefined
  void wranglerExited.then((code) => {
    exited = code
  })
  const deadline = performance.now() + READY_TIMEOUT_MS
  while (performance.now() < deadline) {
    checkpoint()
    if (exited !== undefined)
      throw new DevError(`wrangler dev exited (code ${exited}) before it was ready; see its output above`)
    try {
      const res = await fetch(`http://${HOST}:${port}/health`, { signal: AbortSignal.timeout(2_000) })
      await res.body?.cancel()
      return res.status
    } catch {
      await sleep(READY_POLL_MS)
    }
  }
  throw new DevError(`wrangler dev did not answer on http://${HOST}:${port} within ${READY_TIMEOUT_MS / 1000} s`)
}

/**
 * @example
 *   npm run dev                                    # gateway on http://127.0.0.1:8787
 *   PORT=8788 npm run dev                          # a second instance beside the first
 *   REDIS_URL=redis://127.0.0.1:6379 npm run dev   # share one Redis between instances
 *   UPSTREAM_URL=http://127.0.0.1:3000 npm run dev # proxy to your own origin
 *   ACCOUNT_EVENTS_URL=http://127.0.0.1:3000/events npm run dev # account events to your own origin
 *   npm run dev -- --var NAME:VALUE                # extra arguments go to `wrangler dev`
 */
async function main(): Promise<void> {
  const t0 = performance.now()
  const argv = process.argv.slice(2)
  const extra = argv[0] === '--' ? argv.slice(1) : argv
  const sharedArgs = checkExtraArgs(extra)
  const port = parsePort(process.env.PORT, SPA_PORT_OFFSET)
  if (process.env.UPSTREAM_URL) checkUrl('UPSTREAM_URL', process.env.UPSTREAM_URL)
  if (process.env.ACCOUNT_EVENTS_URL) checkUrl('ACCOUNT_EVENTS_URL', process.env.ACCOUNT_EVENTS_URL)
  if (process.env.REDIS_URL) checkUrl('REDIS_URL', process.env.REDIS_URL)

  step(1, 'checking Node, wrangler.toml and the gateway port')
  const node = checkNode(ROOT)
  checkWranglerConfig(ROOT)
  await assertPortFree(HOST, port)
  await assertPortFree(HOST, port + SPA_PORT_OFFSET, port) // the example app's, before anything starts
  say(`    Node v${node}; ports ${port} and ${port + SPA_PORT_OFFSET} (the example app) are free`)

  checkpoint()
  step(2, 'ensuring .dev.vars (never overwritten)')
  const devVarsPath = path.join(ROOT, '.dev.vars')
  const { created, added, vars } = ensureDevVars(devVarsPath, { log: (line) => say(`    ${line}`) })
  if (!created && added.length === 0) say('    .dev.vars exists and has every row')
  assertNoPlaceholders(vars)
  const token = vars.UPSTASH_REDIS_REST_TOKEN
  if (!token) {
    throw new DevError(
      'UPSTASH_REDIS_REST_TOKEN in .dev.vars is empty; delete its line and run npm run dev again to regenerate it',
    )
  }

  checkpoint()
  step(3, 'applying D1 migrations locally (wrangler d1 migrations apply DB --local)')
  const migrate = spawnWrangler('wrangler d1 migrations', ['d1', 'migrations', 'apply', 'DB', '--local', ...sharedArgs])
  const migrateCode = await migrate.exited
  forget('wrangler d1 migrations')
  checkpoint()
  if (migrateCode !== 0) throw new DevError(`D1 migrations failed (exit ${migrateCode}); see wrangler's output above`)

  step(
    4,
    process.env.REDIS_URL
      ? 'starting the local Upstash REST server (shared Redis from REDIS_URL)'
      : 'starting redis-server and the local Upstash REST server',
  )
  // Its lifecycle lines ("lost its connection to Redis") are news while running, noise while stopping.
  const upstashLog = (line: string) => {
    if (!isStopping()) say(`    ${line}`)
  }
  // Kept like wrangler's local D1 under .wrangler/state, so revocations and rate-limit windows survive a restart;
  // one directory per gateway port, because two redis-servers must never share one (the port is checked free).
  const redisDataDir = path.join(ROOT, '.wrangler', 'state', 'redis', String(port))
  const upstash = await starting(
    'upstash-local',
    startUpstashLocal({ redisUrl: process.env.REDIS_URL, redisDataDir, token, log: upstashLog }),
    (u) => u.close(),
  )
  say(`    Upstash REST ${upstash.url} -> ${redactUrl(upstash.redisUrl)}`)
  if (!process.env.REDIS_URL) watchRedis(upstash.redisUrl)

  checkpoint()
  let upstreamUrl = process.env.UPSTREAM_URL
  let accountEventsUrl = process.env.ACCOUNT_EVENTS_URL
  if (upstreamUrl) {
    step(5, 'using UPSTREAM_URL from the environment (no echo upstream)')
  } else {
    step(5, 'starting the echo upstream (it prints account events)')
    // What the worker signs with: .dev.vars's secret, or (left empty there) the development-only default.
    const secret = vars.UPSTREAM_SIGNING_SECRET || DEVELOPMENT_UPSTREAM_SIGNING_SECRET
    const onRequest = accountEventPrinter(secret, (line) => say(`    ${line}`))
    const echo = await starting('echo upstream', startEchoUpstream({ host: HOST, onRequest }), (e) => e.close())
    upstreamUrl = echo.url
    accountEventsUrl ??= `${echo.url}${DEV_ACCOUNT_EVENTS_PATH}`
    say(`    echo upstream ${echo.url}`)
  }

  checkpoint()
  const spaRoot = path.join(ROOT, 'examples', 'spa')
  const spa = await starting(
    'example page',
    startStaticServer({ root: spaRoot, host: HOST, port: port + SPA_PORT_OFFSET }),
    (s) => s.close(),
  )
  step(6, `starting wrangler dev on http://${HOST}:${port}`)
  const inspectorPort = await freePort(HOST)
  // wrangler.toml's top level is production-strict; local dev opts out explicitly. Later
  // --var flags win, so `npm run dev -- --var NAME:VALUE` overrides any of these.
  const cliVars = {
    ENVIRONMENT: 'development',
    UPSTASH_REDIS_REST_URL: upstash.url,
    UPSTREAM_URL: upstreamUrl,
    ...(accountEventsUrl ? { ACCOUNT_EVENTS_URL: accountEventsUrl } : {}),
    // The example page calls the gateway with its session cookie (credentials: 'include').
    CORS_ORIGINS: [vars.CORS_ORIGINS || DEVELOPMENT_CORS_ORIGINS.join(','), spa.url].join(','),
    CORS_ALLOW_CREDENTIALS: 'true',
  }
  // The worker's own validator on what wrangler dev will bind: every problem now, not a 500 after "ready".
  const gatewayChecks = await loadGatewayChecks()
  const configProblems = () => gatewayChecks.configIssues(devBindings(ROOT, vars, cliVars, extra)).map((i) => i.message)
  assertValidConfig(configProblems())
  const dev = spawnWrangler('wrangler dev', [
    ...['dev', '--ip', HOST, '--port', String(port), '--inspector-port', String(inspectorPort)],
    '--show-interactive-dev-session=false',
    ...Object.entries(cliVars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ...extra,
  ])
  void dev.exited.then((code) => {
    if (!isStopping()) void shutdown(`wrangler dev exited unexpectedly (code ${code})`, 1)
  })
  const health = await waitUntilReady(port, dev.exited)
  checkpoint()
  assertHealthy(health, health === 200 ? [] : configProblems())

  const gateway = `http://${HOST}:${port}`
  say(`ready in ${seconds(t0)} (GET /health answered ${health})`)
  say(`    gateway    ${gateway}`)
  say(`    upstream   ${upstreamUrl}${process.env.UPSTREAM_URL ? '' : ' (echo; request log at /__echo/log)'}`)
  const printed = accountEventsUrl !== undefined && !process.env.ACCOUNT_EVENTS_URL
  say(
    `    events     ${accountEventsUrl ?? 'none (set ACCOUNT_EVENTS_URL): account events are dropped'}${printed ? ' (printed here, tokens included)' : ''}`,
  )
  say(`    upstash    ${upstash.url} (token in .dev.vars)`)
  say(
    `    redis      ${redactUrl(upstash.redisUrl)}${process.env.REDIS_URL ? ' (shared, from REDIS_URL)' : ` (data kept in ${path.relative(ROOT, redisDataDir)})`}`,
  )
  say(`    inspector  ${HOST}:${inspectorPort}`)
  say(`    example    ${spa.url}/?gateway=${gateway} (a browser app with its session in a cookie)`)
  say(`    try        curl ${gateway}/health`)
  // The command reads the token from .dev.vars rather than printing the secret into the terminal's scrollback.
  if (vars.METRICS_TOKEN)
    say(`    metrics    curl -H "Authorization: Bearer $(sed -n 's/^METRICS_TOKEN=//p' .dev.vars)" ${gateway}/metrics`)
  say('Ctrl-C stops everything.')
}

for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal)
// After SIGHUP the terminal is gone; a failed write must not crash us before the clean-up.
for (const stream of [process.stdout, process.stderr]) stream.on('error', () => {})

main().catch((err: unknown) => {
  if (err instanceof Stopping) return // shutdown is already under way
  // Helpers throw fix-it messages (e.g. "install redis-server"); the stack only on request.
  const detail = err instanceof Error ? (process.env.DEBUG && err.stack ? err.stack : err.message) : String(err)
  say(`error: ${detail}`)
  void shutdown('start-up failed', 1)
})

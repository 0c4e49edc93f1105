/**
 * `npm run dev`: the whole local stack in one command (.dev.vars, local D1 migrations, redis-server + the local
 * Upstash REST server, the echo upstream, `wrangler dev`), so working on the gateway needs no account. Everything it
 * starts, it stops (Ctrl-C, SIGTERM, or when any part dies). Development only; nothing here ships in the Worker.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import net from 'node:net'
import { constants } from 'node:os'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { startEchoUpstream } from './echo-upstream.ts'
import { ensureDevVars } from './lib/dev-vars.ts'
import { freePort } from './lib/free-port.ts'
import { redactUrl } from './lib/redact-url.ts'
import { wranglerConfigProblems } from './lib/wrangler-config.ts'
import { startUpstashLocal } from './upstash-local.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const WRANGLER_JS = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
const HOST = '127.0.0.1'
const DEFAULT_PORT = 8787
const MIN_NODE: readonly [number, number] = [22, 12]
const STEPS = 6
const READY_TIMEOUT_MS = 60_000
const READY_POLL_MS = 150
const STOP_GRACE_MS = 5_000
const REDIS_WATCH_MS = 1_000
const STOP_STEP_TIMEOUT_MS = 10_000
/** `npm run` forwards SIGINT to its child while the terminal also sends it one, so one Ctrl-C can arrive twice. */
const FORCE_AFTER_MS = 1_000
/** Wrangler options that must reach `d1 migrations apply` too, so both use the same database. */
const SHARED_WRANGLER_OPTIONS = new Set(['--persist-to', '--env', '-e', '--config', '-c'])

/** A failure with a message that says how to fix it. */
class DevError extends Error {
  override name = 'DevError'
}
/** Thrown inside `main` once shutdown has begun, to stop starting things. */
class Stopping extends Error {
  override name = 'Stopping'
}

type Resource = { name: string; stop: () => Promise<void>; kill?: () => void }

const resources: Resource[] = []
let stopping = false
let stoppingSince = 0
/** The step in flight; shutdown waits for it so whatever it starts is registered, then stopped. */
let inFlight: Promise<unknown> = Promise.resolve()

const say = (line: string) => console.log(`[dev] ${line}`)
const step = (n: number, line: string) => say(`${n}/${STEPS} ${line}`)
const seconds = (fromMs: number) => `${((performance.now() - fromMs) / 1000).toFixed(1)} s`

function checkpoint(): void {
  if (stopping) throw new Stopping()
}

/** Tracks a starting resource: registered for shutdown as soon as it resolves. */
function starting<T>(name: string, promise: Promise<T>, stop: (value: T) => Promise<void>): Promise<T> {
  const registered = promise.then((value) => {
    resources.push({ name, stop: () => stop(value) })
    return value
  })
  inFlight = registered.catch(() => {})
  return registered
}

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
    resources.push({
      name,
      stop: () => stopGroup(pid, exited),
      kill: () => signalGroup(pid, 'SIGKILL'),
    })
  }
  return { child, exited }
}

function forget(name: string): void {
  const index = resources.findIndex((r) => r.name === name)
  if (index >= 0) resources.splice(index, 1)
}

function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false // ESRCH: the whole group is gone
  }
}

/**
 * Whether any process of group `pgid` is still running. Zombies do not count: they have
 * exited and only wait for init to reap them (slow on some container inits).
 */
function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false
  if (process.platform !== 'linux') return true
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited while we looked
    }
    // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true
  }
  return false
}

async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (groupAlive(pgid)) {
    if (performance.now() >= deadline) return false
    await sleep(50)
  }
  return true
}

/** SIGTERM to the group, SIGKILL after {@link STOP_GRACE_MS}; resolves once no member is left. */
async function stopGroup(pid: number, exited: Promise<number>): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return
  await Promise.race([exited, sleep(STOP_GRACE_MS)])
  if (await waitGroupGone(pid, STOP_GRACE_MS)) return
  signalGroup(pid, 'SIGKILL')
  await waitGroupGone(pid, 2_000)
}

let shuttingDown: Promise<never> | undefined

/** Stops everything started so far, newest first, then exits. Safe to call more than once. */
function shutdown(reason: string, exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true
    stoppingSince = performance.now()
  }
  shuttingDown ??= stopAll(reason, exitCode)
  return shuttingDown
}

async function stopAll(reason: string, exitCode: number): Promise<never> {
  const t0 = performance.now()
  const quiet = resources.length === 0 && exitCode !== 0 // a start-up error before anything ran says it all
  if (!quiet) say(`stopping (${reason})…`)
  await Promise.race([inFlight, sleep(STOP_STEP_TIMEOUT_MS)])
  // Wrangler stops before the services it talks to. Each resource stays listed until
  // it has stopped, so a forced stop (second Ctrl-C) still reaches it.
  for (const resource of resources.slice().reverse()) {
    try {
      await Promise.race([
        resource.stop(),
        sleep(STOP_STEP_TIMEOUT_MS).then(() => {
          throw new Error(`timed out after ${STOP_STEP_TIMEOUT_MS} ms`)
        }),
      ])
    } catch (err) {
      say(`could not stop ${resource.name} cleanly: ${err instanceof Error ? err.message : String(err)}`)
      resource.kill?.()
    }
    forget(resource.name)
  }
  if (!quiet) say(`stopped in ${seconds(t0)}`)
  process.exit(exitCode)
}

function forceKill(): void {
  say('second signal: force-killing')
  for (const resource of resources) resource.kill?.()
  // In-process servers die with this process; give upstash-local a moment to stop its redis-server.
  const upstash = resources.find((r) => r.name === 'upstash-local')
  void Promise.race([upstash?.stop(), sleep(2_000)]).finally(() => process.exit(130))
}

function onSignal(signal: NodeJS.Signals): void {
  if (!stopping) {
    void shutdown(`received ${signal}`, 0)
  } else if (performance.now() - stoppingSince > FORCE_AFTER_MS) {
    forceKill()
  }
}

function parsePort(raw: string | undefined): number {
  if (raw === undefined || raw === '') return DEFAULT_PORT
  const port = Number(raw)
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new DevError(`PORT must be an integer from 1 to 65535, got ${JSON.stringify(raw)}`)
  }
  return port
}

function checkNode(): string {
  const version = process.versions.node
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const [wantMajor, wantMinor] = MIN_NODE
  if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
    const bundled = path.join(ROOT, '.tools', 'node_modules', '.bin')
    const fix = existsSync(path.join(bundled, 'node'))
      ? `put the project's Node first on PATH (export PATH=${bundled}:$PATH)`
      : 'install Node 22 LTS (e.g. `nvm install 22`)'
    throw new DevError(
      `Node ${wantMajor}.${wantMinor} or newer is required (wrangler 4 needs it); this is v${version} at ${process.execPath}.\n` +
        `      Fix: ${fix}, then run \`npm run dev\` again.`,
    )
  }
  return version
}

function assertPortFree(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new DevError(
            `port ${port} on ${HOST} is already in use (another \`npm run dev\`?). ` +
              `Stop that process, or pick another port: PORT=${port + 1} npm run dev`,
          ),
        )
      } else if (err.code === 'EACCES') {
        reject(new DevError(`not allowed to listen on port ${port}; pick a port above 1023: PORT=8787 npm run dev`))
      } else {
        reject(err)
      }
    })
    probe.listen({ port, host: HOST, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/** Splits `wrangler dev` pass-through arguments; refuses the ones dev.ts sets itself. */
function checkExtraArgs(extra: string[]): string[] {
  const shared: string[] = []
  for (let i = 0; i < extra.length; i++) {
    const arg = extra[i] as string
    const [flag = '', inline] = arg.split(/=(.*)/s, 2)
    if (flag === '--port' || flag === '--ip' || flag === '--inspector-port') {
      throw new DevError(`${flag} is set by npm run dev; use PORT=N npm run dev to choose the gateway port`)
    }
    if (SHARED_WRANGLER_OPTIONS.has(flag)) {
      if (inline !== undefined) shared.push(arg)
      else if (i + 1 < extra.length) shared.push(arg, extra[i + 1] as string)
    }
  }
  return shared
}

/** Fails fast on a malformed URL in the environment; echoes it back only with its password masked. */
function checkUrl(name: string, value: string): void {
  const scheme = name === 'REDIS_URL' ? /^rediss?:$/ : /^https?:$/
  const example = name === 'REDIS_URL' ? 'redis://127.0.0.1:6379' : 'http://127.0.0.1:3000'
  let protocol: string
  try {
    protocol = new URL(value).protocol
  } catch {
    throw new DevError(`${name} is not a URL; expected something like ${example}`)
  }
  if (!scheme.test(protocol)) throw new DevError(`${name} must be a URL like ${example}; got ${redactUrl(value)}`)
}

/** Refuses what `npm run build` would refuse in wrangler.toml, so it surfaces on the first `npm run dev`. */
function checkWranglerConfig(): void {
  const problems = wranglerConfigProblems(readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'))
  if (problems.length > 0) throw new DevError(`wrangler.toml: ${problems.join('\n      ')}`)
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
      if (misses >= 2 && !stopping) void shutdown('redis-server stopped answering', 1)
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
 *   npm run dev -- --var NAME:VALUE                # extra arguments go to `wrangler dev`
 */
async function main(): Promise<void> {
  const t0 = performance.now()
  const argv = process.argv.slice(2)
  const extra = argv[0] === '--' ? argv.slice(1) : argv
  const sharedArgs = checkExtraArgs(extra)
  const port = parsePort(process.env.PORT)
  if (process.env.UPSTREAM_URL) checkUrl('UPSTREAM_URL', process.env.UPSTREAM_URL)
  if (process.env.REDIS_URL) checkUrl('REDIS_URL', process.env.REDIS_URL)

  step(1, 'checking Node, wrangler.toml and the gateway port')
  const node = checkNode()
  checkWranglerConfig()
  await assertPortFree(port)
  say(`    Node v${node}; port ${port} is free`)

  checkpoint()
  step(2, 'ensuring .dev.vars (never overwritten)')
  const devVarsPath = path.join(ROOT, '.dev.vars')
  const { created, added, vars } = ensureDevVars(devVarsPath, { log: (line) => say(`    ${line}`) })
  if (!created && added.length === 0) say('    .dev.vars exists and has every row')
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
    if (!stopping) say(`    ${line}`)
  }
  const upstash = await starting(
    'upstash-local',
    startUpstashLocal({ redisUrl: process.env.REDIS_URL, token, log: upstashLog }),
    (u) => u.close(),
  )
  say(`    Upstash REST ${upstash.url} -> ${redactUrl(upstash.redisUrl)}`)
  if (!process.env.REDIS_URL) watchRedis(upstash.redisUrl)

  checkpoint()
  let upstreamUrl = process.env.UPSTREAM_URL
  if (upstreamUrl) {
    step(5, 'using UPSTREAM_URL from the environment (no echo upstream)')
  } else {
    step(5, 'starting the echo upstream')
    const echo = await starting('echo upstream', startEchoUpstream({ host: HOST }), (e) => e.close())
    upstreamUrl = echo.url
    say(`    echo upstream ${echo.url}`)
  }

  checkpoint()
  step(6, `starting wrangler dev on http://${HOST}:${port}`)
  const inspectorPort = await freePort(HOST)
  // wrangler.toml's top level is production-strict; local dev opts out explicitly. Later
  // --var flags win, so `npm run dev -- --var NAME:VALUE` overrides any of these.
  const cliVars = { ENVIRONMENT: 'development', UPSTASH_REDIS_REST_URL: upstash.url, UPSTREAM_URL: upstreamUrl }
  const dev = spawnWrangler('wrangler dev', [
    ...['dev', '--ip', HOST, '--port', String(port), '--inspector-port', String(inspectorPort)],
    '--show-interactive-dev-session=false',
    ...Object.entries(cliVars).flatMap(([name, value]) => ['--var', `${name}:${value}`]),
    ...extra,
  ])
  void dev.exited.then((code) => {
    if (!stopping) void shutdown(`wrangler dev exited unexpectedly (code ${code})`, 1)
  })
  const health = await waitUntilReady(port, dev.exited)
  checkpoint()

  const gateway = `http://${HOST}:${port}`
  say(`ready in ${seconds(t0)} (GET /health answered ${health})`)
  say(`    gateway    ${gateway}`)
  say(`    upstream   ${upstreamUrl}${process.env.UPSTREAM_URL ? '' : ' (echo; request log at /__echo/log)'}`)
  say(`    upstash    ${upstash.url} (token in .dev.vars)`)
  say(
    `    redis      ${redactUrl(upstash.redisUrl)}${process.env.REDIS_URL ? ' (shared, from REDIS_URL)' : ' (ephemeral, this run only)'}`,
  )
  say(`    inspector  ${HOST}:${inspectorPort}`)
  say(`    try        curl ${gateway}/health`)
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

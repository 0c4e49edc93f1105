// Starts a redis-server for tests and local development: loopback only; throwaway (no persistence, its own temp
// dir) unless given a data directory to keep. It never connects to anything else and never outlives a normally
// exiting parent.
import { type ChildProcess, spawn } from 'node:child_process'
import { accessSync, constants, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { freePort } from './free-port.ts'

export interface RedisServerOptions {
  /** @default a free port chosen by the OS */
  port?: number
  /** Receives redis-server's own output, line by line. @default discard */
  log?: (line: string) => void
  /**
   * Keep the data in this directory (created if missing) across runs: an append-only file synced every second,
   * loaded again by the next start with the same directory. Only one server may use a directory at a time.
   * @default none: a throwaway temp dir, nothing written to disk, removed on stop
   */
  dataDir?: string
}

export interface RedisServer {
  url: string
  port: number
  stop(): Promise<void>
}

const HOST = '127.0.0.1'
const READY_TIMEOUT_MS = 10_000
const STOP_TIMEOUT_MS = 3_000
const PORT_ATTEMPTS = 3

export const REDIS_SERVER_MISSING_MESSAGE =
  'redis-server was not found on PATH. Install it (Debian/Ubuntu: `sudo apt-get install redis-server`; ' +
  'macOS: `brew install redis`), or set REDIS_URL to an existing Redis (for example redis://127.0.0.1:6379).'

/**
 * Spawns `redis-server` from PATH on 127.0.0.1 with `--save '' --appendonly no` (or, given `dataDir`,
 * `--appendonly yes` there) and waits until it answers PING.
 * @example const redis = await startRedisServer(); try { use(redis.url) } finally { await redis.stop() }
 */
export async function startRedisServer(opts: RedisServerOptions = {}): Promise<RedisServer> {
  const binary = findOnPath('redis-server')
  if (!binary) throw new Error(REDIS_SERVER_MISSING_MESSAGE)
  for (let attempt = 1; ; attempt++) {
    const port = opts.port ?? (await freePort(HOST))
    try {
      return await launch(binary, port, opts.log ?? (() => {}), opts.dataDir)
    } catch (err) {
      // A free port can be taken between freePort() and redis binding it; only then is a retry useful.
      if (opts.port !== undefined || attempt >= PORT_ATTEMPTS || !isAddressInUse(err)) throw err
    }
  }
}

// redis-server runs under a tiny sh watchdog that stops it as soon as the watchdog's stdin closes: on stop(), and
// also when this process dies in a way no 'exit' handler sees (SIGKILL, a killed test worker). Its own session
// lets a last-resort SIGKILL reach the watchdog and redis together. `dir` is the throwaway directory it removes
// afterwards; empty for a kept data directory. The plain `kill` is a SIGTERM: redis syncs its append-only file.
const WATCHDOG = [
  'bin=$1; dir=$2; shift 2',
  '"$bin" "$@" & pid=$!',
  'exec 3<&0',
  '(read _ <&3; kill $pid) >/dev/null 2>&1 &',
  'wait $pid; status=$?; [ -z "$dir" ] || rm -rf "$dir"; exit $status',
].join('\n')

async function launch(
  binary: string,
  port: number,
  log: (line: string) => void,
  dataDir: string | undefined,
): Promise<RedisServer> {
  if (dataDir) mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const dir = dataDir ? path.resolve(dataDir) : mkdtempSync(path.join(tmpdir(), 'edgeward-redis-'))
  const throwaway = dataDir ? '' : dir
  const output: string[] = []
  const args = redisArgs(port, dir, dataDir !== undefined)
  const child = spawn('/bin/sh', ['-c', WATCHDOG, 'redis-watchdog', binary, throwaway, ...args], {
    detached: true,
    stdio: ['pipe', 'pipe', 'pipe'],
  })
  const exited = new Promise<void>((resolve) => child.once('close', () => resolve()))
  const killOnExit = () => killNow(child, throwaway)
  process.once('exit', killOnExit)
  forwardLines(child, (line) => {
    output.push(line)
    if (output.length > 20) output.shift()
    log(line)
  })
  // A forgotten stop() must not keep the parent alive; the watchdog cleans up when it exits.
  unrefAll(child)

  let stopping: Promise<void> | undefined
  const stop = () => {
    stopping ??= (async () => {
      process.removeListener('exit', killOnExit)
      await terminate(child, exited)
      if (throwaway) rmSync(throwaway, { recursive: true, force: true })
    })()
    return stopping
  }

  const ready = await Promise.race([waitForPong(port), exited.then(() => false)])
  if (!ready) {
    await stop()
    throw new Error(`redis-server did not start on ${HOST}:${port}: ${output.join(' | ') || 'no output'}`)
  }
  return { url: `redis://${HOST}:${port}`, port, stop }
}

function redisArgs(port: number, dir: string, keep: boolean): string[] {
  return [
    '--port',
    String(port),
    '--bind',
    HOST,
    '--save',
    '',
    ...(keep ? ['--appendonly', 'yes', '--appendfsync', 'everysec'] : ['--appendonly', 'no']),
    '--dir',
    dir,
    '--loglevel',
    'warning',
    '--daemonize',
    'no',
  ]
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue
    const candidate = path.join(dir, command)
    try {
      accessSync(candidate, constants.X_OK)
      return candidate
    } catch {
      // not in this directory
    }
  }
  return undefined
}

function forwardLines(child: ChildProcess, onLine: (line: string) => void): void {
  for (const stream of [child.stdout, child.stderr]) {
    if (stream) createInterface({ input: stream }).on('line', onLine)
  }
}

async function waitForPong(port: number): Promise<boolean> {
  const deadline = Date.now() + READY_TIMEOUT_MS
  while (Date.now() < deadline) {
    if (await answersPing(port)) return true
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
  return false
}

// An inline command is enough for a readiness probe; real traffic goes through ioredis.
function answersPing(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: HOST })
    const done = (ok: boolean) => {
      socket.destroy()
      resolve(ok)
    }
    socket.setTimeout(1000, () => done(false))
    socket.once('error', () => done(false))
    socket.once('connect', () => socket.write('PING\r\n'))
    socket.once('data', (chunk) => done(chunk.toString('latin1').startsWith('+PONG')))
  })
}

async function terminate(child: ChildProcess, exited: Promise<void>): Promise<void> {
  child.stdin?.end()
  const timer = setTimeout(() => killGroup(child), STOP_TIMEOUT_MS)
  await exited
  clearTimeout(timer)
}

function killNow(child: ChildProcess, throwaway: string): void {
  killGroup(child)
  if (throwaway) rmSync(throwaway, { recursive: true, force: true })
}

function killGroup(child: ChildProcess): void {
  try {
    if (child.pid !== undefined) process.kill(-child.pid, 'SIGKILL')
  } catch {
    // already gone
  }
}

function unrefAll(child: ChildProcess): void {
  child.unref()
  for (const stream of [child.stdin, child.stdout, child.stderr]) {
    ;(stream as { unref?: () => void } | null)?.unref?.()
  }
}

function isAddressInUse(err: unknown): boolean {
  return err instanceof Error && /address already in use/i.test(err.message)
}

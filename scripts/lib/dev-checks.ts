// The checks `npm run dev` makes before it starts anything (Node version, port, arguments, URLs, wrangler.toml),
// each failing with a message that says how to fix it.
import { existsSync, readFileSync } from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { parse } from 'smol-toml'
import { placeholderNames } from './dev-vars.ts'
import { redactUrl } from './redact-url.ts'
import { wranglerConfigProblems } from './wrangler-config.ts'

const DEFAULT_PORT = 8787
const MIN_NODE: readonly [number, number] = [22, 12]
/** Wrangler options that must reach `d1 migrations apply` too, so both use the same database. */
const SHARED_WRANGLER_OPTIONS = new Set(['--persist-to', '--env', '-e', '--config', '-c'])

/** A failure with a message that says how to fix it. */
export class DevError extends Error {
  override name = 'DevError'
}

/** The gateway port from PORT, 8787 when unset; `above` ports after it must exist too (the example app's). */
export function parsePort(raw: string | undefined, above = 0): number {
  if (raw === undefined || raw === '') return DEFAULT_PORT
  const port = Number(raw)
  const highest = 65535 - above
  if (!Number.isInteger(port) || port < 1 || port > highest) {
    throw new DevError(`PORT must be an integer from 1 to ${highest}, got ${JSON.stringify(raw)}`)
  }
  return port
}

/** The running Node's version if wrangler can run on it; the fix-it names the project's bundled Node under `root`. */
export function checkNode(root: string): string {
  const version = process.versions.node
  const [major = 0, minor = 0] = version.split('.').map(Number)
  const [wantMajor, wantMinor] = MIN_NODE
  if (major < wantMajor || (major === wantMajor && minor < wantMinor)) {
    const bundled = path.join(root, '.tools', 'node_modules', '.bin')
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

/**
 * Fails unless `port` on `host` can be listened on now. `gatewayPort`: the port PORT chose, when `port` is one
 * derived from it (the example app's), so the fix-it moves both.
 */
export function assertPortFree(host: string, port: number, gatewayPort = port): Promise<void> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer()
    probe.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') {
        reject(
          new DevError(
            `port ${port} on ${host} is already in use (another \`npm run dev\`?). ` +
              `Stop that process, or pick another port: PORT=${gatewayPort + 1} npm run dev` +
              (gatewayPort === port ? '' : ` (port ${port} is the example app's: PORT + ${port - gatewayPort})`),
          ),
        )
      } else if (err.code === 'EACCES') {
        reject(new DevError(`not allowed to listen on port ${port}; pick a port above 1023: PORT=8787 npm run dev`))
      } else {
        reject(err)
      }
    })
    probe.listen({ port, host, exclusive: true }, () => probe.close(() => resolve()))
  })
}

/** Splits `wrangler dev` pass-through arguments; refuses the ones dev.ts sets itself. */
export function checkExtraArgs(extra: string[]): string[] {
  const shared: string[] = []
  for (let i = 0; i < extra.length; i++) {
    const arg = extra[i] as string
    const [spelled = '', inline] = arg.split(/=(.*)/s, 2)
    // wrangler (yargs) reads `--inspectorIp` as `--inspector-ip`: compare the kebab-case spelling.
    const flag = spelled.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    if (flag === '--port' || flag === '--ip' || flag === '--inspector-port' || flag === '--inspector-ip') {
      // Every listener stays on loopback: the inspector above all, a debugger that runs code in the worker.
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
export function checkUrl(name: string, value: string): void {
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
export function checkWranglerConfig(root: string): void {
  const problems = wranglerConfigProblems(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'))
  if (problems.length > 0) throw new DevError(`wrangler.toml: ${problems.join('\n      ')}`)
}

/** The `--var NAME:VALUE` pairs among `wrangler dev` pass-through arguments (`--var=NAME:VALUE` too). */
export function varArgs(extra: string[]): Record<string, string> {
  const vars: Record<string, string> = {}
  for (let i = 0; i < extra.length; i++) {
    const arg = extra[i] as string
    const inline = arg.startsWith('--var=') ? arg.slice('--var='.length) : undefined
    const pairs = inline !== undefined ? [inline] : arg === '--var' ? takeValues(extra, i + 1) : []
    for (const pair of pairs) {
      const colon = pair.indexOf(':')
      if (colon > 0) vars[pair.slice(0, colon)] = pair.slice(colon + 1)
    }
  }
  return vars
}

/** The values after a flag, up to the next flag (`--var A:1 B:2`). */
function takeValues(args: string[], from: number): string[] {
  const values: string[] = []
  for (let i = from; i < args.length && !(args[i] as string).startsWith('-'); i++) values.push(args[i] as string)
  return values
}

/**
 * The bindings `wrangler dev` gives the worker, in its order of precedence: wrangler.toml's top-level `[vars]`,
 * then `.dev.vars`, then each `--var` (npm run dev's own, then the user's).
 */
export function devBindings(
  root: string,
  devVars: Record<string, string>,
  cliVars: Record<string, string>,
  extra: string[],
): Record<string, unknown> {
  const parsed = parse(readFileSync(path.join(root, 'wrangler.toml'), 'utf8'))
  const tomlVars = typeof parsed.vars === 'object' && parsed.vars !== null ? parsed.vars : {}
  return { ...tomlVars, ...devVars, ...cliVars, ...varArgs(extra) }
}

/** Fails with every configuration problem the worker would log, before wrangler starts: one round, each with its fix. */
export function assertValidConfig(problems: string[]): void {
  if (problems.length === 0) return
  throw new DevError(
    `the gateway would start with an invalid configuration (${problems.length} problem${problems.length === 1 ? '' : 's'}):\n      ${problems.join('\n      ')}`,
  )
}

/**
 * What `npm run dev` makes of the first `GET /health` answer: 200 is ready; anything else fails the start-up, with
 * the configuration problems when there are any (a 500), else the dependency that failed (a 503).
 */
export function assertHealthy(status: number, problems: string[]): void {
  if (status === 200) return
  if (problems.length > 0) {
    throw new DevError(
      `GET /health answered ${status}, not 200: the configuration is invalid:\n      ${problems.join('\n      ')}`,
    )
  }
  const why =
    status === 503
      ? 'Redis or D1 did not answer (the health_check_failed record above names which)'
      : "see wrangler's output above"
  throw new DevError(`GET /health answered ${status}, not 200: the gateway is not healthy; ${why}`)
}

/** Refuses a `.dev.vars` copied from `.dev.vars.example`: the values still holding its placeholder, by name. */
export function assertNoPlaceholders(vars: Record<string, string>): void {
  const unfilled = placeholderNames(vars)
  if (unfilled.length > 0) {
    throw new DevError(
      `.dev.vars has the placeholder of .dev.vars.example for ${unfilled.join(', ')}: delete those lines (or the file) and run npm run dev again to generate them`,
    )
  }
}

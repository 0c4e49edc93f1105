/**
 * Where the doctor learns which secrets are set: `wrangler secret list` for a deployed worker (names only:
 * Cloudflare never gives a secret back), `.dev.vars` locally (values), or nowhere (not logged in, offline: the
 * secret check is skipped, not failed). Sources are plain functions so tests inject their own and never call
 * Cloudflare.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { parseDevVars } from './dev-vars.ts'
import { generateEd25519Jwks, generateHmacSecret } from './keys.ts'

/** Every secret the gateway reads (README "Secrets"): never a wrangler.toml var. */
export const SECRET_NAMES = [
  'UPSTASH_REDIS_REST_TOKEN',
  'JWT_PRIVATE_KEY',
  'JWT_SECRET',
  'JWT_PREVIOUS_SECRETS',
  'METRICS_TOKEN',
  'PASSWORD_PEPPER',
  'UPSTREAM_SIGNING_SECRET',
] as const

/** The secrets a gateway needs outside development, assumed set (and strong) when the check is skipped. */
const ASSUMED_WHEN_SKIPPED = [
  'UPSTASH_REDIS_REST_TOKEN',
  'JWT_PRIVATE_KEY',
  'PASSWORD_PEPPER',
  'UPSTREAM_SIGNING_SECRET',
]

export type SecretReport =
  /** Values read locally: the validator checks presence and strength. */
  | { kind: 'values'; from: string; values: Record<string, string> }
  /** Names of the secrets set on the worker: presence only. */
  | { kind: 'names'; from: string; names: string[] }
  /** No source could be read; `reason` says why. */
  | { kind: 'skipped'; reason: string }

export type SecretSource = () => Promise<SecretReport>

/**
 * What the validator is given for the secrets: the values read, or for a name known only to be set (or assumed
 * set, the check skipped) a strong random stand-in, so it checks presence and combinations but not strength.
 */
export function secretBindings(report: SecretReport): Record<string, string> {
  if (report.kind === 'values') return report.values
  const names = report.kind === 'names' ? report.names : ASSUMED_WHEN_SKIPPED
  const bindings: Record<string, string> = {}
  for (const name of names) {
    if (!(SECRET_NAMES as readonly string[]).includes(name)) continue
    bindings[name] =
      name === 'JWT_PRIVATE_KEY' ? JSON.stringify(generateEd25519Jwks().privateJwk) : generateHmacSecret()
  }
  return bindings
}

/**
 * A dotenv file of secret values: `.dev.vars` beside wrangler.toml (which `wrangler dev` reads over the top level's
 * vars), or with `--secrets-file` the values about to be put, checked before `wrangler secret put`.
 */
export function secretsFileSource(file: string): SecretSource {
  return async () => {
    const shown = path.relative(process.cwd(), file)
    if (!existsSync(file)) return { kind: 'values', from: `${shown} (missing)`, values: {} }
    return { kind: 'values', from: shown, values: parseDevVars(readFileSync(file, 'utf8')) }
  }
}

export type RunWrangler = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>

/** Runs wrangler with this Node, non-interactively (never a login prompt), within `timeoutMs`. */
export function wranglerRunner(root: string, timeoutMs = 60_000): RunWrangler {
  const bin = path.join(root, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
  return (args) =>
    new Promise((resolve) => {
      const child = spawn(process.execPath, [bin, ...args], {
        cwd: root,
        env: { ...process.env, CI: 'true', WRANGLER_SEND_METRICS: 'false' },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: timeoutMs,
      })
      let stdout = ''
      let stderr = ''
      child.stdout.on('data', (chunk) => {
        stdout += chunk
      })
      child.stderr.on('data', (chunk) => {
        stderr += chunk
      })
      child.once('error', (error) => resolve({ code: 1, stdout, stderr: error.message }))
      child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
    })
}

const ANSI = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g')

/** Why wrangler could not list the secrets: not logged in, offline, or the first line it printed. */
function wranglerReason(text: string): string {
  if (/CLOUDFLARE_API_TOKEN|not authenticated|not logged in/i.test(text)) {
    return 'not logged in to Cloudflare (no `npx wrangler login`, no CLOUDFLARE_API_TOKEN)'
  }
  if (/fetch failed|ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ETIMEDOUT|network/i.test(text)) {
    return "offline: Cloudflare's API could not be reached"
  }
  const lines = text
    .replace(ANSI, '')
    .split('\n')
    .map((l) => l.replace(/^[\s✘▲X]*(\[ERROR\])?\s*/, '').trim())
    .filter((l) => l.length > 0 && !/log file|^🪵|^⛅️|^─+$/.test(l))
  return lines[0] ?? 'no output'
}

/** The names `wrangler secret list [--env NAME] [--config FILE]` reports, or why it could not. */
export function wranglerSecretSource(run: RunWrangler, env: string | undefined, config?: string): SecretSource {
  const args = [
    'secret',
    'list',
    '--format',
    'json',
    // Spelled out, as npm run deploy gives them to wrangler deploy: wrangler would otherwise take an environment
    // from CLOUDFLARE_ENV (a .env file's too) and list another worker's secrets than the one checked.
    '--env',
    env ?? '',
    '--config',
    config ?? 'wrangler.toml',
  ]
  const from = `npx wrangler ${args.join(' ')}`
  return async () => {
    const { code, stdout, stderr } = await run(args)
    if (code !== 0) return { kind: 'skipped', reason: `\`${from}\` failed: ${wranglerReason(`${stderr}\n${stdout}`)}` }
    try {
      const list = JSON.parse(stdout.slice(stdout.indexOf('['))) as { name?: unknown }[]
      return { kind: 'names', from, names: list.map((s) => String(s.name)) }
    } catch {
      return { kind: 'skipped', reason: `\`${from}\` printed no JSON list: ${wranglerReason(stdout)}` }
    }
  }
}

/**
 * `npm run admin`: operator tasks that cannot go through the gateway, such as creating the first administrator
 * (every `/auth/admin/` route needs one). The password is read from standard input only, never from an argument.
 */
import { spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { parse, type TomlTable } from 'smol-toml'
import { createUser, type D1Target, type Wrangler } from './lib/admin-users.ts'
import { parseDevVars } from './lib/dev-vars.ts'
import { InputError, readHidden, readPassword } from './lib/secret-input.ts'
import { loadWorkerModules, type WorkerModules } from './lib/worker-modules.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const WRANGLER_JS = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')

const USAGE = `usage: npm run admin -- create-user --email EMAIL [--scope SCOPE]... (--local [--persist-to DIR] [--dev-vars FILE] | --env ENV)

The password is read from standard input: typed twice (not shown) at a terminal, or piped, e.g.
  read -rs PW && printf '%s' "$PW" | npm run --silent admin -- create-user --email you@example.com --scope edgeward:admin --local
--local writes to the local D1 of npm run dev (the same --persist-to, if you gave npm run dev one) and hashes
with PASSWORD_PEPPER from .dev.vars. --env ENV writes to that environment's remote D1 (wrangler login first);
its pepper cannot be read back from Cloudflare, so give it as PASSWORD_PEPPER in the environment, or type it
when asked at a terminal.`

/** Runs the project's wrangler with this Node; PASSWORD_PEPPER stays out of its environment. */
const runWrangler: Wrangler = (args) =>
  new Promise((resolve, reject) => {
    const { PASSWORD_PEPPER: _pepper, ...env } = process.env
    const child = spawn(process.execPath, [WRANGLER_JS, ...args], {
      cwd: ROOT,
      env: { ...env, WRANGLER_SEND_METRICS: env.WRANGLER_SEND_METRICS ?? 'false' },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8')
    })
    child.once('error', reject)
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }))
  })

function parseCommandLine(args: string[]) {
  try {
    return parseArgs({
      args,
      options: {
        email: { type: 'string' },
        scope: { type: 'string', multiple: true, default: [] },
        local: { type: 'boolean', default: false },
        env: { type: 'string' },
        'persist-to': { type: 'string' },
        'dev-vars': { type: 'string', default: path.join(ROOT, '.dev.vars') },
      },
    }).values
  } catch (err) {
    // Node's message would quote a stray argument, which may be a password typed where it does not belong.
    const code = (err as { code?: string }).code
    if (code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL') {
      throw new InputError(
        `unexpected argument: the password is read from standard input, never from the command line\n${USAGE}`,
      )
    }
    throw new InputError(`${(err as Error).message}\n${USAGE}`)
  }
}

/** A var of the deployable configuration `env` (undefined: the top level) in wrangler.toml. */
function wranglerVar(env: string | undefined, name: string): unknown {
  const config = parse(readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8'))
  const table = (value: unknown) => (typeof value === 'object' && value !== null ? (value as TomlTable) : undefined)
  const scope = env === undefined ? config : table(table(config.env)?.[env])
  if (scope === undefined) throw new InputError(`wrangler.toml has no [env.${env}]`)
  return table(scope.vars)?.[name]
}

function minLength(value: unknown): number {
  const length = value === undefined ? 8 : Number(value)
  if (!Number.isInteger(length)) throw new InputError('PASSWORD_MIN_LENGTH is not an integer')
  return length
}

/** The pepper and policy of the gateway that will verify the password, and where its D1 is. */
async function gatewaySettings(values: ReturnType<typeof parseCommandLine>, modules: WorkerModules) {
  if (values.local === (values.env !== undefined))
    throw new InputError(`give exactly one of --local and --env\n${USAGE}`)
  if (values.env !== undefined) {
    if (values['persist-to'] !== undefined) throw new InputError('--persist-to goes with --local only')
    const target: D1Target = { local: false, env: values.env }
    const length = minLength(wranglerVar(values.env, 'PASSWORD_MIN_LENGTH'))
    let pepper = process.env.PASSWORD_PEPPER
    if (pepper === undefined && process.stdin.isTTY) {
      pepper = await readHidden(process.stdin, process.stderr, `PASSWORD_PEPPER of --env ${values.env} (not shown): `)
    }
    if (!pepper) throw new InputError(`set PASSWORD_PEPPER to the secret of --env ${values.env} (or run at a terminal)`)
    const weak = modules.weakSecretReason(pepper)
    if (weak !== undefined) throw new InputError(`PASSWORD_PEPPER ${weak}: the gateway would refuse it`)
    return { target, pepper, minLength: length }
  }
  const file = values['dev-vars']
  if (!existsSync(file)) throw new InputError(`${file} does not exist: run npm run dev once to create it`)
  const vars = parseDevVars(readFileSync(file, 'utf8'))
  const target: D1Target = { local: true, persistTo: values['persist-to'] }
  const length = minLength(vars.PASSWORD_MIN_LENGTH ?? wranglerVar(undefined, 'PASSWORD_MIN_LENGTH'))
  // Without one in .dev.vars, a development gateway uses the public development pepper.
  return { target, pepper: vars.PASSWORD_PEPPER || modules.developmentPepper, minLength: length }
}

async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command !== 'create-user') throw new InputError(USAGE)
  const values = parseCommandLine(rest)
  if (values.email === undefined) throw new InputError(`--email is required\n${USAGE}`)
  const modules = await loadWorkerModules()
  const settings = await gatewaySettings(values, modules)
  const password = await readPassword(process.stdin, process.stderr)
  const user = await createUser(
    { email: values.email, scopes: values.scope, password, ...settings },
    modules,
    runWrangler,
  )
  const where = settings.target.local ? 'the local D1' : `the D1 of --env ${values.env}`
  console.log(`created user ${user.id} (${user.email}) with scopes [${user.scopes.join(' ')}] in ${where}`)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof InputError ? err.message : err instanceof Error ? err.message : String(err))
    process.exit(err instanceof InputError ? 2 : 1)
  })
}

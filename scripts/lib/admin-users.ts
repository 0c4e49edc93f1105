/**
 * `npm run admin -- create-user`, without the command line: checks the address, scopes and password as the gateway
 * would, hashes with the gateway's own KDF and pepper, and inserts the row through `wrangler d1 execute --file`,
 * so neither the password nor its hash is ever a process argument.
 */
import { randomUUID } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { InputError } from './secret-input.ts'
import type { WorkerModules } from './worker-modules.ts'

/** Which D1 the row goes to: the local one `npm run dev` uses, or an environment's remote database. */
export type D1Target = { local: true; persistTo?: string } | { local: false; env: string }

/** Runs `wrangler <args>` and returns its exit code and output. */
export type Wrangler = (args: string[]) => Promise<{ code: number; stdout: string; stderr: string }>

export interface NewUser {
  email: string
  scopes: string[]
  password: string
  /** The PASSWORD_PEPPER of the gateway that will verify the hash. */
  pepper: string
  /** PASSWORD_MIN_LENGTH of that gateway. */
  minLength: number
  target: D1Target
}

export interface CreatedUser {
  id: string
  email: string
  scopes: string[]
}

/** A SQL string literal: quotes doubled. NUL is refused (SQLite would end the string there). */
export function sqlText(value: string): string {
  if (value.includes('\0')) throw new InputError('a value holds a NUL character')
  return `'${value.replaceAll("'", "''")}'`
}

/**
 * The one statement: a duplicate address (any case, the unique index) inserts nothing rather than failing. The
 * operator vouches for the address, so it counts as verified: with REGISTRATION=verify a pending account could not
 * sign in.
 */
export function insertUserSql(row: { id: string; email: string; passwordHash: string; scopes: string[] }): string {
  const values = [row.id, row.email, row.passwordHash, row.scopes.join(' ')].map(sqlText).join(', ')
  return `INSERT INTO users (id, email, password_hash, scopes, created_at, updated_at, email_verified_at)\nVALUES (${values}, unixepoch(), unixepoch(), unixepoch())\nON CONFLICT DO NOTHING;\n`
}

export function targetArgs(target: D1Target): string[] {
  if (target.local) return ['--local', ...(target.persistTo === undefined ? [] : ['--persist-to', target.persistTo])]
  return ['--remote', '--env', target.env]
}

/** The address, scopes and password as the gateway checks them; an InputError that names no secret otherwise. */
function check(user: NewUser, modules: WorkerModules): { email: string; scopes: string[] } {
  const parsed = modules.emailSchema.safeParse(user.email)
  const email = parsed.success ? modules.normalizeEmail(parsed.data) : null
  if (email === null) throw new InputError('--email is not an address the login route accepts')
  const bad = user.scopes.find((scope) => !modules.isScopeToken(scope))
  if (bad !== undefined) throw new InputError(`--scope ${JSON.stringify(bad)} is not a scope token (RFC 6749 §3.3)`)
  const unique = [...new Set(user.scopes)]
  const tooMany = modules.scopeSetProblem(unique)
  if (tooMany !== undefined)
    throw new InputError(`--scope: ${tooMany}: the account's tokens would be too large to verify`)
  const { passwords } = modules
  if (Buffer.byteLength(user.password) > passwords.MAX_PASSWORD_INPUT_BYTES) {
    throw new InputError(`the password is longer than ${passwords.MAX_PASSWORD_INPUT_BYTES} bytes`)
  }
  const policy = passwords.checkPasswordPolicy(user.password, { minLength: user.minLength, email })
  if (!policy.ok) {
    throw new InputError(
      `the password breaks the policy (${policy.reason}): ${policy.minLength} to ${policy.maxLength} characters, not a common password, not the address`,
    )
  }
  return { email, scopes: unique }
}

/** `text` with every occurrence of `secret` replaced: wrangler may echo a failed statement. */
const redact = (text: string, secret: string) => text.replaceAll(secret, '[password hash]')

async function execute(wrangler: Wrangler, args: string[], hash: string): Promise<string> {
  const { code, stdout, stderr } = await wrangler(args)
  if (code !== 0) {
    throw new InputError(`wrangler d1 execute failed (exit ${code}):\n${redact(`${stderr}\n${stdout}`, hash).trim()}`)
  }
  return stdout
}

/**
 * Creates the account, or refuses with an InputError (nothing written) for an unacceptable input or a taken
 * address. The SQL file lives in a private temporary directory only while wrangler reads it.
 */
export async function createUser(user: NewUser, modules: WorkerModules, wrangler: Wrangler): Promise<CreatedUser> {
  const { email, scopes } = check(user, modules)
  const id = randomUUID()
  const passwordHash = await modules.passwords.hashPassword(user.password, user.pepper)
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeward-admin-'))
  try {
    const file = path.join(dir, 'create-user.sql')
    writeFileSync(file, insertUserSql({ id, email, passwordHash, scopes }), { mode: 0o600 })
    const target = targetArgs(user.target)
    await execute(wrangler, ['d1', 'execute', 'DB', ...target, '--file', file, '--yes', '--json'], passwordHash)
    const select = `SELECT id FROM users WHERE id = ${sqlText(id)}`
    const output = await execute(
      wrangler,
      ['d1', 'execute', 'DB', ...target, '--command', select, '--json'],
      passwordHash,
    )
    const [result] = JSON.parse(output) as [{ results: { id: string }[] }]
    if (result?.results.length !== 1)
      throw new InputError(`an account for ${email} already exists; nothing was written`)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
  return { id, email, scopes }
}

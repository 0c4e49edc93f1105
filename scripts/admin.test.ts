/**
 * `npm run admin -- create-user`: the checks and the wrangler calls with a recording wrangler, the password input,
 * and the whole command against a local D1 in a temporary persist directory (the password piped on standard
 * input, the row read back and its hash verified by the gateway's own password module).
 */
import { spawn } from 'node:child_process'
import { timingSafeEqual, type webcrypto } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { PassThrough } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createUser, insertUserSql, type NewUser, sqlText, type Wrangler } from './lib/admin-users.ts'
import { InputError, readHidden, readPiped } from './lib/secret-input.ts'
import { loadWorkerModules, type WorkerModules } from './lib/worker-modules.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const WRANGLER_JS = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
const PASSWORD = 'violet-harbour-lantern-42'
const PEPPER = 'q8Vt3kLm9Zx2Rb7Nw5Hc1Jd6Fg4Sp0Ay'

// The gateway verifies in constant time with the Workers-only crypto.subtle.timingSafeEqual; Node has it in node:crypto.
type Subtle = webcrypto.SubtleCrypto & { timingSafeEqual?: (a: ArrayBufferView, b: ArrayBufferView) => boolean }
const subtle: Subtle = crypto.subtle
const bytes = (view: ArrayBufferView) => Buffer.from(view.buffer, view.byteOffset, view.byteLength)
subtle.timingSafeEqual ??= (a, b) => timingSafeEqual(bytes(a), bytes(b))

let modules: WorkerModules
beforeAll(async () => {
  modules = await loadWorkerModules()
})

const user = (overrides: Partial<NewUser> = {}): NewUser => ({
  email: 'Root@Example.com',
  scopes: ['edgeward:admin'],
  password: PASSWORD,
  pepper: PEPPER,
  minLength: 8,
  target: { local: true, persistTo: '/tmp/state' },
  ...overrides,
})

/** A wrangler that records every call and the SQL file it was given, and answers the SELECT with `rows`. */
function recordingWrangler(rows = 1, failWith?: string) {
  const calls: { args: string[]; sql?: string; mode?: number }[] = []
  const wrangler: Wrangler = async (args) => {
    const file = args[args.indexOf('--file') + 1]
    const call = args.includes('--file') && file ? { sql: readFileSync(file, 'utf8'), mode: statSync(file).mode } : {}
    calls.push({ args, ...call })
    if (failWith !== undefined) return { code: 1, stdout: '', stderr: failWith.replace('HASH', call.sql ?? '') }
    const results = Array.from({ length: args.includes('--command') ? rows : 0 }, () => ({ id: 'x' }))
    return { code: 0, stdout: JSON.stringify([{ results, success: true }]), stderr: '' }
  }
  return { wrangler, calls }
}

describe('createUser', () => {
  it('writes the row through a private SQL file: neither the password nor its hash is ever an argument', async () => {
    const { wrangler, calls } = recordingWrangler()
    const created = await createUser(user(), modules, wrangler)
    expect(created).toEqual({
      id: expect.stringMatching(/^[0-9a-f-]{36}$/),
      email: 'root@example.com',
      scopes: ['edgeward:admin'],
    })
    expect(calls.map((c) => c.args.slice(0, 6))).toEqual([
      ['d1', 'execute', 'DB', '--local', '--persist-to', '/tmp/state'],
      ['d1', 'execute', 'DB', '--local', '--persist-to', '/tmp/state'],
    ])
    const [insert, select] = calls
    const hash = /'(pbkdf2-sha256\$[^']+)'/.exec(insert?.sql ?? '')?.[1] ?? ''
    expect((await modules.passwords.verifyPassword(PASSWORD, hash, PEPPER)).ok).toBe(true)
    expect(insert?.sql).toBe(
      insertUserSql({ id: created.id, email: 'root@example.com', passwordHash: hash, scopes: ['edgeward:admin'] }),
    )
    expect((insert?.mode ?? 0) & 0o777).toBe(0o600)
    expect(select?.args).toContain(`SELECT id FROM users WHERE id = '${created.id}'`)
    for (const { args } of calls) expect(args.join(' ')).not.toMatch(new RegExp(`${PASSWORD}|pbkdf2`))
    const file = insert?.args[insert.args.indexOf('--file') + 1] ?? ''
    expect(existsSync(path.dirname(file))).toBe(false)
  })

  it('targets the remote database of an environment with --env', async () => {
    const { wrangler, calls } = recordingWrangler()
    await createUser(user({ target: { local: false, env: 'production' } }), modules, wrangler)
    expect(calls[0]?.args.slice(3, 6)).toEqual(['--remote', '--env', 'production'])
  })

  it('reports a taken address, and a failed wrangler without the hash it may echo', async () => {
    await expect(createUser(user(), modules, recordingWrangler(0).wrangler)).rejects.toThrow(
      'an account for root@example.com already exists; nothing was written',
    )
    const failing = recordingWrangler(1, 'D1_ERROR: in HASH')
    const error = await createUser(user(), modules, failing.wrangler).catch((err: Error) => err)
    expect(error).toBeInstanceOf(InputError)
    expect(String(error)).toMatch(/exit 1[\s\S]*\[password hash\]/)
    expect(String(error)).not.toContain('pbkdf2')
  })

  it.each<[string, Partial<NewUser>, RegExp]>([
    ['a short password', { password: 'x7!qZ' }, /too_short/],
    ['a common password', { password: 'password123' }, /common/],
    ['the address as password', { email: 'violet-harbour-lantern-42@example.com' }, /matches_email/],
    ['a longer minimum', { minLength: 30 }, /too_short.*30 to 128/],
    ['an invalid address', { email: 'root@localhost' }, /--email/],
    ['an invalid scope', { scopes: ['a b'] }, /--scope "a b"/],
    [
      'scopes too long to fit a token',
      { scopes: Array.from({ length: 9 }, (_, i) => `s${i}:${'x'.repeat(125)}`) },
      /1024 characters joined/,
    ],
  ])('refuses %s before any wrangler call, naming no secret', async (_, overrides, message) => {
    const { wrangler, calls } = recordingWrangler()
    const error = await createUser(user(overrides), modules, wrangler).catch((err: Error) => err)
    expect(error).toBeInstanceOf(InputError)
    expect(String(error)).toMatch(message)
    expect(String(error)).not.toContain(overrides.password ?? PASSWORD)
    expect(calls).toEqual([])
  })

  it('quotes SQL text by doubling quotes and refuses NUL', () => {
    expect(sqlText("x';DROP TABLE users;--")).toBe("'x'';DROP TABLE users;--'")
    expect(() => sqlText('a\0b')).toThrow(InputError)
  })
})

describe('password input', () => {
  it('reads a piped password without its line break, and refuses more than one line', async () => {
    expect(await readPiped([Buffer.from(`${PASSWORD}\r\n`)])).toBe(PASSWORD)
    expect(await readPiped([PASSWORD.slice(0, 5), PASSWORD.slice(5)])).toBe(PASSWORD)
    await expect(readPiped([`${PASSWORD}\nsecond line\n`])).rejects.toThrow(/more than one line/)
  })

  it('reads a typed line without echo, with backspace, and restores the terminal', async () => {
    const input = Object.assign(new PassThrough({ encoding: 'utf8' }), { modes: [] as boolean[] })
    const terminal = Object.assign(input, { setRawMode: (mode: boolean) => input.modes.push(mode) })
    const written: string[] = []
    const reading = readHidden(terminal, { write: (text) => written.push(text) }, 'Password: ')
    terminal.write('violet-harbour-lantern-4x\u007f2\r')
    expect(await reading).toBe(PASSWORD)
    expect(written.join('')).toBe('Password: \n')
    expect(input.modes).toEqual([true, false])
    const cancelled = readHidden(terminal, { write: () => {} }, 'Password: ')
    terminal.write('abc\u0003')
    await expect(cancelled).rejects.toThrow('cancelled')
  })
})

/** Runs a node script of this repository with `stdin` piped in; resolves with its exit code and output. */
function run(args: string[], stdin: string) {
  return new Promise<{ code: number; out: string }>((resolve) => {
    const child = spawn(process.execPath, args, {
      cwd: ROOT,
      env: { ...process.env, WRANGLER_SEND_METRICS: 'false' },
      stdio: ['pipe', 'pipe', 'pipe'],
    })
    let out = ''
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
    })
    child.stderr.on('data', (chunk: Buffer) => {
      out += chunk.toString('utf8')
    })
    child.stdin.end(stdin)
    child.once('close', (code) => resolve({ code: code ?? 1, out }))
  })
}

describe('npm run admin -- create-user --local', () => {
  let dir: string
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'edgeward-admin-test-'))
    writeFileSync(path.join(dir, '.dev.vars'), `PASSWORD_PEPPER=${PEPPER}\n`, { mode: 0o600 })
  })
  afterAll(() => rmSync(dir, { recursive: true, force: true }))

  const cli = (...args: string[]) => [
    '--experimental-strip-types',
    'scripts/admin.ts',
    'create-user',
    ...args,
    '--local',
    '--persist-to',
    dir,
    '--dev-vars',
    path.join(dir, '.dev.vars'),
  ]

  it('refuses a password given as an argument without repeating it', async () => {
    const { code, out } = await run(cli('--email', 'root@example.com', PASSWORD), '')
    expect(code).toBe(2)
    expect(out).toMatch(/never from the command line/)
    expect(out).not.toContain(PASSWORD)
  })

  it('creates an account the gateway can verify, from a password on standard input', { timeout: 180_000 }, async () => {
    const migrate = await run([WRANGLER_JS, 'd1', 'migrations', 'apply', 'DB', '--local', '--persist-to', dir], '')
    expect(migrate.code, migrate.out).toBe(0)

    const email = "O'Neil.Root@Example.com"
    const created = await run(cli('--email', email, '--scope', 'edgeward:admin', '--scope', "x';--"), `${PASSWORD}\n`)
    expect(created.code, created.out).toBe(0)
    expect(created.out).toMatch(
      /^created user [0-9a-f-]{36} \(o'neil\.root@example\.com\) with scopes \[edgeward:admin x';--\] in the local D1\n$/,
    )
    expect(created.out).not.toContain(PASSWORD)

    const again = await run(cli('--email', email.toLowerCase()), `${PASSWORD}\n`)
    expect(again.code).toBe(2)
    expect(again.out).toContain("an account for o'neil.root@example.com already exists; nothing was written")

    const select =
      "SELECT id, email, password_hash, scopes, disabled_at, email_verified_at FROM users WHERE email LIKE 'o''neil%'"
    const read = await run(
      [WRANGLER_JS, 'd1', 'execute', 'DB', '--local', '--persist-to', dir, '--command', select, '--json'],
      '',
    )
    expect(read.code, read.out).toBe(0)
    const [{ results }] = JSON.parse(read.out.slice(read.out.indexOf('['))) as [{ results: Record<string, unknown>[] }]
    expect(results).toEqual([
      {
        id: /created user (\S+)/.exec(created.out)?.[1],
        email: "o'neil.root@example.com",
        password_hash: expect.stringMatching(/^pbkdf2-sha256\$i=100000\$/),
        scopes: "edgeward:admin x';--",
        disabled_at: null,
        // Verified: with REGISTRATION=verify (the default outside development) a pending account cannot sign in.
        email_verified_at: expect.any(Number),
      },
    ])
    const hash = String(results[0]?.password_hash)
    expect((await modules.passwords.verifyPassword(PASSWORD, hash, PEPPER)).ok).toBe(true)
    expect((await modules.passwords.verifyPassword(`${PASSWORD}x`, hash, PEPPER)).ok).toBe(false)
    expect((await modules.passwords.verifyPassword(PASSWORD, hash, `${PEPPER}x`)).ok).toBe(false)
  })
})

import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parseDoctorArgs, runDoctor } from './doctor.ts'
import { type Diagnosis, diagnose } from './lib/doctor-checks.ts'
import { type SecretReport, type SecretSource, wranglerSecretSource } from './lib/doctor-secrets.ts'
import { type GatewayChecks, loadGatewayChecks, loadRouteCompiler } from './lib/doctor-worker.ts'
import { generateEd25519Jwks, generateHmacSecret } from './lib/keys.ts'

const ROOT = path.resolve(import.meta.dirname, '..')
const SHIPPED = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')
const TODAY = new Date('2026-12-01T12:00:00Z')
const REAL_DB_ID = '3f2a9c51-7d4e-4b1a-9e6f-0c8d2b5a7e13'
const run = promisify(execFile)

/** The shipped wrangler.toml with [env.production] filled in as a user would. */
function completeProduction(text = SHIPPED, extraVars: string[] = []): string {
  const vars = [
    'ENVIRONMENT = "production"',
    'UPSTASH_REDIS_REST_URL = "https://eu1-fine-gecko-12345.upstash.io"',
    'UPSTREAM_URL = "https://api.acme-shop.net"',
    'CORS_ORIGINS = "https://app.acme-shop.net"',
    'ACCOUNT_EVENTS_URL = "https://api.acme-shop.net/edgeward/account-events"',
    ...extraVars,
  ].join('\n')
  return text
    .replace('[env.production.vars]\nENVIRONMENT = "production"', `[env.production.vars]\n${vars}`)
    .replace('database_id = "00000000-0000-0000-0000-000000000002"', `database_id = "${REAL_DB_ID}"`)
}

const strongSecrets = (): Record<string, string> => ({
  UPSTASH_REDIS_REST_TOKEN: generateHmacSecret(),
  JWT_PRIVATE_KEY: JSON.stringify(generateEd25519Jwks().privateJwk),
  PASSWORD_PEPPER: generateHmacSecret(),
  UPSTREAM_SIGNING_SECRET: generateHmacSecret(),
})
const skipped: SecretReport = { kind: 'skipped', reason: 'not logged in to Cloudflare' }
const listed = (...names: string[]): SecretReport => ({ kind: 'names', from: 'fake secret list', names })

let checks: GatewayChecks
let dir: string
beforeAll(async () => {
  checks = await loadGatewayChecks()
  dir = mkdtempSync(path.join(tmpdir(), 'edgeward-doctor-'))
})
afterAll(() => rmSync(dir, { recursive: true, force: true }))

const production = (toml: string, secrets: SecretReport = skipped, today = TODAY): Diagnosis =>
  diagnose({ toml, mode: 'deploy', env: 'production', secrets, today, checks })

describe('npm run doctor -- --env production', () => {
  it('names every placeholder and missing value of the shipped wrangler.toml, all in one report', () => {
    const d = production(SHIPPED)
    const text = d.errors.join('\n')
    expect(text).toContain(
      'database_id in [[env.production.d1_databases]] (binding DB) is the placeholder 00000000-0000-0000-0000-000000000002: run `npx wrangler d1 create edgeward-production`',
    )
    for (const variable of ['UPSTASH_REDIS_REST_URL', 'UPSTREAM_URL', 'CORS_ORIGINS', 'ACCOUNT_EVENTS_URL']) {
      expect(text).toMatch(new RegExp(`${variable} is required|needs ${variable}`))
    }
    expect(d.errors).toHaveLength(5)
    expect(d.notes.join('\n')).toMatch(
      /secrets: check skipped \(not logged in to Cloudflare\).*`npm run doctor -- --env production` again/,
    )
  })

  it('passes a complete configuration, and the secrets the worker lists', () => {
    const all = listed('UPSTASH_REDIS_REST_TOKEN', 'JWT_PRIVATE_KEY', 'PASSWORD_PEPPER', 'UPSTREAM_SIGNING_SECRET')
    const d = production(completeProduction(), all)
    expect(d).toMatchObject({ errors: [], warnings: [] })
    expect(d.notes[0]).toMatch(/^secrets: 4 set according to `fake secret list`; presence checked/)
  })

  it('names each secret missing from the worker, with its `wrangler secret put`', () => {
    const d = production(completeProduction(), listed('UPSTASH_REDIS_REST_TOKEN'))
    expect(d.errors).toEqual([
      expect.stringMatching(/^JWT_PRIVATE_KEY is required .*npm run keys -- generate/),
      expect.stringMatching(/^PASSWORD_PEPPER is required in production: .*wrangler secret put PASSWORD_PEPPER/),
      expect.stringMatching(/^UPSTREAM_SIGNING_SECRET is required in production: .*wrangler secret put/),
    ])
  })

  it('refuses weak secret values, plaintext Upstash, a CORS wildcard, secrets in vars and example hosts at once', () => {
    const toml = completeProduction(SHIPPED, ['METRICS_TOKEN = "changeme"'])
      .replace('https://eu1-fine-gecko-12345.upstash.io', 'http://eu1-fine-gecko-12345.upstash.io')
      .replace('CORS_ORIGINS = "https://app.acme-shop.net"', 'CORS_ORIGINS = "*"')
      .replace('UPSTREAM_URL = "https://api.acme-shop.net"', 'UPSTREAM_URL = "https://api.internal.example.com"')
      .replace(
        /\[env\.production\.vars\]([\s\S]*?)CORS_ALLOW_CREDENTIALS = "false"/,
        '[env.production.vars]$1CORS_ALLOW_CREDENTIALS = "true"',
      )
    const values = { ...strongSecrets(), PASSWORD_PEPPER: 'short' }
    const d = production(toml, { kind: 'values', from: 'prod.env', values })
    expect(d.errors).toEqual([
      expect.stringMatching(
        /^UPSTREAM_URL in \[env\.production\.vars\] names the documentation host api\.internal\.example\.com/,
      ),
      'METRICS_TOKEN is a secret but is set in [env.production.vars]: remove it from wrangler.toml and run `npx wrangler secret put METRICS_TOKEN --env production`',
      'UPSTASH_REDIS_REST_URL must start with https:// in production (got http://…)',
      'CORS_ORIGINS entry #1 is a wildcard; list every allowed origin explicitly',
      expect.stringMatching(/^METRICS_TOKEN must be at least 32 characters/),
      expect.stringMatching(
        /^PASSWORD_PEPPER must be at least 32 characters \(got 5\): generate one with `npm run keys -- secret`/,
      ),
    ])
    expect(d.errors.join('\n')).not.toContain('changeme')
  })

  it('refuses a compatibility date in the future or none, and an unknown environment', () => {
    const future = production(completeProduction(), listed(...Object.keys(strongSecrets())), new Date('2026-11-01'))
    expect(future.errors).toEqual([
      expect.stringMatching(/^compatibility_date 2026-11-09 is in the future \(today is 2026-11-01\)/),
    ])
    const none = production(
      completeProduction().replace(/^compatibility_date = .*$/m, ''),
      listed(...Object.keys(strongSecrets())),
    )
    expect(none.errors).toEqual([expect.stringMatching(/^compatibility_date is missing/)])
    const unknown = diagnose({ toml: SHIPPED, mode: 'deploy', env: 'prod', secrets: skipped, today: TODAY, checks })
    expect(unknown.errors).toEqual([
      'wrangler.toml has no [env.prod]: use one of staging, production, or no --env for the top level',
    ])
  })

  it('refuses a JWT_AUDIENCE shared with another configuration', () => {
    const toml = completeProduction().replace(
      'JWT_AUDIENCE = "edgeward-production"',
      'JWT_AUDIENCE = "edgeward-staging"',
    )
    const d = production(toml, listed(...Object.keys(strongSecrets())))
    expect(d.errors).toEqual([
      expect.stringMatching(/^JWT_AUDIENCE "edgeward-staging" is shared by \[env\.staging\] and \[env\.production\]/),
    ])
  })

  it('refuses an invalid route table, in every mode', async () => {
    const compile = await loadRouteCompiler()
    const broken: GatewayChecks = {
      ...checks,
      routeTableProblems: () =>
        compile([{ pattern: '/auth/x' }, { pattern: 'api/items', auth: 'public', scopes: ['a'] }]),
    }
    for (const mode of ['deploy', 'build'] as const) {
      const d = diagnose({
        toml: completeProduction(),
        mode,
        env: 'production',
        secrets: listed(...Object.keys(strongSecrets())),
        today: TODAY,
        checks: broken,
      })
      expect(d.errors.length, mode).toBeGreaterThanOrEqual(2)
      for (const error of d.errors) expect(error).toMatch(/^src\/policies\.ts: the route table: routes\[[01]\]/)
    }
  })
})

describe('the doctor as npm run deploy runs it', () => {
  const deploying = (toml: string, secrets: SecretReport, skipSecretCheck = false) =>
    diagnose({ toml, mode: 'deploy', env: 'production', secrets, today: TODAY, checks, deploying: { skipSecretCheck } })

  it('refuses when the secrets cannot be listed, unless told to skip the check', () => {
    const refused = deploying(completeProduction(), skipped)
    expect(refused.errors).toEqual([
      expect.stringMatching(/^secrets: could not be listed \(not logged in to Cloudflare\)/),
    ])
    expect(refused.errors[0]).toContain('npx wrangler secret put NAME --env production')
    // `npm run doctor` alone notes it; so does a deploy told to skip the check.
    expect(production(completeProduction(), skipped).errors).toEqual([])
    const told = deploying(completeProduction(), skipped, true)
    expect(told.errors).toEqual([])
    expect(told.notes[0]).toMatch(/^secrets: check skipped/)
    expect(deploying(completeProduction(), { kind: 'values', from: 'x', values: strongSecrets() }).errors).toEqual([])
  })

  it('refuses a development configuration, and an ENVIRONMENT that is not the environment it deploys', () => {
    const secrets: SecretReport = { kind: 'values', from: 'x', values: strongSecrets() }
    const staging = completeProduction(SHIPPED).replace(
      '[env.production.vars]\nENVIRONMENT = "production"',
      '[env.production.vars]\nENVIRONMENT = "staging"',
    )
    expect(deploying(staging, secrets).errors).toEqual([
      expect.stringMatching(/ENVIRONMENT in .* is "staging", not "production"/),
    ])
    expect(production(staging, secrets).warnings).toEqual([expect.stringMatching(/is "staging", not "production"/)])
    const top = diagnose({
      toml: SHIPPED.replace('ENVIRONMENT = "production"', 'ENVIRONMENT = "development"'),
      mode: 'deploy',
      secrets,
      today: TODAY,
      checks,
      deploying: { skipSecretCheck: false },
    })
    expect(top.errors).toContainEqual(
      expect.stringMatching(/is "development" \(or unset\): a deployed development gateway answers 500/),
    )
  })
})

describe('npm run doctor without --env, and with --local', () => {
  it('checks the top level (a bare `wrangler deploy`), its database id included', () => {
    const d = diagnose({ toml: SHIPPED, mode: 'deploy', secrets: skipped, today: TODAY, checks })
    expect(d.subject).toBe('the top level (worker edgeward)')
    expect(d.errors[0]).toMatch(/^database_id in \[\[d1_databases\]\] \(binding DB\) is the placeholder/)
  })

  it('--local checks what plain `wrangler dev` serves: the top level with .dev.vars over it, no database id', () => {
    const values = { ...strongSecrets(), ENVIRONMENT: 'development', UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079' }
    const ok = diagnose({
      toml: SHIPPED,
      mode: 'local',
      secrets: { kind: 'values', from: '.dev.vars', values },
      today: TODAY,
      checks,
    })
    expect(ok.errors).toEqual([])
    const bare = diagnose({
      toml: SHIPPED,
      mode: 'local',
      secrets: { kind: 'values', from: '.dev.vars', values: strongSecrets() },
      today: TODAY,
      checks,
    })
    expect(bare.errors.join('\n')).toMatch(/UPSTASH_REDIS_REST_URL is required/)
    expect(bare.errors.join('\n')).not.toMatch(/database_id/)
  })

  it('takes every documentation host for a placeholder', () => {
    for (const host of ['example.com', 'api.example.net', 'example.org', 'origin.example']) {
      const toml = completeProduction().replace(
        'UPSTREAM_URL = "https://api.acme-shop.net"',
        `UPSTREAM_URL = "https://${host}"`,
      )
      expect(production(toml, listed(...Object.keys(strongSecrets()))).errors, host).toEqual([
        expect.stringContaining(`names the documentation host ${host}`),
      ])
    }
  })
})

describe('the doctor on the command line', { timeout: 30_000 }, () => {
  const doctor = (...args: string[]) =>
    run(process.execPath, ['--experimental-strip-types', path.join(ROOT, 'scripts/doctor.ts'), ...args], {
      cwd: ROOT,
    }).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    )

  it('exits 1 on the shipped wrangler.toml, naming every problem; 0 on a complete one (no Cloudflare call)', async () => {
    const empty = path.join(dir, 'empty.env')
    writeFileSync(empty, '')
    const shipped = await doctor('--env', 'production', '--secrets-file', empty)
    expect(shipped.code).toBe(1)
    for (const name of [
      'database_id',
      'UPSTASH_REDIS_REST_URL',
      'UPSTASH_REDIS_REST_TOKEN',
      'JWT_PRIVATE_KEY',
      'CORS_ORIGINS',
      'UPSTREAM_URL',
      'PASSWORD_PEPPER',
      'UPSTREAM_SIGNING_SECRET',
      'ACCOUNT_EVENTS_URL',
    ]) {
      expect(shipped.stdout).toMatch(new RegExp(`✖ .*${name}`))
    }
    expect(shipped.stdout).toMatch(/doctor: 9 errors, 0 warnings: fix the errors before deploying/)

    const config = path.join(dir, 'wrangler.toml')
    writeFileSync(
      config,
      completeProduction().replace('main = "src/index.ts"', `main = "${path.join(ROOT, 'src/index.ts')}"`),
    )
    const secrets = path.join(dir, 'prod.env')
    writeFileSync(
      secrets,
      Object.entries(strongSecrets())
        .map(([k, v]) => `${k}='${v}'`)
        .join('\n'),
    )
    const complete = await doctor('--env', 'production', '--config', config, '--secrets-file', secrets)
    expect(complete.stdout).toMatch(
      /secrets: read from .*prod\.env \(presence and strength checked\)\ndoctor: no errors\n$/,
    )
    expect(complete.code).toBe(0)
  })

  it('refuses an argument it does not know', async () => {
    const result = await doctor('--environment', 'production')
    expect(result.code).toBe(2)
    expect(result.stderr).toMatch(/doctor: Unknown option '--environment'/)
  })
})

describe('npm run build: scripts/check-wrangler.ts', { timeout: 30_000 }, () => {
  const check = (config?: string) =>
    run(
      process.execPath,
      ['--experimental-strip-types', path.join(ROOT, 'scripts/check-wrangler.ts'), ...(config ? [config] : [])],
      { cwd: ROOT },
    ).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    )

  it('passes the shipped wrangler.toml (placeholders are the deploy check, not the build)', async () => {
    const result = await check()
    expect(result.stdout).toBe('doctor: wrangler.toml (every configuration) and the route table\ndoctor: no errors\n')
    expect(result.code).toBe(0)
  })

  it('refuses a future compatibility date and a shared audience in one run', async () => {
    const config = path.join(dir, 'build.toml')
    writeFileSync(
      config,
      SHIPPED.replace(/^compatibility_date = .*$/m, 'compatibility_date = "2999-01-01"').replace(
        'JWT_AUDIENCE = "edgeward-staging"',
        'JWT_AUDIENCE = "edgeward-production"',
      ),
    )
    const result = await check(config)
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(
      /✖ JWT_AUDIENCE "edgeward-production" is shared by \[env\.staging\] and \[env\.production\]/,
    )
    expect(result.stdout).toMatch(/✖ the top level: compatibility_date 2999-01-01 is in the future/)
  })

  it('refuses an invalid route table (the same check, given a broken table)', async () => {
    const compile = await loadRouteCompiler()
    const d = diagnose({
      toml: SHIPPED,
      mode: 'build',
      today: TODAY,
      checks: { ...checks, routeTableProblems: () => compile([{ pattern: '/health/x' }]) },
    })
    expect(d.errors).toEqual([
      expect.stringMatching(/^src\/policies\.ts: the route table: routes\[0\] \("\/health\/x"\)/),
    ])
  })
})

describe('the secrets wrangler lists', () => {
  it('reads the names `wrangler secret list --env` prints, environment and file spelled out', async () => {
    const calls: string[][] = []
    const run = async (args: string[]) => {
      calls.push(args)
      return { code: 0, stdout: '[{"name":"PASSWORD_PEPPER","type":"secret_text"}]', stderr: '' }
    }
    expect(await wranglerSecretSource(run, 'staging')()).toEqual({
      kind: 'names',
      from: 'npx wrangler secret list --format json --env staging --config wrangler.toml',
      names: ['PASSWORD_PEPPER'],
    })
    // The top level is an empty --env: a CLOUDFLARE_ENV wrangler finds (in a .env file) cannot list another worker.
    await wranglerSecretSource(run, undefined, 'other.toml')()
    expect(calls).toEqual([
      ['secret', 'list', '--format', 'json', '--env', 'staging', '--config', 'wrangler.toml'],
      ['secret', 'list', '--format', 'json', '--env', '', '--config', 'other.toml'],
    ])
  })

  it('refuses keep_vars = true when deploying: dashboard vars the doctor cannot see would ship', () => {
    const toml = completeProduction().replace('[env.production]\n', '[env.production]\nkeep_vars = true\n')
    const secrets: SecretReport = { kind: 'values', from: 'x', values: strongSecrets() }
    const deploying = diagnose({
      toml,
      mode: 'deploy',
      env: 'production',
      secrets,
      today: TODAY,
      checks,
      deploying: { skipSecretCheck: false },
    })
    expect(deploying.errors).toEqual([expect.stringMatching(/^keep_vars = true in wrangler.toml/)])
  })

  it.each([
    ['In a non-interactive environment, it is necessary to set a CLOUDFLARE_API_TOKEN', /not logged in to Cloudflare/],
    ['✘ [ERROR] fetch failed', /offline: Cloudflare's API could not be reached/],
    [
      '✘ [ERROR] This Worker does not exist on your account. [code: 10007]',
      /This Worker does not exist on your account/,
    ],
  ])('skips the check, saying why, when wrangler fails: %s', async (stderr, reason) => {
    const source: SecretSource = wranglerSecretSource(async () => ({ code: 1, stdout: '', stderr }), 'production')
    const report = await source()
    expect(report).toMatchObject({ kind: 'skipped', reason: expect.stringMatching(reason) })
    const d = production(completeProduction(), report)
    expect(d.errors).toEqual([])
  })
})

describe('runDoctor', () => {
  it('reads its arguments as npm passes them', () => {
    expect(parseDoctorArgs(['--', '--env', 'staging'])).toEqual({ env: 'staging', config: undefined, mode: 'deploy' })
    expect(parseDoctorArgs(['--local'])).toMatchObject({ env: undefined, mode: 'local' })
    expect(parseDoctorArgs(['--offline', '-c', 'x.toml'])).toMatchObject({ config: 'x.toml', mode: 'build' })
    expect(parseDoctorArgs(['-e', 'production', '--secrets-file', 'p.env']).secrets).toBeTypeOf('function')
    expect(() => parseDoctorArgs(['--local', '--env', 'production'])).toThrow(/--local checks the top level/)
  })

  it('prints the report it returns, with the injected secret source', async () => {
    const lines: string[] = []
    const d = await runDoctor({
      mode: 'deploy',
      env: 'production',
      secrets: async () => skipped,
      today: TODAY,
      print: (l) => lines.push(l),
    })
    expect(lines[0]).toBe('doctor: [env.production] (worker edgeward-production)')
    expect(lines.filter((l) => l.startsWith('  ✖ '))).toHaveLength(d.errors.length)
  })
})

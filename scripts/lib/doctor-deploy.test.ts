import { describe, expect, it } from 'vitest'
import type { Diagnosis } from './doctor-checks.ts'
import { type DeployDeps, deploy } from './doctor-deploy.ts'

function fakes(errors: string[]) {
  const doctorCalls: unknown[] = []
  const wranglerCalls: string[][] = []
  const printed: string[] = []
  const deps: DeployDeps = {
    doctor: async (options) => {
      doctorCalls.push(options)
      return { subject: 'x', errors, warnings: [], notes: [] } satisfies Diagnosis
    },
    wrangler: async (args) => {
      wranglerCalls.push(args)
      return 0
    },
    print: (line) => printed.push(line),
  }
  return { deps, doctorCalls, wranglerCalls, printed }
}

const checked = (env: string | undefined, config: string | undefined = undefined, skipSecretCheck = false) => ({
  env,
  config,
  mode: 'deploy',
  deploying: { skipSecretCheck },
})

describe('npm run deploy', () => {
  it('refuses, without calling wrangler, when the doctor finds an error', async () => {
    const f = fakes(['UPSTASH_REDIS_REST_URL is required: …'])
    expect(await deploy(['--', '--env', 'production'], f.deps, {})).toBe(1)
    expect(f.doctorCalls).toEqual([checked('production')])
    expect(f.wranglerCalls).toEqual([])
    expect(f.printed).toEqual(['deploy: refused: the doctor found errors (above); nothing was deployed'])
  })

  it('hands wrangler exactly the configuration the doctor checked, file and environment spelled out', async () => {
    const f = fakes([])
    expect(await deploy(['-e', 'staging', '--config', 'other.toml', '--minify'], f.deps, {})).toBe(0)
    expect(f.doctorCalls).toEqual([checked('staging', 'other.toml')])
    expect(f.wranglerCalls).toEqual([['deploy', '--config', 'other.toml', '--env', 'staging', '--minify']])
  })

  it('checks and deploys the top level for a bare deploy, with an empty --env so wrangler picks no other', async () => {
    const f = fakes([])
    await deploy([], f.deps, {})
    expect(f.doctorCalls).toEqual([checked(undefined)])
    expect(f.wranglerCalls).toEqual([['deploy', '--config', 'wrangler.toml', '--env', '']])
  })

  it('reads the environment from CLOUDFLARE_ENV when --env is absent, as wrangler does; --env wins', async () => {
    const f = fakes([])
    expect(await deploy(['--dry-run'], f.deps, { CLOUDFLARE_ENV: 'production' })).toBe(0)
    expect(f.doctorCalls).toEqual([checked('production')])
    expect(f.wranglerCalls[0]).toEqual(['deploy', '--config', 'wrangler.toml', '--env', 'production', '--dry-run'])
    await deploy(['--env', 'staging'], f.deps, { CLOUDFLARE_ENV: 'production' })
    // An empty --env is the top level, in both.
    await deploy(['--env', ''], f.deps, { CLOUDFLARE_ENV: 'production' })
    expect(f.doctorCalls.slice(1)).toEqual([checked('staging'), checked(undefined)])
    expect(f.wranglerCalls[2]).toEqual(['deploy', '--config', 'wrangler.toml', '--env', ''])
  })

  it.each([[['-e=production']], [['--env=production']], [['-e', 'production']]])(
    'reads %j as wrangler does',
    async (args) => {
      const f = fakes([])
      expect(await deploy(args, f.deps, {})).toBe(0)
      expect(f.doctorCalls).toEqual([checked('production')])
    },
  )

  it.each([
    ['--var', 'ENVIRONMENT:development'],
    ['--var=RATE_LIMIT_AUTH:off'],
    ['--keep-vars'],
    ['--keepVars'],
    ['--define', 'X:1'],
    ['--secrets-file', 'prod.env'],
    ['--secretsFile', 'prod.env'],
    ['--cwd', '/tmp/other'],
    ['--name', 'edgeward-prod-v2'],
    ['src/other-entry.ts'],
    ['--env', 'staging'],
    ['--config', 'a.toml', '-c', 'b.toml'],
    ['--config='],
  ])(
    'refuses %s (could ship something the doctor did not check), calling neither the doctor nor wrangler',
    async (...args) => {
      const f = fakes([])
      expect(await deploy(['--env', 'production', ...args], f.deps, {})).toBe(1)
      expect(f.doctorCalls).toEqual([])
      expect(f.wranglerCalls).toEqual([])
      expect(f.printed[0]).toMatch(/^deploy: refused: .*; nothing was deployed$/)
    },
  )

  it('refuses while WRANGLER_CI_OVERRIDE_NAME would send the deploy to another worker', async () => {
    const f = fakes([])
    expect(await deploy(['--env', 'production'], f.deps, { WRANGLER_CI_OVERRIDE_NAME: 'edgeward-fresh' })).toBe(1)
    expect(f.wranglerCalls).toEqual([])
  })

  it('takes --skip-secret-check for itself: the doctor hears of it, wrangler does not', async () => {
    const f = fakes([])
    expect(await deploy(['--env', 'production', '--skip-secret-check'], f.deps, {})).toBe(0)
    expect(f.doctorCalls).toEqual([checked('production', undefined, true)])
    expect(f.wranglerCalls).toEqual([['deploy', '--config', 'wrangler.toml', '--env', 'production']])
  })
})

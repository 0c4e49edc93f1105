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

describe('npm run deploy', () => {
  it('refuses, without calling wrangler, when the doctor finds an error', async () => {
    const f = fakes(['UPSTASH_REDIS_REST_URL is required: …'])
    expect(await deploy(['--', '--env', 'production'], f.deps, {})).toBe(1)
    expect(f.doctorCalls).toEqual([
      { env: 'production', config: undefined, mode: 'deploy', deploying: { skipSecretCheck: false } },
    ])
    expect(f.wranglerCalls).toEqual([])
    expect(f.printed).toEqual(['deploy: refused: the doctor found errors (above); nothing was deployed'])
  })

  it('deploys with the same arguments when the doctor finds none: --env reaches both', async () => {
    const f = fakes([])
    expect(await deploy(['-e', 'staging', '--config', 'other.toml', '--minify'], f.deps, {})).toBe(0)
    expect(f.doctorCalls).toEqual([
      { env: 'staging', config: 'other.toml', mode: 'deploy', deploying: { skipSecretCheck: false } },
    ])
    expect(f.wranglerCalls).toEqual([['deploy', '-e', 'staging', '--config', 'other.toml', '--minify']])
  })

  it('checks the top level for a bare deploy, as wrangler deploys it', async () => {
    const f = fakes([])
    await deploy([], f.deps, {})
    expect(f.doctorCalls).toEqual([
      { env: undefined, config: undefined, mode: 'deploy', deploying: { skipSecretCheck: false } },
    ])
    expect(f.wranglerCalls).toEqual([['deploy']])
  })

  it('reads the environment from CLOUDFLARE_ENV when --env is absent, as wrangler does', async () => {
    const f = fakes([])
    expect(await deploy(['--minify'], f.deps, { CLOUDFLARE_ENV: 'production' })).toBe(0)
    expect(f.doctorCalls).toEqual([
      { env: 'production', config: undefined, mode: 'deploy', deploying: { skipSecretCheck: false } },
    ])
    // --env wins, in both.
    await deploy(['--env', 'staging'], f.deps, { CLOUDFLARE_ENV: 'production' })
    expect(f.doctorCalls[1]).toMatchObject({ env: 'staging' })
  })

  it.each([
    ['--var', 'ENVIRONMENT:development'],
    ['--var=RATE_LIMIT_AUTH:off'],
    ['--keep-vars'],
    ['--define', 'X:1'],
    ['--secrets-file', 'prod.env'],
  ])(
    'refuses %s, which changes what ships after the check, without calling the doctor or wrangler',
    async (...args) => {
      const f = fakes([])
      expect(await deploy(['--env', 'production', ...args], f.deps, {})).toBe(1)
      expect(f.doctorCalls).toEqual([])
      expect(f.wranglerCalls).toEqual([])
      expect(f.printed[0]).toMatch(/^deploy: refused: --(var|keep-vars|define|secrets-file) changes what ships/)
    },
  )

  it('takes --skip-secret-check for itself: the doctor hears of it, wrangler does not', async () => {
    const f = fakes([])
    expect(await deploy(['--env', 'production', '--skip-secret-check'], f.deps, {})).toBe(0)
    expect(f.doctorCalls).toEqual([
      { env: 'production', config: undefined, mode: 'deploy', deploying: { skipSecretCheck: true } },
    ])
    expect(f.wranglerCalls).toEqual([['deploy', '--env', 'production']])
  })
})

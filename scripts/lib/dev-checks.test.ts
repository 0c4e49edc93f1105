import { execFile } from 'node:child_process'
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  assertHealthy,
  assertPortFree,
  assertValidConfig,
  checkExtraArgs,
  DevError,
  devBindings,
  parsePort,
  varArgs,
} from './dev-checks.ts'
import { type GatewayChecks, loadGatewayChecks } from './doctor-worker.ts'
import { freePort } from './free-port.ts'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
const DEV_VARS = {
  UPSTASH_REDIS_REST_TOKEN: 'a-local-token',
  JWT_PRIVATE_KEY: JSON.stringify({
    kty: 'OKP',
    crv: 'Ed25519',
    x: 'Qm9iX3B1YmxpY19rZXlfMzJfYnl0ZXNfbG9uZ19hYmM',
    d: 'U2VjcmV0X3ByaXZhdGVfa2V5XzMyX2J5dGVzX2xvbmc',
  }),
}
const CLI_VARS = {
  ENVIRONMENT: 'development',
  UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:8079',
  UPSTREAM_URL: 'http://127.0.0.1:3000',
}

let checks: GatewayChecks
beforeAll(async () => {
  checks = await loadGatewayChecks()
})

const thrown = (fn: () => void): string => {
  try {
    fn()
  } catch (error) {
    expect(error).toBeInstanceOf(DevError)
    return (error as Error).message
  }
  throw new Error('expected a DevError')
}

describe('the configuration npm run dev gives wrangler dev', () => {
  it('reads --var NAME:VALUE in every spelling wrangler accepts', () => {
    expect(varArgs(['--var', 'A:1', 'B:x:y', '--local', '--var=C:3', '--var', 'bad'])).toEqual({
      A: '1',
      B: 'x:y',
      C: '3',
    })
  })

  it('binds wrangler.toml [vars], then .dev.vars, then npm run dev’s --var, then the user’s', () => {
    const bindings = devBindings(ROOT, { ...DEV_VARS, UPSTASH_TIMEOUT_MS: '500' }, CLI_VARS, [
      '--var',
      'UPSTASH_TIMEOUT_MS:250',
    ])
    expect(bindings).toMatchObject({ ...CLI_VARS, RATE_LIMIT_AUTH: '5/15m', UPSTASH_TIMEOUT_MS: '250' })
    expect(checks.configIssues(bindings)).toEqual([])
  })

  it('fails before wrangler starts with every problem the worker would log', () => {
    const bindings = devBindings(ROOT, DEV_VARS, CLI_VARS, ['--var', 'CORS_ORIGINS:*', '--var', 'RATE_LIMIT_AUTH:lots'])
    const message = thrown(() => assertValidConfig(checks.configIssues(bindings).map((i) => i.message)))
    expect(message).toMatch(/^the gateway would start with an invalid configuration \(2 problems\):/)
    expect(message).toContain('RATE_LIMIT_AUTH must be N/<window>')
    expect(message).toContain('CORS_ORIGINS entry #1 is a wildcard')
    expect(() => assertValidConfig([])).not.toThrow()
  })

  it('is ready only when GET /health answers 200; otherwise says why instead of "ready"', () => {
    expect(() => assertHealthy(200, [])).not.toThrow()
    expect(
      thrown(() => assertHealthy(500, ['UPSTASH_REDIS_REST_URL is required: …', 'CORS_ORIGINS is required…'])),
    ).toBe(
      'GET /health answered 500, not 200: the configuration is invalid:\n      UPSTASH_REDIS_REST_URL is required: …\n      CORS_ORIGINS is required…',
    )
    expect(thrown(() => assertHealthy(503, []))).toMatch(/answered 503, not 200: .*Redis or D1 did not answer/)
    expect(thrown(() => assertHealthy(500, []))).toMatch(/answered 500, not 200: .*see wrangler's output above/)
  })
})

describe('npm run dev with an invalid configuration', () => {
  // A copy of the project: npm run dev writes .dev.vars and .wrangler/state where it runs, and the worker tests
  // read the checkout's .dev.vars (a METRICS_TOKEN there would turn /metrics on for them).
  let copy: string
  beforeAll(() => {
    copy = mkdtempSync(path.join(tmpdir(), 'edgeward-dev-'))
    for (const entry of ['scripts', 'src', 'migrations', 'examples', 'wrangler.toml', 'package.json']) {
      cpSync(path.join(ROOT, entry), path.join(copy, entry), { recursive: true })
    }
    symlinkSync(path.join(ROOT, 'node_modules'), path.join(copy, 'node_modules'))
  })
  afterAll(() => rmSync(copy, { recursive: true, force: true }))

  it('exits 1 listing every problem, and never says ready', { timeout: 120_000 }, async () => {
    const port = await freePort('127.0.0.1')
    const result = await promisify(execFile)(
      process.execPath,
      [
        '--experimental-strip-types',
        path.join(copy, 'scripts/dev.ts'),
        '--',
        '--var',
        'CORS_ORIGINS:*',
        '--var',
        'RATE_LIMIT_AUTH:lots',
      ],
      { cwd: copy, env: { ...process.env, PORT: String(port) } },
    ).then(
      (r) => ({ code: 0, ...r }),
      (e: { code: number; stdout: string; stderr: string }) => e,
    )
    expect(result.code).toBe(1)
    expect(result.stdout).toMatch(/error: the gateway would start with an invalid configuration \(2 problems\):/)
    expect(result.stdout).toContain('RATE_LIMIT_AUTH must be N/<window>')
    expect(result.stdout).toContain('CORS_ORIGINS entry #1 is a wildcard')
    expect(result.stdout).not.toMatch(/\[dev\] ready/)
  })
})

describe('checkExtraArgs', () => {
  it.each([
    ['--port', '9000'],
    ['--ip', '0.0.0.0'],
    ['--ip=0.0.0.0'],
    ['--inspector-port', '9229'],
    // The inspector is a debugger for the running worker: on a public address, anyone on the network could drive it.
    ['--inspector-ip', '0.0.0.0'],
    ['--inspector-ip=0.0.0.0'],
    ['--inspectorIp', '0.0.0.0'],
    ['--inspectorPort=9229'],
  ])('refuses %s, which npm run dev sets to loopback itself', (...args) => {
    expect(() => checkExtraArgs(args)).toThrow(DevError)
  })

  it('returns the options dev.ts passes on to the other wrangler commands, as given', () => {
    expect(
      checkExtraArgs(['--persist-to', '.state', '--log-level', 'debug', '--env=staging', '--persistTo=x']),
    ).toEqual(['--persist-to', '.state', '--env=staging', '--persistTo=x'])
  })
})

describe('the ports npm run dev takes', () => {
  it('keeps PORT low enough for the example app at PORT + 3', () => {
    expect(parsePort('65532', 3)).toBe(65532)
    expect(() => parsePort('65534', 3)).toThrow('PORT must be an integer from 1 to 65532, got "65534"')
    expect(parsePort(undefined, 3)).toBe(8787)
  })

  it("names the gateway's PORT in the fix-it when the example app's port is taken", async () => {
    const gateway = await freePort()
    const taken = net.createServer()
    await new Promise<void>((resolve) => taken.listen(gateway + 3, '127.0.0.1', resolve))
    try {
      await expect(assertPortFree('127.0.0.1', gateway + 3, gateway)).rejects.toThrow(
        `PORT=${gateway + 1} npm run dev (port ${gateway + 3} is the example app's: PORT + 3)`,
      )
    } finally {
      await new Promise((resolve) => taken.close(resolve))
    }
  })
})

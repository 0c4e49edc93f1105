/**
 * Plain `wrangler dev`, as a user runs it: wrangler.toml's top level is production-strict, so without the local
 * stack the gateway answers 500, and on a loopback host that answer names both ways to run it locally; the second
 * way (`npm run upstash-local` and the `wrangler dev` command it prints) then serves.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stopGroup } from '../../scripts/lib/dev-process-group.ts'
import { freePort } from '../../scripts/lib/free-port.ts'
import { generateEd25519Jwks, generateHmacSecret } from '../../scripts/lib/keys.ts'

const ROOT = path.resolve(import.meta.dirname, '..', '..')
const LOCAL_WAYS =
  'The gateway configuration is invalid; the config_invalid record in the log lists every problem. To run locally, use `npm run dev`, or `npm run upstash-local` and the `wrangler dev` command it prints.'

type Started = { child: ChildProcess; output: () => string; stop: () => Promise<void> }
const started: Started[] = []
let dir: string
let config: string

/** A process in its own group (wrangler's workerd children stop with it), its output collected. */
function start(args: string[]): Started {
  const child = spawn(process.execPath, args, {
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, WRANGLER_SEND_METRICS: 'false', CLOUDFLARE_CF_FETCH_ENABLED: 'false' },
  })
  let text = ''
  child.stdout?.on('data', (chunk) => {
    text += chunk
  })
  child.stderr?.on('data', (chunk) => {
    text += chunk
  })
  const exited = new Promise<number>((resolve) => child.once('exit', (code) => resolve(code ?? 1)))
  const handle = {
    child,
    output: () => text,
    stop: () => (child.pid ? stopGroup(child.pid, exited) : Promise.resolve()),
  }
  started.push(handle)
  return handle
}

async function wranglerDev(extra: string[]): Promise<{ url: string; process: Started }> {
  const [port, inspector] = [await freePort('127.0.0.1'), await freePort('127.0.0.1')]
  const process_ = start([
    path.join(ROOT, 'node_modules/wrangler/bin/wrangler.js'),
    'dev',
    ...['--config', config, '--ip', '127.0.0.1', '--port', String(port), '--inspector-port', String(inspector)],
    ...['--persist-to', path.join(dir, 'state'), '--show-interactive-dev-session=false'],
    ...extra,
  ])
  return { url: `http://127.0.0.1:${port}`, process: process_ }
}

/** The first answer to `path`, once the server accepts connections. */
async function firstAnswer(url: string, path_: string, within = 90_000): Promise<Response> {
  const deadline = Date.now() + within
  for (;;) {
    try {
      return await fetch(`${url}${path_}`)
    } catch (error) {
      if (Date.now() > deadline) throw error
      await sleep(200)
    }
  }
}

beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'edgeward-wrangler-dev-'))
  config = path.join(dir, 'wrangler.toml')
  // The repository's wrangler.toml, only its paths made absolute so it runs from here.
  const text = readFileSync(path.join(ROOT, 'wrangler.toml'), 'utf8')
    .replace('main = "src/index.ts"', `main = "${path.join(ROOT, 'src/index.ts')}"`)
    .replaceAll('migrations_dir = "migrations"', `migrations_dir = "${path.join(ROOT, 'migrations')}"`)
  writeFileSync(config, text)
})

afterAll(async () => {
  for (const s of started.reverse()) await s.stop().catch(() => {})
  rmSync(dir, { recursive: true, force: true })
})

describe('plain wrangler dev with the top-level wrangler.toml', { timeout: 180_000 }, () => {
  it('answers 500 naming both ways to run locally, and logs every problem in one record', async () => {
    const dev = await wranglerDev([])
    const res = await firstAnswer(dev.url, '/health')
    expect(res.status).toBe(500)
    expect(res.headers.get('content-type')).toBe('application/problem+json')
    const body = (await res.json()) as Record<string, unknown>
    expect(body).toMatchObject({ code: 'internal_error', detail: LOCAL_WAYS })
    await sleep(500)
    const records = dev.process.output().match(/\{"datetime[^\n]*"event":"config_invalid"[^\n]*\}/g) ?? []
    expect(records).toHaveLength(1)
    const record = JSON.parse(records[0] as string) as { variables: string[] }
    // Every missing value in one record: the Upstash pair, the keys and secrets, the origin, CORS, account events.
    expect(record.variables).toHaveLength(8)
    expect(record.variables).toEqual(
      expect.arrayContaining(['UPSTASH_REDIS_REST_URL', 'JWT_PRIVATE_KEY', 'CORS_ORIGINS']),
    )
    await dev.process.stop()
  })

  it('serves with `npm run upstash-local` and the wrangler dev command it prints', async () => {
    const devVars = path.join(dir, '.dev.vars')
    writeFileSync(
      devVars,
      [
        `UPSTASH_REDIS_REST_TOKEN=${generateHmacSecret()}`,
        `JWT_PRIVATE_KEY='${JSON.stringify(generateEd25519Jwks().privateJwk)}'`,
        `PASSWORD_PEPPER=${generateHmacSecret()}`,
        `UPSTREAM_SIGNING_SECRET=${generateHmacSecret()}`,
      ].join('\n'),
    )
    const upstash = start([
      '--experimental-strip-types',
      path.join(ROOT, 'scripts/upstash-local.ts'),
      '--dev-vars',
      devVars,
    ])
    const deadline = Date.now() + 30_000
    let command: RegExpMatchArray | null = null
    while (command === null && Date.now() < deadline) {
      command = upstash.output().match(/^ {2}npx wrangler dev (.*)$/m)
      await sleep(100)
    }
    expect(upstash.output()).toContain('npm run db:migrate:local')
    const args = (command?.[1] ?? '').split(' ')
    expect(args).toEqual([
      '--var',
      'ENVIRONMENT:development',
      '--var',
      expect.stringMatching(/^UPSTASH_REDIS_REST_URL:http:\/\/127\.0\.0\.1:\d+$/),
    ])
    const dev = await wranglerDev(args)
    const res = await firstAnswer(dev.url, '/health/live')
    expect(await res.json()).toEqual({ status: 'ok' })
    expect(res.status).toBe(200)
  })
})

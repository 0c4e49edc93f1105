/**
 * The README's tour, run as written: the shell block after the `readme-tour` marker goes to bash against the built
 * worker in Miniflare (D1 migrated, the local Upstash server over a real redis-server, the echo upstream), with
 * wrangler.toml's variables as `npm run dev` runs it, rate limits included. Every `curl` in the block is a step;
 * a trailing `# 403 insufficient_scope` names the status (200 when absent) and problem code it must answer, and
 * a `# {…}` line after it is an example whose keys, strings and booleans the answer must have.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { promisify } from 'node:util'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { parse as parseToml } from 'smol-toml'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EchoUpstream, startEchoUpstream } from '../../scripts/echo-upstream.ts'
import { DEV_ACCOUNT_EVENTS_PATH } from '../../scripts/lib/dev-account-events.ts'
import { generateEd25519Jwks } from '../../scripts/lib/keys.ts'
import { type Backends, bundleWorker, cleanUp, migrate, ROOT, startBackends } from './support/worker.ts'

const README_URL = 'http://127.0.0.1:8787'
const MARKER = '<!-- readme-tour:'

interface Step {
  /** The command as the README writes it, continuation lines joined. */
  command: string
  status: number
  /** The problem code a refusal must carry, from the annotation after the status. */
  code?: string
  /** The example answer shown under the step, parsed. */
  example?: unknown
}

interface Ran {
  status: number
  retryAfter: string
  body: string
}

/** The tour block's text: the first ```sh fence after the marker. */
function tourBlock(readme: string): string {
  const marker = readme.indexOf(MARKER)
  if (marker < 0) throw new Error(`README.md has no ${MARKER} marker`)
  const match = /```sh\n([\s\S]*?)\n```/.exec(readme.slice(marker))
  if (!match) throw new Error('no ```sh block after the readme-tour marker')
  return match[1] as string
}

/** The `# {…}` example on a comment line, or undefined when the comment is prose. */
function exampleOf(comment: string): unknown {
  const end = comment.lastIndexOf('}')
  if (!comment.startsWith('{') || end < 0) return undefined
  try {
    return JSON.parse(comment.slice(0, end + 1))
  } catch {
    return undefined
  }
}

function tourSteps(block: string): Step[] {
  const lines = block.replace(/\\\n\s*/g, '').split('\n')
  const steps: Step[] = []
  for (const line of lines) {
    const comment = /^\s*#\s?(.*)$/.exec(line)?.[1]
    if (comment !== undefined) {
      const last = steps.at(-1)
      const example = exampleOf(comment)
      if (last && example !== undefined && last.example === undefined) last.example = example
      continue
    }
    if (!/(^|\$\()curl\s/.test(line.trim())) continue
    const note = /#\s*(\d{3})\b(?:\s+([a-z]+(?:_[a-z]+)+))?[^#]*$/.exec(line)
    steps.push({ command: line.trim(), status: note ? Number(note[1]) : 200, code: note?.[2] })
  }
  return steps
}

/** Keys, strings (unless elided with … or a <placeholder>) and booleans of `example` are in `actual`. */
function expectShape(actual: unknown, example: unknown, where: string): void {
  if (Array.isArray(example)) {
    expect(Array.isArray(actual), `${where} is an array`).toBe(true)
    const items = actual as unknown[]
    if (example.length === 0) expect(items, where).toEqual([])
    else expectShape(items[0], example[0], `${where}[0]`)
  } else if (example !== null && typeof example === 'object') {
    expect(actual, `${where} is an object`).toBeTypeOf('object')
    for (const [key, value] of Object.entries(example)) {
      expect(actual, `${where} has ${key}`).toHaveProperty([key])
      expectShape((actual as Record<string, unknown>)[key], value, `${where}.${key}`)
    }
  } else if (typeof example === 'string') {
    expect(actual, where).toBeTypeOf('string')
    if (!/[…<]/.test(example)) expect(actual, where).toBe(example)
  } else if (typeof example === 'boolean') {
    expect(actual, where).toBe(example)
  } else {
    expect(actual, where).toBeTypeOf(typeof example)
  }
}

// Each curl writes its status and Retry-After to stderr and its body to a numbered file (the counter lives in a
// file: `$(curl …)` runs in a subshell), and still prints the body, so `LOGIN=$(curl …)` works as written.
const PRELUDE = `set -euo pipefail
curl() {
  local n=$(( $(cat "$TOUR_OUT/count") + 1 ))
  echo "$n" > "$TOUR_OUT/count"
  command curl --max-time 10 -w '%{stderr}@@step '"$n"' %{http_code} %header{retry-after}\\n' "$@" | tee "$TOUR_OUT/$n"
}
`

/** Runs the tour once against `baseUrl`; the answers of its curl steps, in order. */
async function runTour(block: string, baseUrl: string): Promise<Ran[]> {
  const out = await mkdtemp(path.join(tmpdir(), 'edgeward-tour-'))
  try {
    const script = `echo 0 > "$TOUR_OUT/count"\n${PRELUDE}${block.replaceAll(README_URL, baseUrl)}`
    const { stderr } = await promisify(execFile)('bash', ['-c', script], {
      cwd: ROOT,
      env: { ...process.env, TOUR_OUT: out },
      timeout: 20_000,
    }).catch((err: { stderr?: string; message: string }) => {
      throw new Error(`the tour failed in bash: ${err.stderr || err.message}`)
    })
    const ran: Ran[] = []
    for (const [, n, status, retryAfter] of stderr.matchAll(/^@@step (\d+) (\d{3}) ?(.*)$/gm)) {
      ran.push({
        status: Number(status),
        retryAfter: retryAfter ?? '',
        body: await readFile(path.join(out, n as string), 'utf8'),
      })
    }
    return ran
  } finally {
    await rm(out, { recursive: true, force: true })
  }
}

let backends: Backends | undefined
let echo: EchoUpstream | undefined
let mf: Miniflare | undefined
let baseUrl: string

beforeAll(async () => {
  ;[backends, echo] = await Promise.all([startBackends(), startEchoUpstream()])
  // wrangler.toml's top-level [vars] are what `npm run dev` starts from; it then sets these, as scripts/dev.ts does.
  const toml = parseToml(await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8')) as { vars: Record<string, string> }
  mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      handleStructuredLogs: () => {},
      ...bundleWorker(backends.scriptPath, {
        name: 'edgeward',
        d1Databases: { DB: 'edgeward-tour' },
        bindings: {
          ...toml.vars,
          ...backends.baseBindings(generateEd25519Jwks().privateJwk),
          UPSTREAM_URL: echo.url,
          ACCOUNT_EVENTS_URL: `${echo.url}${DEV_ACCOUNT_EVENTS_PATH}`,
        },
      }),
    }),
  )
  baseUrl = (await mf.ready).origin
  await migrate(mf)
}, 30_000)

afterAll(async () => {
  await cleanUp([() => mf?.dispose(), () => echo?.close(), () => backends?.stop()])
})

describe('the README tour', () => {
  const readmeBlock = async () => tourBlock(await readFile(path.join(ROOT, 'README.md'), 'utf8'))

  it('reads as steps: each curl with its expected status, most with an example answer', async () => {
    const steps = tourSteps(await readmeBlock())
    expect(steps.length).toBeGreaterThanOrEqual(10)
    expect(steps.filter((step) => step.example !== undefined).length).toBeGreaterThanOrEqual(5)
    // Logging out comes last but one: only the check that the token is refused may follow it.
    const logout = steps.findIndex((step) => step.command.includes('/auth/logout'))
    expect(logout).toBe(steps.length - 2)
    expect(steps.at(-1)).toMatchObject({ status: 401, code: 'invalid_token' })
  })

  it('runs top to bottom against a running gateway, every step answering as the README says', {
    timeout: 20_000,
  }, async () => {
    const block = await readmeBlock()
    const steps = tourSteps(block)
    const ran = await runTour(block, baseUrl)
    expect(ran.map((r) => r.status)).toEqual(steps.map((step) => step.status))
    for (const [i, step] of steps.entries()) {
      const { body } = ran[i] as Ran
      const where = `step ${i + 1}: ${step.command}`
      if (step.status === 204) expect(body, where).toBe('')
      else if (step.code) expect(JSON.parse(body), where).toMatchObject({ code: step.code })
      if (step.example !== undefined) expectShape(JSON.parse(body), step.example, where)
      // The proxied steps reach the echo upstream, which shows the signed identity headers it received.
      if (step.status === 200 && /\/api\//.test(step.command)) expect(body.toLowerCase(), where).toContain('x-gateway-')
    }
  })

  it('spends two of the five auth requests a quarter hour allows: a third run cannot log in (429, Retry-After)', async () => {
    // The run above spent two (register, login); a second run spends two more, and a third run's register the fifth.
    const login = () =>
      fetch(`${baseUrl}/auth/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ email: 'alice@example.com', password: 'violet-harbour-lantern-42' }),
      })
    for (let i = 0; i < 3; i++) {
      const admitted = await login()
      await admitted.arrayBuffer()
      expect(admitted.status).toBe(200)
    }
    const refused = await login()
    expect(refused.status).toBe(429)
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0)
    expect(await refused.json()).toMatchObject({ 'violated-policies': ['auth'] })
  })
})

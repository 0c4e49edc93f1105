/**
 * Rate-limit consistency across real isolates (S-RL-1 in docs/requirements.md): instances sharing one Upstash
 * together admit no more than the limit, however requests are spread over them. The deployable bundle runs as six
 * workers in one Miniflare (three pairs, as a pair shares one configuration) against the local Upstash server;
 * for each fast-check interleaving (which instance serves each request, in sequence or concurrently), one client IP.
 */
import fc from 'fast-check'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateEd25519Jwks } from '../../scripts/lib/keys.ts'
import { type Backends, bundleWorker, cleanUp, migrate, startBackends } from './support/worker.ts'

/** The auth policy, 3/15m (an exact sliding log, decided in Redis): together the pair admits exactly min(K, 3). */
const AUTH_PAIR = ['gw-a', 'gw-b'] as const
/**
 * The global policy, 4/13m (the library's sliding window): at most N per fixed bucket, and exactly min(K, N) when
 * the whole run sits in one bucket of a fresh client (13 minutes: practically always).
 */
const GLOBAL_PAIR = ['gw-c', 'gw-d'] as const
/**
 * The auth policy on 3/1s, in real time across bucket boundaries: never more than 3 in any 1 s interval. The
 * 15-minute runs never cross a boundary, so only this pair catches an approximate (two-bucket) algorithm.
 */
const SHORT_AUTH_PAIR = ['gw-e', 'gw-f'] as const
type WorkerName = (typeof AUTH_PAIR)[number] | (typeof GLOBAL_PAIR)[number] | (typeof SHORT_AUTH_PAIR)[number]
const GLOBAL_WINDOW_MS = 13 * 60_000

const keys = generateEd25519Jwks()
let backends: Backends | undefined
let mf: Miniflare | undefined

beforeAll(async () => {
  backends = await startBackends()
  const { scriptPath } = backends
  const shared = {
    ...backends.baseBindings(keys.privateJwk),
  }
  const worker = (name: WorkerName, bindings: Record<string, string>) =>
    bundleWorker(scriptPath, {
      name,
      routes: [`${name}.test/*`],
      d1Databases: { DB: 'edgeward-rate-limit-consistency' },
      bindings: { ...shared, ...bindings },
    })
  mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      handleStructuredLogs: () => {},
      workers: [
        ...AUTH_PAIR.map((name) => worker(name, { RATE_LIMIT_AUTH: '3/15m', RATE_LIMIT_GLOBAL: '1000/15m' })),
        ...GLOBAL_PAIR.map((name) => worker(name, { RATE_LIMIT_AUTH: '3/15m', RATE_LIMIT_GLOBAL: '4/13m' })),
        ...SHORT_AUTH_PAIR.map((name) => worker(name, { RATE_LIMIT_AUTH: '3/1s', RATE_LIMIT_GLOBAL: '1000/15m' })),
      ],
    }),
  )
  await mf.ready
  await migrate(mf, 'gw-a')
}, 30_000)

afterAll(async () => {
  await cleanUp([() => mf?.dispose(), () => backends?.stop()])
})

interface Outcome {
  worker: WorkerName
  status: number
  sent: number
  answered: number
}

/**
 * What an admitted request gets from the route behind the rate-limit stage; 429 means limited. The requests carry
 * no body: `POST /auth/login` answers 415 (no JSON) without a KDF or a lockout count, and `GET /nowhere` reaches
 * the proxy, whose default policy answers 401 (no token).
 */
const ADMITTED = new Set([401, 415])
const isAdmitted = (o: Outcome) => ADMITTED.has(o.status)

async function call(worker: WorkerName, method: 'GET' | 'POST', route: string, ip: string): Promise<Outcome> {
  const sent = Date.now()
  const res = await (mf as Miniflare).dispatchFetch(`https://${worker}.test${route}`, {
    method,
    headers: { 'cf-connecting-ip': ip },
  })
  await res.arrayBuffer()
  return { worker, status: res.status, sent, answered: Date.now() }
}

let ipCounter = 0
/** A client IP no other run uses (the process id keeps reruns against a reused Redis apart too). */
const freshIp = () => {
  ipCounter++
  return `10.${process.pid % 250}.${Math.floor(ipCounter / 250)}.${ipCounter % 250}`
}

/** K requests: which of the pair serves each, and whether it is sent together with the previous one. */
const interleaving = fc.array(fc.record({ second: fc.boolean(), concurrent: fc.boolean() }), {
  minLength: 1,
  maxLength: 8,
})

async function play(
  pair: readonly [WorkerName, WorkerName],
  steps: { second: boolean; concurrent: boolean }[],
  send: (worker: WorkerName, ip: string) => Promise<Outcome>,
): Promise<Outcome[]> {
  const ip = freshIp()
  const batches: WorkerName[][] = []
  for (const { second, concurrent } of steps) {
    const worker = pair[second ? 1 : 0]
    const last = batches.at(-1)
    if (concurrent && last !== undefined) last.push(worker)
    else batches.push([worker])
  }
  const outcomes: Outcome[] = []
  for (const batch of batches) outcomes.push(...(await Promise.all(batch.map((w) => send(w, ip)))))
  return outcomes
}

describe('property 4: instances sharing Upstash together admit no more than N per window', () => {
  it('every worker enforces the configured policies (sanity: the route answers after counting, then 429)', async () => {
    const ip = freshIp()
    const statuses: number[] = []
    for (let i = 0; i < 4; i++) statuses.push((await call('gw-a', 'POST', '/auth/login', ip)).status)
    expect(statuses).toEqual([415, 415, 415, 429])
  })

  it('auth policy (exact, 3/15m): any interleaving of K requests over two isolates admits exactly min(K, 3)', async () => {
    let sawBoth = false
    await fc.assert(
      fc.asyncProperty(interleaving, async (steps) => {
        const outcomes = await play(AUTH_PAIR, steps, (w, ip) => call(w, 'POST', '/auth/login', ip))
        for (const o of outcomes) expect(isAdmitted(o) || o.status === 429).toBe(true)
        const admitted = outcomes.filter(isAdmitted)
        expect(admitted).toHaveLength(Math.min(steps.length, 3))
        sawBoth ||= new Set(admitted.map((o) => o.worker)).size === 2
      }),
      { numRuns: 25 },
    )
    expect(sawBoth).toBe(true)
  })

  it('global policy (library sliding window, 4/13m): at most 4 per fixed bucket across both isolates', async () => {
    await fc.assert(
      fc.asyncProperty(interleaving, async (steps) => {
        const outcomes = await play(GLOBAL_PAIR, steps, (w, ip) => call(w, 'GET', '/nowhere', ip))
        for (const o of outcomes) expect(isAdmitted(o) || o.status === 429).toBe(true)
        const admitted = outcomes.filter(isAdmitted)
        // The library buckets by each isolate's Date.now(); Miniflare's isolates share this host's clock.
        const buckets = new Set(
          outcomes.flatMap((o) => [o.sent, o.answered]).map((t) => Math.floor(t / GLOBAL_WINDOW_MS)),
        )
        if (buckets.size === 1) expect(admitted).toHaveLength(Math.min(steps.length, 4))
        else expect(admitted.length).toBeLessThanOrEqual(8) // straddles a boundary: N per bucket, two buckets
      }),
      { numRuns: 25 },
    )
  })

  it('auth policy (exact, 3/1s) in real time: two isolates together never admit more than 3 in ANY 1 s interval', async () => {
    const windowMs = 1_000
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 600, max: windowMs - 1 }),
        fc.array(
          fc.record({ second: fc.boolean(), concurrent: fc.boolean(), gapMs: fc.integer({ min: 0, max: 50 }) }),
          {
            minLength: 6,
            maxLength: 14,
          },
        ),
        async (phaseMs, steps) => {
          // Start late in a fixed 1 s bucket so the run crosses a boundary.
          await new Promise((r) => setTimeout(r, (phaseMs - (Date.now() % windowMs) + windowMs) % windowMs))
          const ip = freshIp()
          const outcomes: Outcome[] = []
          let batch: Promise<Outcome>[] = []
          for (const { second, concurrent, gapMs } of steps) {
            if (!concurrent && batch.length > 0) {
              outcomes.push(...(await Promise.all(batch)))
              batch = []
              await new Promise((r) => setTimeout(r, gapMs))
            }
            batch.push(call(SHORT_AUTH_PAIR[second ? 1 : 0], 'POST', '/auth/login', ip))
          }
          outcomes.push(...(await Promise.all(batch)))
          const admitted = outcomes.filter(isAdmitted)
          // Certain violations only: admissions sent no earlier than `first` and answered within its window.
          for (const first of admitted) {
            const inside = admitted.filter((b) => b.sent >= first.sent && b.answered < first.sent + windowMs)
            expect(inside.length).toBeLessThanOrEqual(3)
          }
        },
      ),
      { numRuns: 5, endOnFailure: true },
    )
  }, 20_000)
})

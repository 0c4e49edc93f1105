/**
 * The load driver of `npm run bench`: N closed-loop clients on keep-alive connections, each sending its next
 * request when the previous answer has been read, for a fixed time. Built in rather than autocannon, which is
 * not a dependency; node:http with a keep-alive agent keeps the driver's own cost per request small.
 */
import http from 'node:http'
import type { RoundMachine } from './machine-load.ts'

export interface RoundResult {
  requests: number
  durationMs: number
  /** Latencies of the completed requests, in milliseconds, sorted ascending. */
  latencies: number[]
  /** Answers with another status than the expected one, and failed requests. */
  errors: number
  firstError?: string
  /** CPU the runtime used during the round, in ms, when the caller measured it. */
  cpuMs?: number
  /** What the machine did during the round, when the caller measured it. */
  machine?: RoundMachine
}

export interface LoadOptions {
  url: URL
  headers: Record<string, string>
  expectStatus: number
  concurrency: number
  durationMs: number
}

function once(agent: http.Agent, opts: LoadOptions): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(opts.url, { agent, headers: opts.headers }, (res) => {
      res.on('data', () => {})
      res.on('end', () => resolve(res.statusCode ?? 0))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end()
  })
}

export async function runRound(opts: LoadOptions): Promise<RoundResult> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency })
  const latencies: number[] = []
  let errors = 0
  let firstError: string | undefined
  const start = performance.now()
  const deadline = start + opts.durationMs
  const client = async () => {
    while (performance.now() < deadline) {
      const t0 = performance.now()
      try {
        const status = await once(agent, opts)
        if (status === opts.expectStatus) latencies.push(performance.now() - t0)
        else {
          errors++
          firstError ??= `status ${status}, expected ${opts.expectStatus}`
        }
      } catch (err) {
        errors++
        firstError ??= err instanceof Error ? err.message : String(err)
      }
    }
  }
  await Promise.all(Array.from({ length: opts.concurrency }, client))
  const durationMs = performance.now() - start
  agent.destroy()
  latencies.sort((a, b) => a - b)
  return { requests: latencies.length + errors, durationMs, latencies, errors, firstError }
}

/** The q-quantile (0..1) of ascending values, nearest rank; NaN when empty. */
export function quantile(sorted: number[], q: number): number {
  if (sorted.length === 0) return Number.NaN
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] as number
}

/**
 * The middle value of `values`, the mean of the two middle ones for an even count; `values` is not changed. (The
 * benchmark's per-round figures use `quantile(…, 0.5)`, the lower middle, as their p50 does.)
 */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b)
  const half = Math.floor(sorted.length / 2)
  return sorted.length % 2 === 1
    ? (sorted[half] as number)
    : ((sorted[half - 1] as number) + (sorted[half] as number)) / 2
}

/**
 * Exactly `requests` requests from `concurrency` closed-loop keep-alive clients, each answered with `expectStatus`
 * (otherwise it throws): a fixed amount of work, for counting what it costs rather than how fast it goes.
 */
export async function runCount(opts: Omit<LoadOptions, 'durationMs'> & { requests: number }): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: opts.concurrency })
  let left = opts.requests
  const client = async () => {
    while (left > 0) {
      left--
      const status = await once(agent, { ...opts, durationMs: 0 })
      if (status !== opts.expectStatus) throw new Error(`${opts.url}: status ${status}, expected ${opts.expectStatus}`)
    }
  }
  try {
    await Promise.all(Array.from({ length: opts.concurrency }, client))
  } finally {
    agent.destroy()
  }
}

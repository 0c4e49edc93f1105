/**
 * What the benchmark, the profile and `npm run cost:sockets` run their workers against: a redis-server, the local
 * Upstash server over it, and the echo origin, all on loopback.
 */
import { type EchoUpstream, startEchoUpstream } from '../echo-upstream.ts'
import { startUpstashLocal, type UpstashLocal } from '../upstash-local.ts'
import { startRedisServer } from './redis-server.ts'

export interface BenchBackends {
  upstash: UpstashLocal
  origin: EchoUpstream
}

/**
 * Starts the three, each one's stop going first into `steps` as soon as it runs, so a failure part-way leaves
 * nothing behind once the caller runs the steps. `slowLatencyMs`: the latency of the Upstash server's `slow` fault.
 * @example const [scriptPath, { upstash, origin }] = await Promise.all([buildWorker(dir), startBenchBackends(steps)])
 */
export async function startBenchBackends(
  steps: (() => unknown)[],
  opts: { slowLatencyMs?: number } = {},
): Promise<BenchBackends> {
  const redis = await startRedisServer()
  steps.unshift(() => redis.stop())
  const upstash = await startUpstashLocal({ redisUrl: redis.url, ...opts })
  steps.unshift(() => upstash.close())
  const origin = await startEchoUpstream({ logLimit: 1 })
  steps.unshift(() => origin.close())
  return { upstash, origin }
}

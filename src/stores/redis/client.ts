/**
 * The worker's Upstash client, built from config: the thin REST client of rest.ts. Every call is bounded by a
 * timeout that throws, covering its retries, and retried a bounded number of times, on network errors only.
 */
import type { Config } from '../../config/schema'
import { createUpstashRest, type UpstashRest } from './rest'

/** A client for these settings. The gateway builds one per isolate (`createGateway`). */
export function createRedis(config: Config['redis']): UpstashRest {
  return createUpstashRest({
    url: config.url,
    token: config.token,
    timeoutMs: config.timeoutMs,
    retries: config.retries,
  })
}

export interface RedisProbe {
  ok: boolean
  latency_ms: number
  /** Server-side only: why the probe failed. */
  error?: unknown
}

/** PINGs Redis and measures the round trip; never throws. */
export async function probeRedis(redis: Pick<UpstashRest, 'ping'>): Promise<RedisProbe> {
  const started = performance.now()
  try {
    const reply = await redis.ping()
    const latency_ms = Math.round(performance.now() - started)
    return reply === 'PONG'
      ? { ok: true, latency_ms }
      : { ok: false, latency_ms, error: new Error('unexpected PING reply') }
  } catch (error) {
    return { ok: false, latency_ms: Math.round(performance.now() - started), error }
  }
}

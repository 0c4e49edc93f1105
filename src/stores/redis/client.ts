/**
 * The @upstash/redis client, built from config. Every request is bounded by a timeout that throws (the function
 * form of `signal`: after a static signal fires, @upstash/redis resolves every call to `null`, a silent fail-open)
 * and retried a bounded number of times, on network errors only.
 */
import { Redis } from '@upstash/redis/cloudflare'
import type { Config } from '../../config/schema'

/** Backoff between retries of a failed fetch, in ms: short, because the whole request shares one timeout. */
const RETRY_BACKOFF_MS = 25

/** A client for these settings. The gateway builds one per isolate (`createGateway`). */
export function createRedis(config: Config['redis']): Redis {
  return new Redis({
    url: config.url,
    token: config.token,
    // One timer per request, covering every retry of it: a dead Upstash costs at most timeoutMs.
    signal: () => AbortSignal.timeout(config.timeoutMs),
    retry: { retries: config.retries, backoff: () => RETRY_BACKOFF_MS },
    enableTelemetry: false,
    automaticDeserialization: false,
  })
}

export interface RedisProbe {
  ok: boolean
  latency_ms: number
  /** Server-side only: why the probe failed. */
  error?: unknown
}

/** PINGs Redis and measures the round trip; never throws. */
export async function probeRedis(redis: Pick<Redis, 'ping'>): Promise<RedisProbe> {
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

/**
 * `GET /health`: Redis (PING with latency) and D1 (the migrated schema is readable), checked concurrently.
 * 200 when both answer, 503 problem+json otherwise. Never rate limited; reveals no configuration.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../env'
import { GatewayError } from '../errors/gateway-error'
import { logRequest } from '../log/logger'
import { observeUpstash } from '../metrics'
import { getRedis, probeRedis } from '../stores/redis/client'

/** Upper bound on the D1 check; D1 queries have no timeout of their own. */
export const D1_HEALTH_TIMEOUT_MS = 2_000

interface D1Probe {
  ok: boolean
  latency_ms: number
  error?: unknown
}

/** Reads the schema marker written by the first migration, so an unmigrated database reports unhealthy. */
async function probeD1(db: D1Database): Promise<D1Probe> {
  const started = performance.now()
  let timer: number | undefined
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`D1 did not answer within ${D1_HEALTH_TIMEOUT_MS} ms`)),
        D1_HEALTH_TIMEOUT_MS,
      )
    })
    const row = await Promise.race([
      db.prepare("SELECT value FROM gateway_meta WHERE key = 'schema'").first<{ value: string }>(),
      timeout,
    ])
    const latency_ms = Math.round(performance.now() - started)
    return row ? { ok: true, latency_ms } : { ok: false, latency_ms, error: new Error('schema marker missing') }
  } catch (error) {
    return { ok: false, latency_ms: Math.round(performance.now() - started), error }
  } finally {
    if (timer !== undefined) clearTimeout(timer)
  }
}

export async function health(c: Context<AppEnv>): Promise<Response> {
  const [redis, d1] = await Promise.all([probeRedis(getRedis(c.get('config').redis)), probeD1(c.env.DB)])
  observeUpstash(redis.latency_ms, 'health_ping')
  const checks = {
    redis: { ok: redis.ok, latency_ms: redis.latency_ms },
    d1: { ok: d1.ok, latency_ms: d1.latency_ms },
  }
  c.header('cache-control', 'no-store')
  if (redis.ok && d1.ok) return c.json({ status: 'ok', checks })
  logRequest(c, {
    event: 'health_check_failed',
    level: 'error',
    checks,
    redis_error: redis.error,
    d1_error: d1.error,
    outcome: 'failure',
  })
  throw new GatewayError('dependency_unavailable', { retryAfterSeconds: 5, extensions: { checks } })
}

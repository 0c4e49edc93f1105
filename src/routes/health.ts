/**
 * Health probes, never rate limited, revealing no configuration. `GET /health/live` touches no backend;
 * `GET /health` and `GET /health/ready` check Redis and D1 concurrently. A readiness result, failures included, is
 * shared per isolate for READINESS_CACHE_MS, and probes arriving mid-check wait for it: however many probes arrive,
 * they cost at most one Upstash PING and one D1 read per interval.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../env'
import { GatewayError } from '../errors/gateway-error'
import type { Gateway } from '../gateway'
import { observeUpstash } from '../observability/metrics'
import { logRequest } from '../request-log'
import { probeRedis, type RedisProbe } from '../stores/redis/client'

/** How long a readiness result (healthy or not) is served before the backends are checked again. */
export const READINESS_CACHE_MS = 5_000

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
  let timer: ReturnType<typeof setTimeout> | undefined
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

interface Readiness {
  redis: RedisProbe
  d1: D1Probe
}

interface SharedCheck {
  readiness: Promise<Readiness>
  startedAt: number
  /** When the settled result stops being served; unset while the check is running. */
  expiresAt?: number
}

export interface ReadinessOptions {
  /** The clock the cache runs on, in ms (tests move it instead of sleeping). */
  now?: () => number
}

/** `GET /health/live`. */
export function liveness(c: Context<AppEnv>): Response {
  c.header('cache-control', 'no-store')
  return c.json({ status: 'ok' })
}

/**
 * The `GET /health` and `GET /health/ready` handler for one gateway (one per isolate), with its readiness cache:
 * one shared check at a time, its result served for READINESS_CACHE_MS.
 */
export function readiness(
  { config, redis: client, db }: Pick<Gateway, 'config' | 'redis' | 'db'>,
  { now = Date.now }: ReadinessOptions = {},
) {
  let check: SharedCheck | undefined

  return async function ready(c: Context<AppEnv>): Promise<Response> {
    const startedAt = now()
    let fresh = false
    if (check === undefined || !usable(check, startedAt, config.redis.timeoutMs)) {
      fresh = true
      const probes = Promise.all([probeRedis(client), probeD1(db)])
      const started: SharedCheck = {
        startedAt,
        readiness: probes.then(([redis, d1]) => {
          started.expiresAt = now() + READINESS_CACHE_MS
          return { redis, d1 }
        }),
      }
      // Other probes wait for this check: it must outlive this request if its client goes away.
      c.executionCtx.waitUntil(started.readiness)
      check = started
    }
    const { redis, d1 } = await check.readiness
    if (fresh) observeUpstash(redis.latency_ms, 'health_ping')
    const checks = {
      redis: { ok: redis.ok, latency_ms: redis.latency_ms },
      d1: { ok: d1.ok, latency_ms: d1.latency_ms },
    }
    c.header('cache-control', 'no-store')
    if (redis.ok && d1.ok) return c.json({ status: 'ok', checks })
    // Only the probe that ran the check logs it: a cached failure is the same failure, not a new one.
    if (fresh) {
      logRequest(c, {
        event: 'health_check_failed',
        level: 'error',
        checks,
        redis_error: redis.error,
        d1_error: d1.error,
        outcome: 'failure',
      })
    }
    // Retrying sooner than the cache interval would only get this answer again.
    throw new GatewayError('dependency_unavailable', {
      retryAfterSeconds: READINESS_CACHE_MS / 1_000,
      extensions: { checks },
    })
  }
}

/**
 * Whether probes at `nowMs` may share this check. A settled one, until it expires. A running one, while it can
 * still settle: both probes are bounded by their timeouts, so a check still running well past them was cancelled
 * with its request by the runtime, and waiting for it would hang every later probe.
 */
function usable(check: SharedCheck, nowMs: number, redisTimeoutMs: number): boolean {
  if (check.expiresAt !== undefined) return nowMs < check.expiresAt
  return nowMs - check.startedAt < Math.max(redisTimeoutMs, D1_HEALTH_TIMEOUT_MS) + READINESS_CACHE_MS
}

/**
 * The gateway's metrics (S-OB-3 in docs/requirements.md). Counters live in the isolate's memory: each isolate counts
 * only what it served, and its counts start again at 0 when it is evicted, so sum across scrapes with `rate()` /
 * `increase()` and treat `edgeward_isolate_start_timestamp_seconds` changes as resets. Labels come from the enums
 * below only, never from a request. `GET /metrics` is `src/routes/metrics.ts`.
 */
import { RATE_LIMIT_POLICIES, type RateLimitPolicy } from '../lib/rate-limit-policies'
import { MetricRegistry, renderPrometheus } from './registry'

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

export const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const

/** Outcomes of bearer authentication and logout, one label value each. */
export const AUTH_EVENTS = [
  /** A valid, unrevoked access token (no log record: it is the normal case). */
  'authenticated',
  /** No token, a malformed Authorization header, or a token that failed verification (`authn_token_invalid`). */
  'invalid',
  /** A revoked token, session or user (`authn_token_revoked`). */
  'revoked',
  /** The revocation check failed and the request was refused with 503 (REVOCATION_FAILURE_MODE=closed). */
  'revocation_unavailable',
  /** The revocation check failed and the token was accepted unchecked (`revocation_check_skipped`). */
  'revocation_skipped',
  /** A valid token without a required scope (`authz_fail`). */
  'scope_denied',
  /** A successful logout or logout-all (`session_logout`), or one session ended by its user (`session_revoked`). */
  'logout',
  /** POST /auth/login: tokens issued (`authn_login_success`). */
  'login_success',
  /** POST /auth/login: unknown address, wrong password or disabled account (`authn_login_fail`). */
  'login_failed',
  /** POST /auth/login refused because the identifier is locked (`authn_login_lock`). */
  'login_locked',
  /** POST /auth/login refused with 503: the lockout counter could not be reached (fail closed). */
  'login_unavailable',
  /** POST /auth/refresh: a new pair (`session_renewed`). */
  'refreshed',
  /** POST /auth/refresh: unknown, expired or revoked refresh token. */
  'refresh_invalid',
  /** POST /auth/refresh: a rotated token replayed outside the grace window (`authn_token_reuse`). */
  'refresh_reuse',
] as const
export type AuthEvent = (typeof AUTH_EVENTS)[number]

/** Rate-limit policies (S-RL-2, S-RL-3) and what they decided; `degraded_*` = decided by the in-memory fallback. */
export { RATE_LIMIT_POLICIES, type RateLimitPolicy } from '../lib/rate-limit-policies'
export const RATE_LIMIT_DECISIONS = ['allowed', 'limited', 'degraded_allowed', 'degraded_limited'] as const
export type RateLimitDecision = (typeof RATE_LIMIT_DECISIONS)[number]

/** Timed Upstash operations. */
export const UPSTASH_OPS = ['admission', 'revocation_check', 'health_ping'] as const
export type UpstashOp = (typeof UPSTASH_OPS)[number]

/** What a proxied request got: the origin's status class, or the gateway's own failure code. */
export const UPSTREAM_OUTCOMES = [
  '1xx',
  '2xx',
  '3xx',
  '4xx',
  '5xx',
  'upstream_timeout',
  'upstream_unavailable',
  'bad_gateway',
  'payload_too_large',
] as const
export type UpstreamOutcome = (typeof UPSTREAM_OUTCOMES)[number]

/** Upper bounds (ms) of the Upstash latency buckets: a REST round trip is ~1–50 ms, the timeout 1 s by default. */
export const UPSTASH_BUCKETS_MS = [1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000] as const

const registry = new MetricRegistry()

const requests = registry.counter({
  name: 'edgeward_requests_total',
  help: 'Requests answered by this isolate, by HTTP status class.',
  labels: { status_class: STATUS_CLASSES },
})
const authEvents = registry.counter({
  name: 'edgeward_auth_events_total',
  help: 'Bearer authentication and logout outcomes in this isolate.',
  labels: { event: AUTH_EVENTS },
})
const rateLimitDecisions = registry.counter({
  name: 'edgeward_rate_limit_decisions_total',
  help: 'Rate-limit decisions in this isolate, by policy; degraded_* were made by the in-memory fallback.',
  labels: { policy: RATE_LIMIT_POLICIES, decision: RATE_LIMIT_DECISIONS },
})
const degradedMode = registry.gauge({
  name: 'edgeward_degraded_mode',
  help: '1 while this isolate runs degraded (rate limiting in memory because Upstash is unavailable), else 0.',
})
const upstashDuration = registry.histogram({
  name: 'edgeward_upstash_request_duration_ms',
  help: 'Duration of Upstash operations in milliseconds, including retries and timeouts.',
  labels: { op: UPSTASH_OPS },
  buckets: UPSTASH_BUCKETS_MS,
})
const upstreamDuration = registry.histogram({
  name: 'edgeward_upstream_request_duration_ms',
  help: 'Proxied requests in milliseconds until the origin answered (or the gateway gave up), by outcome.',
  labels: { outcome: UPSTREAM_OUTCOMES },
  buckets: UPSTASH_BUCKETS_MS,
})
const isolateStart = registry.gauge({
  name: 'edgeward_isolate_start_timestamp_seconds',
  help: 'Unix time of the first request this isolate served; a change means its counters restarted at 0.',
})

/** Counts one authentication outcome. */
export function countAuthEvent(event: AuthEvent): void {
  authEvents.inc({ event })
}

/** Counts one rate-limit decision. */
export function countRateLimitDecision(policy: RateLimitPolicy, decision: RateLimitDecision): void {
  rateLimitDecisions.inc({ policy, decision })
}

/** Marks whether this isolate runs degraded (S-RL-7). */
export function setDegradedMode(degraded: boolean): void {
  degradedMode.set({}, degraded ? 1 : 0)
}

/** Records the duration of one Upstash operation, in ms. */
export function observeUpstash(ms: number, op: UpstashOp): void {
  upstashDuration.observe({ op }, Math.max(0, ms))
}

/** Records one proxied request: its outcome and how long until the origin's response head, in ms. */
export function countUpstream(outcome: string, ms: number): void {
  if ((UPSTREAM_OUTCOMES as readonly string[]).includes(outcome)) {
    upstreamDuration.observe({ outcome: outcome as UpstreamOutcome }, Math.max(0, ms))
  }
}

/** The current metrics as Prometheus text (what `GET /metrics` serves). */
export function renderMetrics(): string {
  markIsolateStart()
  return renderPrometheus(registry)
}

export function markIsolateStart(): void {
  // Set on first use rather than at module load, where the Workers clock is not to be relied on.
  if (isolateStart.get({}) === 0) isolateStart.set({}, Math.floor(Date.now() / 1000))
}

function statusClass(status: number): (typeof STATUS_CLASSES)[number] {
  const index = Math.min(Math.max(Math.floor(status / 100), 1), 5) - 1
  return STATUS_CLASSES[index] ?? '5xx'
}

/** Counts one response by status class (the request-counting stage calls it for every response, errors too). */
export function countResponse(status: number): void {
  markIsolateStart()
  requests.inc({ status_class: statusClass(status) })
}

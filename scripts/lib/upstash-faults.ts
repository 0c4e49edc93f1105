// Test-only fault injection and request counters of upstash-local, kept per lane: the one path segment a client's
// base URL may carry, so test files sharing one server can break or count their own traffic only.
import type http from 'node:http'

export type FaultMode = 'none' | 'refuse' | 'hang' | 'error500' | 'slow'

/** Latency the `slow` fault adds before a request is served normally: makes round trips countable by time. */
export const SLOW_FAULT_LATENCY_MS = 250

export const FAULT_MODES: readonly FaultMode[] = ['none', 'refuse', 'hang', 'error500', 'slow']

export interface RequestStats {
  requests: number
  commands: number
}

export interface FaultState {
  faults: Map<string, { mode: Exclude<FaultMode, 'none'>; timer?: NodeJS.Timeout }>
  hung: Map<string, Set<http.ServerResponse>>
  counters: Map<string, RequestStats>
  total: RequestStats
  /** What the `slow` fault adds per request (SLOW_FAULT_LATENCY_MS unless the server was started with another). */
  slowLatencyMs: number
  log: (line: string) => void
}

export function normalizePrefix(prefix: string | undefined): string {
  const trimmed = (prefix ?? '').replace(/^\/+|\/+$/g, '')
  if (trimmed.includes('/'))
    throw new TypeError(`upstash-local: a fault/stats prefix is one path segment, got ${prefix}`)
  return trimmed === '' ? '' : `/${trimmed}`
}

export function setFault(state: FaultState, mode: FaultMode, durationMs?: number, prefix?: string): void {
  if (!FAULT_MODES.includes(mode)) throw new TypeError(`upstash-local: unknown fault mode ${String(mode)}`)
  if (durationMs !== undefined && !(Number.isFinite(durationMs) && durationMs >= 0)) {
    throw new TypeError('upstash-local: durationMs must be a non-negative number')
  }
  const scope = normalizePrefix(prefix)
  clearFault(state, scope)
  if (mode === 'none') return
  const timer = durationMs === undefined ? undefined : setTimeout(() => clearFault(state, scope), durationMs)
  timer?.unref()
  state.faults.set(scope, timer ? { mode, timer } : { mode })
  state.log(
    `upstash-local: fault ${mode}${scope ? ` on ${scope}` : ''}${durationMs === undefined ? '' : ` for ${durationMs} ms`}`,
  )
}

// Hung requests are dropped when their hang ends, so no socket outlives the fault.
export function clearFault(state: FaultState, scope: string): void {
  const fault = state.faults.get(scope)
  if (!fault) return
  clearTimeout(fault.timer)
  state.faults.delete(scope)
  for (const res of state.hung.get(scope) ?? []) res.destroy()
  state.hung.delete(scope)
}

export function activeFault(
  state: FaultState,
  lane: string,
): { mode: Exclude<FaultMode, 'none'>; scope: string } | undefined {
  const global = state.faults.get('')
  if (global) return { mode: global.mode, scope: '' }
  const scoped = lane ? state.faults.get(lane) : undefined
  return scoped ? { mode: scoped.mode, scope: lane } : undefined
}

export function count(state: FaultState, lane: string, field: keyof RequestStats, n: number): void {
  const counter = state.counters.get(lane) ?? { requests: 0, commands: 0 }
  state.counters.set(lane, counter)
  counter[field] += n
  state.total[field] += n
}

export function readStats(state: FaultState, prefix?: string): RequestStats {
  const counter = prefix === undefined ? state.total : state.counters.get(normalizePrefix(prefix))
  return { requests: counter?.requests ?? 0, commands: counter?.commands ?? 0 }
}

export function resetStats(state: FaultState, prefix?: string): void {
  if (prefix !== undefined) return void state.counters.delete(normalizePrefix(prefix))
  state.counters.clear()
  state.total = { requests: 0, commands: 0 }
}

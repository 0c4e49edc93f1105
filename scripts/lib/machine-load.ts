/**
 * How busy the machine itself was while `npm run bench` measured a round, so a reader can tell a slow gateway from a
 * slow machine: the share of CPU time the hypervisor gave to other guests (steal, from Linux's /proc/stat), and how
 * late the load driver's own event loop ran (its timers, node's `monitorEventLoopDelay`). The driver, the Upstash
 * server and the origin share that loop, so a pause of it delays every answer it times.
 */
import { readFileSync } from 'node:fs'
import { monitorEventLoopDelay } from 'node:perf_hooks'

/** Clock ticks of every CPU together since boot: the stolen ones and all of them. */
export interface CpuTicks {
  steal: number
  total: number
}

/**
 * The machine-wide `cpu` line of /proc/stat: user, nice, system, idle, iowait, irq, softirq, steal, then guest and
 * guest_nice, which Linux already counts in user and nice, so they stay out of the total.
 */
export function parseProcStat(text: string): CpuTicks {
  const line = text.split('\n').find((l) => l.startsWith('cpu '))
  if (line === undefined) throw new Error('/proc/stat: no cpu line')
  const ticks = line.trim().split(/\s+/).slice(1, 9).map(Number)
  if (ticks.length < 8 || ticks.some((t) => !Number.isFinite(t))) throw new Error(`/proc/stat: unexpected cpu line`)
  return { steal: ticks[7] as number, total: ticks.reduce((a, b) => a + b, 0) }
}

/** Reads the machine's CPU ticks; undefined where there is no /proc/stat (the bench then reports n/a). */
export function cpuTicksReader(): (() => CpuTicks) | undefined {
  if (process.platform !== 'linux') return undefined
  const read = () => parseProcStat(readFileSync('/proc/stat', 'utf8'))
  try {
    read()
  } catch {
    return undefined
  }
  return read
}

/** The share (0..1) of the CPU time between two readings that was stolen; NaN when no tick passed. */
export function stealShare(before: CpuTicks, after: CpuTicks): number {
  const total = after.total - before.total
  return total > 0 ? (after.steal - before.steal) / total : Number.NaN
}

/** How often the driver's loop is sampled, in ms: a late sample shows a pause of at least its lateness. */
const LOOP_SAMPLE_MS = 10

/** Starts timing the driver's event loop; `stop` returns the longest delay seen, in ms. */
export function watchEventLoop(): { stop(): number } {
  const histogram = monitorEventLoopDelay({ resolution: LOOP_SAMPLE_MS })
  histogram.enable()
  return {
    stop() {
      histogram.disable()
      // The histogram holds nanoseconds and counts the sampling interval in each delay.
      return histogram.count === 0 ? 0 : Math.max(0, histogram.max / 1e6 - LOOP_SAMPLE_MS)
    },
  }
}

/** What one round saw of the machine. */
export interface RoundMachine {
  /** Share of the machine's CPU time stolen by the hypervisor during the round (0..1), NaN where unknown. */
  stealShare: number
  /** The load driver's longest event-loop pause during the round, in ms. */
  driverPauseMs: number
}

/** Measures `round` together with what the machine did meanwhile. */
export async function withMachine<T>(round: () => Promise<T>): Promise<{ result: T; machine: RoundMachine }> {
  const read = cpuTicksReader()
  const before = read?.()
  const loop = watchEventLoop()
  let driverPauseMs = 0
  let result: T
  try {
    result = await round()
  } finally {
    driverPauseMs = loop.stop()
  }
  const after = read?.()
  const steal = before !== undefined && after !== undefined ? stealShare(before, after) : Number.NaN
  return { result, machine: { stealShare: steal, driverPauseMs } }
}

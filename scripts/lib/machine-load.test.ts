import { describe, expect, it } from 'vitest'
import type { RoundResult } from './bench-load.ts'
import { summarize } from './bench-report.ts'
import { cpuTicksReader, parseProcStat, stealShare, watchEventLoop, withMachine } from './machine-load.ts'

// user nice system idle iowait irq softirq steal guest guest_nice
const STAT = 'cpu  100 10 40 800 20 0 10 20 7 3\ncpu0 50 5 20 400 10 0 5 10 3 1\nintr 1 2 3\n'

describe('parseProcStat', () => {
  it('reads the machine-wide line, stolen ticks apart, guest time left out of the total (already in user)', () => {
    expect(parseProcStat(STAT)).toEqual({ steal: 20, total: 1000 })
  })

  it('refuses text without a cpu line or with a short one', () => {
    expect(() => parseProcStat('intr 1 2 3\n')).toThrow(/no cpu line/)
    expect(() => parseProcStat('cpu  1 2 3\n')).toThrow(/unexpected/)
  })
})

describe('stealShare', () => {
  it('is the stolen part of the ticks between two readings', () => {
    expect(stealShare({ steal: 20, total: 1000 }, { steal: 70, total: 2000 })).toBe(0.05)
    expect(stealShare({ steal: 20, total: 1000 }, { steal: 20, total: 1000 })).toBeNaN()
  })

  it('reads this machine where it has /proc/stat', () => {
    const read = cpuTicksReader()
    if (process.platform !== 'linux') return expect(read).toBeUndefined()
    const ticks = read?.()
    expect(ticks?.total).toBeGreaterThan(0)
    expect(ticks?.steal).toBeGreaterThanOrEqual(0)
  })
})

describe('watchEventLoop', () => {
  it('reports a pause of the loop, and next to nothing for a loop that only waits', async () => {
    const busy = watchEventLoop()
    await new Promise((resolve) => setTimeout(resolve, 30))
    const until = performance.now() + 200
    while (performance.now() < until) {
      // Holds the loop, as a collection or a descheduled process would.
    }
    await new Promise((resolve) => setTimeout(resolve, 30))
    expect(busy.stop()).toBeGreaterThanOrEqual(150)

    const idle = watchEventLoop()
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect(idle.stop()).toBeLessThan(100)
  })
})

describe('withMachine', () => {
  it("hands back the round's result with what the machine did, and stops watching when the round fails", async () => {
    // Long enough for the clock to tick (100 ticks a second): with no tick between the readings the share is n/a.
    const { result, machine } = await withMachine(() => new Promise((resolve) => setTimeout(resolve, 100, 7)))
    expect(result).toBe(7)
    expect(machine.driverPauseMs).toBeGreaterThanOrEqual(0)
    if (process.platform === 'linux') expect(machine.stealShare).toBeGreaterThanOrEqual(0)
    await expect(
      withMachine(async () => {
        throw new Error('round failed')
      }),
    ).rejects.toThrow('round failed')
  })
})

describe('summarize', () => {
  const round = (machine?: RoundResult['machine']): RoundResult => ({
    requests: 2,
    durationMs: 1000,
    latencies: [1, 2],
    errors: 0,
    ...(machine === undefined ? {} : { machine }),
  })

  it("keeps the worst round's steal and driver pause, and n/a where no round measured them", () => {
    const row = summarize(
      'v',
      [round({ stealShare: 0.01, driverPauseMs: 4 }), round({ stealShare: 0.2, driverPauseMs: 1 }), round()],
      {
        requests: 0,
        commands: 0,
      },
    )
    expect(row.stealPercent).toBeCloseTo(20, 10)
    expect(row.driverPauseMs).toBe(4)
    const none = summarize('v', [round()], { requests: 0, commands: 0 })
    expect(none.stealPercent).toBeNaN()
    expect(none.driverPauseMs).toBeNaN()
  })
})

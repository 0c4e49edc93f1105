/**
 * Time for the contract suites. A contract says "let 1.1 s pass" and each backend makes it so: a store that takes a
 * clock gets a manual one that jumps, a store that reads its own clock (Redis TTLs, Redis `TIME`) gets real time and
 * the test sleeps. Contracts therefore keep the durations they need small.
 */
export interface TestClock {
  /** Epoch milliseconds. */
  now(): number
  /** Lets `ms` pass. */
  advance(ms: number): Promise<void>
}

/** A clock that moves only when told: `now` is a plain function a store can take as its `clock` option. */
export function manualClock(startMs = 1_800_000_000_000): TestClock {
  let now = startMs
  return {
    now: () => now,
    async advance(ms) {
      now += ms
    },
  }
}

/** Real time. Workers clocks advance across I/O only, and a timer is I/O: after `advance`, `now` has moved. */
export function wallClock(): TestClock {
  return {
    now: () => Date.now(),
    advance: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  }
}

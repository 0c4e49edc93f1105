import { vi } from 'vitest'

/** Captures the gateway's structured log lines (console.log / console.error) for the duration of a test. */
export function captureLogs() {
  const lines: string[] = []
  const record = (...args: unknown[]) => {
    lines.push(args.map(String).join(' '))
  }
  const spies = [
    vi.spyOn(console, 'log').mockImplementation(record),
    vi.spyOn(console, 'error').mockImplementation(record),
  ]
  return {
    lines,
    /** Every line that parsed as JSON. A line that does not parse fails the test: logs are one JSON object per line. */
    records(): Record<string, unknown>[] {
      return lines.map((l) => JSON.parse(l) as Record<string, unknown>)
    },
    events(name: string) {
      return this.records().filter((r) => r.event === name)
    },
    restore() {
      for (const s of spies) s.mockRestore()
    },
  }
}

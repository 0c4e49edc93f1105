/**
 * Faults the echo upstream can be armed with: "answer the next N requests whose body contains X with status S".
 * Matching on a body substring (a test's own unique id) lets one test make the origin fail for its request while
 * other test files, sharing the same echo server, are answered normally.
 */

export type Fault = {
  /** A substring of the request body (UTF-8) that selects the requests to fail. */
  match: string
  /** How many matching requests fail; then the fault is spent. */
  times: number
  /** The status they get: 500–599. */
  status: number
}

export type Faults = {
  /** Arms the fault a `POST /__echo/faults` JSON body describes; returns why it is refused, if it is. */
  arm(json: string): string | undefined
  /** The status to answer instead of the echo for a request with this body, spending one use, if a fault matches. */
  take(body: Buffer): number | undefined
  clear(): void
}

export function createFaults(): Faults {
  let armed: Fault[] = []
  return {
    arm(json) {
      const { match, times, status } = (parseJson(json) ?? {}) as Partial<Fault>
      if (typeof match !== 'string' || match.length === 0) return 'match must be a non-empty string'
      if (!Number.isInteger(times) || (times as number) < 1 || (times as number) > 100) return 'times must be 1-100'
      if (!Number.isInteger(status) || (status as number) < 500 || (status as number) > 599)
        return 'status must be 500-599'
      armed.push({ match, times: times as number, status: status as number })
      return undefined
    },
    take(body) {
      const fault = armed.find((f) => body.includes(f.match, 0, 'utf8'))
      if (fault === undefined) return undefined
      fault.times -= 1
      if (fault.times === 0) armed = armed.filter((f) => f !== fault)
      return fault.status
    },
    clear() {
      armed = []
    },
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown
  } catch {
    return undefined
  }
}

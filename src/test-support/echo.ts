/** The echo upstream (scripts/echo-upstream.ts) as the origin's view in tests: what it received, and whether. */
import { inject } from 'vitest'

/** The parts of `EchoRecord` (scripts/echo-upstream.ts, a Node module the worker build cannot import) tests read. */
export interface Echo {
  method: string
  /** Path and query exactly as received. */
  path: string
  headers: Record<string, string>
  rawHeaders: [string, string][]
  body: string
  bodyBytes: number
  bodySha256: string
  /** The status an armed fault answered instead of the echo (`armFault`). */
  fault?: number
  /** Milliseconds since the epoch when the request head arrived. */
  receivedAt: number
}

/** The echo upstream's base URL (started by test/global-setup.ts). */
export const ECHO_URL = inject('upstreamUrl')

/** A second echo server that is not the origin: whatever reaches it through the gateway has leaked. */
export const THIRD_PARTY_URL = inject('thirdPartyUrl')

/** Every request the echo upstream (or `server`) logged whose path (query included) starts with `prefix`. */
export async function received(prefix: string, server = ECHO_URL): Promise<Echo[]> {
  const log = (await (await fetch(`${server}/__echo/log`)).json()) as Echo[]
  return log.filter((r) => r.path.startsWith(prefix))
}

/**
 * Makes the echo upstream answer the next `times` requests whose body contains `match` with `status` (500–599)
 * instead of the echo: an origin down for those requests only, whatever other test files send meanwhile.
 */
export async function armFault(match: string, times = 1, status = 503, server = ECHO_URL): Promise<void> {
  const res = await fetch(`${server}/__echo/faults`, { method: 'POST', body: JSON.stringify({ match, times, status }) })
  if (!res.ok) throw new Error(`the echo upstream refused the fault: ${await res.text()}`)
}

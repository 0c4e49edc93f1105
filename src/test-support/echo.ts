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
}

/** The echo upstream's base URL (started by test/global-setup.ts). */
export const ECHO_URL = inject('upstreamUrl')

/** Every request the echo upstream logged whose path (query included) starts with `prefix`. */
export async function received(prefix: string): Promise<Echo[]> {
  const log = (await (await fetch(`${ECHO_URL}/__echo/log`)).json()) as Echo[]
  return log.filter((r) => r.path.startsWith(prefix))
}

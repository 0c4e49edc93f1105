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

/** A second echo server that is not the origin: whatever reaches it through the gateway has leaked. */
export const THIRD_PARTY_URL = inject('thirdPartyUrl')

/** Every request the echo upstream (or `server`) logged whose path (query included) starts with `prefix`. */
export async function received(prefix: string, server = ECHO_URL): Promise<Echo[]> {
  const log = (await (await fetch(`${server}/__echo/log`)).json()) as Echo[]
  return log.filter((r) => r.path.startsWith(prefix))
}

/**
 * Request id (R-LOG-3 in docs/requirements.md): an inbound `X-Request-Id` is kept only if it matches
 * `^[A-Za-z0-9-]{8,64}$`, otherwise a UUIDv4 is generated. It is echoed on every response, errors included, and logged
 * with every record.
 */
import { requestHeader } from '../../request-parse'
import type { Stage } from '../stage'

export const REQUEST_ID_HEADER = 'X-Request-Id'
const VALID_REQUEST_ID = /^[A-Za-z0-9-]{8,64}$/

/** The inbound id if it is safe to reuse (no CR/LF, no log-forging characters, bounded length). */
export function acceptRequestId(inbound: string | undefined): string | undefined {
  return inbound !== undefined && VALID_REQUEST_ID.test(inbound) ? inbound : undefined
}

// Not hono's requestId, which accepts `_` and `=` and any length up to its limitLength; the variable is the same
// (`requestId`, hono's RequestIdVariables).
export const requestId = (): Stage => ({
  enter(c) {
    c.set('requestId', acceptRequestId(requestHeader(c, REQUEST_ID_HEADER)) ?? crypto.randomUUID())
  },
  // Set on the way out: error and not-found responses are built fresh and would drop a header set earlier.
  leave(c) {
    c.res.headers.set(REQUEST_ID_HEADER, c.get('requestId'))
  },
})

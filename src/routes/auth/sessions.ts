/**
 * `GET /auth/sessions` and `DELETE /auth/sessions/{id}`: a user's sessions (their live refresh families, the 100
 * most recent) and ending one of them. Every id that does not name a live session of the caller (unknown,
 * malformed, already ended, another user's) gets the same 404, so the route tells nobody whether someone else's
 * session exists.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { countAuthEvent } from '../../observability/metrics'
import { logRequest } from '../../request-log'
import type { FamilySummary } from '../../stores/types'
import { inD1, principalOf, revokeSessions } from './session'

/** A family id as the stores make them (`crypto.randomUUID()`); anything else costs no D1 query. */
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

const isoTime = (seconds: number) => new Date(seconds * 1000).toISOString()

export interface SessionBody {
  id: string
  created_at: string
  /** The last refresh, or the login. */
  last_used_at: string
  /** When the session ends unless it is refreshed before (the idle expiry, capped by the absolute one). */
  expires_at: string
  /** The audience the session's tokens are issued for. */
  client: string
  /** The session of the access token that asked. */
  current: boolean
}

/** A session as the API shows it, without `current` (which depends on who asks). */
export function sessionBody(family: FamilySummary): Omit<SessionBody, 'current'> {
  return {
    id: family.id,
    created_at: isoTime(family.createdAt),
    last_used_at: isoTime(family.lastUsedAt),
    expires_at: isoTime(family.expiresAt),
    client: family.client,
  }
}

/** The caller's live sessions, newest first, at most 100. */
export async function listSessions(c: Context<AppEnv>, gw: Pick<Gateway, 'refreshTokens'>): Promise<Response> {
  const { sub, sid } = principalOf(c)
  const families = await inD1('session_list_failed', sub, () =>
    gw.refreshTokens.listFamilies(sub, Math.floor(Date.now() / 1000)),
  )
  const sessions = families.map((family): SessionBody => ({ ...sessionBody(family), current: family.id === sid }))
  c.header('cache-control', 'no-store')
  return c.json({ sessions })
}

/**
 * Ends one of the caller's sessions, the current one included (a logout of that session): its refresh family in D1
 * (checked to be the caller's and live in the same write), then its access tokens in Upstash, as logout does.
 *
 * If the Upstash write fails (503) the family is already revoked, so the session can no longer be refreshed; a
 * retry finds the caller's own revoked family, writes Upstash again and answers 204, so a client that retries
 * a 503 always ends the session's access tokens too. DELETE is idempotent for the session's owner; for anyone
 * else every id is the same 404.
 */
export async function endSession(
  c: Context<AppEnv>,
  gw: Pick<Gateway, 'refreshTokens' | 'revocation'>,
): Promise<Response> {
  const principal = principalOf(c)
  const id = c.req.param('id') ?? ''
  const wellFormed = SESSION_ID.test(id)
  const ended = wellFormed
    ? await inD1('session_revoke_failed', principal.sub, () =>
        gw.refreshTokens.revokeFamilyOf(principal.sub, id, 'session_revoked'),
      )
    : 'not_found'
  if (ended === 'not_found') {
    // Logged as `request_rejected`: a run of these from one user is someone guessing at sessions.
    const attempted = wellFormed ? { session_id: id } : {}
    throw new GatewayError('not_found', { internal: { reason: 'session_not_found', ...attempted } })
  }
  await revokeSessions(gw, [id], principal, 'session_revoke_write_failed')
  logRequest(c, {
    event: 'session_revoked',
    level: 'info',
    description: 'A session was ended by its user: refresh family and access tokens revoked.',
    userid: principal.sub,
    session_id: id,
    current: id === principal.sid,
    retry: ended === 'already_revoked',
    outcome: 'success',
  })
  countAuthEvent('logout')
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

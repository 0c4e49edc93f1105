/**
 * `GET` and `DELETE /auth/admin/users/{id}/sessions`: an account's live sessions as its owner sees them (without
 * `current`), and ending all of them at once, with every live access token of the account.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import type { Gateway } from '../../gateway'
import { endAllSessions } from '../auth/session'
import { sessionBody } from '../auth/sessions'
import { attempt, audit, done, inStore, targetUser } from './support'

/** The account's live sessions, newest first, at most 100: the shape of `GET /auth/sessions` without `current`. */
export async function listUserSessions(
  c: Context<AppEnv>,
  gw: Pick<Gateway, 'users' | 'refreshTokens'>,
): Promise<Response> {
  const { user } = await targetUser(c, gw)
  const families = await inStore('admin_session_list_failed', user.id, () =>
    gw.refreshTokens.listFamilies(user.id, Math.floor(Date.now() / 1000)),
  )
  audit(c, 'sessions_list', user.id, { sessions: families.length })
  c.header('cache-control', 'no-store')
  return c.json({ sessions: families.map(sessionBody) })
}

/**
 * Ends every session of the account (D1) and revokes every access token issued to it up to now (Upstash), then
 * tells its owner (`account.sessions_revoked`). An administrator may end their own sessions: that is a logout-all.
 */
export async function endUserSessions(c: Context<AppEnv>, gw: Gateway): Promise<Response> {
  const { user } = await targetUser(c, gw)
  return attempt(c, 'sessions_revoke', user.id, async () => {
    const sessions = await endAllSessions(gw, user.id, 'admin_revoked')
    await gw.accountEvents.send(
      { type: 'account.sessions_revoked', email: user.email, user_id: user.id },
      c.executionCtx,
    )
    audit(c, 'sessions_revoke', user.id, { sessions })
    return done(c)
  })
}

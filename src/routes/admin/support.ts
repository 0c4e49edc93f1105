/**
 * What every admin route shares: the scope, the target account from the path, the refusal to act on oneself, the
 * 503 of an unreachable store, and the audit record. Every admin action is one `authz_admin` record that
 * names the administrator (`admin_userid`) and the account acted on (`target_userid`), never a password or token.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import type { Principal } from '../../middleware/authenticate'
import { logRequest } from '../../request-log'
import type { User } from '../../stores/types'
import { ACCOUNT_RETRY_AFTER_SECONDS } from '../auth/account'
import { principalOf } from '../auth/session'

/** The scope every `/auth/admin/` route requires. */
export const ADMIN_SCOPE = 'edgeward:admin'

/** A user id as the stores make them (`crypto.randomUUID()`); anything else costs no D1 query. */
const USER_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/

export type AdminAction =
  | 'user_search'
  | 'sessions_list'
  | 'sessions_revoke'
  | 'user_unlock'
  | 'user_disable'
  | 'user_enable'
  | 'user_scopes_set'
  | 'user_delete'

const DESCRIPTIONS: Record<AdminAction, string> = {
  user_search: 'An administrator looked an account up by email.',
  sessions_list: "An administrator listed an account's sessions.",
  sessions_revoke: 'An administrator ended every session of an account and revoked its access tokens.',
  user_unlock: "An administrator cleared an account's login lockout.",
  user_disable: 'An administrator disabled an account: its sessions and access tokens were revoked.',
  user_enable: 'An administrator enabled an account again.',
  user_scopes_set: "An administrator replaced an account's scopes: its access tokens were revoked.",
  user_delete: 'An administrator erased an account: row, sessions, lockout counters and access tokens.',
}

/** The administrator and the account the path names; 404 `not_found` for an unknown or malformed id. */
export async function targetUser(
  c: Context<AppEnv>,
  { users }: Pick<Gateway, 'users'>,
): Promise<{ admin: Principal; user: User }> {
  const admin = principalOf(c)
  const id = c.req.param('id') ?? ''
  const wellFormed = USER_ID.test(id)
  const user = wellFormed ? await inStore('admin_user_read_failed', id, () => users.findById(id)) : null
  if (user === null) {
    throw new GatewayError('not_found', {
      internal: {
        reason: 'admin_user_not_found',
        admin_userid: admin.sub,
        ...(wellFormed ? { target_userid: id } : {}),
      },
    })
  }
  return { admin, user }
}

/** 409 `admin_self_action` when `refused` holds: an administrator locking themself out is refused, and logged. */
export function refuseSelf(admin: Principal, user: User, action: AdminAction, refused = true): void {
  if (refused && admin.sub === user.id) {
    throw new GatewayError('admin_self_action', {
      internal: { reason: 'admin_self_action', action, admin_userid: admin.sub, target_userid: user.id },
    })
  }
}

/**
 * Runs a D1 or lockout (Upstash) step of an admin route: a failure is a 503 `dependency_unavailable`, logged with
 * `reason` and the account acted on (the administrator is the record's `userid`).
 */
export async function inStore<T>(reason: string, targetUserid: string | undefined, step: () => Promise<T>): Promise<T> {
  try {
    return await step()
  } catch (cause) {
    const target = targetUserid === undefined ? {} : { target_userid: targetUserid }
    throw unavailable('dependency_unavailable', reason, cause, ACCOUNT_RETRY_AFTER_SECONDS, target)
  }
}

/** The audit record of an admin action that was carried out. */
export function audit(
  c: Context<AppEnv>,
  action: AdminAction,
  targetUserid: string | undefined,
  fields: Record<string, unknown> = {},
): void {
  logRequest(c, {
    event: 'authz_admin',
    level: 'info',
    description: DESCRIPTIONS[action],
    action,
    admin_userid: principalOf(c).sub,
    ...(targetUserid === undefined ? {} : { target_userid: targetUserid }),
    ...fields,
    outcome: 'success',
  })
}

/** The answer of a change: 204, never cached. */
export function done(c: Context<AppEnv>): Response {
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

/**
 * What every admin route shares: the scope, the target account from the path, the refusal to act on oneself, the
 * 503 of an unreachable store, and the audit record. Every admin action is one `authz_admin` record that
 * names the administrator (`admin_userid`) and the account acted on (`target_userid`), never a password or token.
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { ADMIN_SCOPE } from '../../lib/scopes'
import { insufficientScopeChallenge, type Principal } from '../../middleware/authenticate'
import { countAuthEvent } from '../../observability/metrics'
import { logRequest } from '../../request-log'
import type { User } from '../../stores/types'
import { ACCOUNT_RETRY_AFTER_SECONDS } from '../auth/account'
import { principalOf } from '../auth/session'

export { ADMIN_SCOPE }

const ADMIN_CHALLENGE = insufficientScopeChallenge([ADMIN_SCOPE])

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

/**
 * The administrator's account as D1 has it now, checked on every admin request after the token's own scope: a token
 * outlives a change to its account until the change's revocation is written (a disable or a scope change that
 * answered 503 wrote D1 and not Upstash), and an administrator's token must not act on others meanwhile. A disabled
 * or erased account is a 401 `invalid_token`, an account without `edgeward:admin` a 403 `insufficient_scope`, as
 * if the revocation had landed; a D1 failure a 503. One D1 read per admin request.
 */
export const adminStanding = (gw: Pick<Gateway, 'users'>) =>
  createMiddleware<AppEnv>(async function adminStanding(c, next) {
    const admin = principalOf(c)
    const account = await inStore('admin_standing_read_failed', undefined, () => gw.users.findById(admin.sub))
    if (account === null || account.disabledAt !== null) {
      const reason = account === null ? 'admin_account_gone' : 'admin_account_disabled'
      logRequest(c, { event: 'authn_token_invalid', level: 'warn', reason, userid: admin.sub, outcome: 'denied' })
      countAuthEvent('invalid')
      throw new GatewayError('invalid_token')
    }
    if (!account.scopes.includes(ADMIN_SCOPE)) {
      logRequest(c, {
        event: 'authz_fail',
        level: 'warn',
        description: 'The access token carries edgeward:admin, which the account no longer has.',
        reason: 'admin_scope_removed',
        userid: admin.sub,
        required: [ADMIN_SCOPE],
        missing: [ADMIN_SCOPE],
        outcome: 'denied',
      })
      countAuthEvent('scope_denied')
      throw new GatewayError('insufficient_scope', { headers: { 'www-authenticate': ADMIN_CHALLENGE } })
    }
    await next()
  })

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

/**
 * Runs an admin change whose target is known. A change that fails with a 5xx may have written part of itself (each
 * route writes D1 before Upstash, and a retry finishes the job), so the attempt gets an `authz_admin` record of its
 * own, `outcome: "failure"` with the error's code: the audit trail shows every change an administrator started, not
 * only those that finished.
 */
export async function attempt(
  c: Context<AppEnv>,
  action: AdminAction,
  targetUserid: string,
  change: () => Promise<Response>,
): Promise<Response> {
  try {
    return await change()
  } catch (error) {
    if (error instanceof GatewayError && error.status >= 500) {
      logRequest(c, {
        event: 'authz_admin',
        level: 'warn',
        description: `An administrator's change (${action}) failed part-way: what was written stays, and repeating the request finishes it.`,
        action,
        admin_userid: principalOf(c).sub,
        target_userid: targetUserid,
        code: error.code,
        outcome: 'failure',
      })
    }
    throw error
  }
}

/** The answer of a change: 204, never cached. */
export function done(c: Context<AppEnv>): Response {
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

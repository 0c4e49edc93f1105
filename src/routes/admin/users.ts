/**
 * The admin routes on one account: find it by email, clear its lockout, disable or enable it, replace its scopes,
 * erase it. Each change is written so that a retry after a 503 finishes the job: D1 before Upstash, and an
 * erasure deletes the row last, so the account is still there to be retried until everything else is done.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { REVOCATION_RETRY_AFTER_SECONDS } from '../../middleware/authenticate'
import { maskEmail } from '../../observability/logger'
import type { User } from '../../stores/types'
import { endAllSessions } from '../auth/session'
import { emailQuery } from './input'
import { ADMIN_SCOPE, attempt, audit, done, inStore, refuseSelf, targetUser } from './support'

/** An account as the back office sees it: never its password hash. */
export interface AdminUserBody {
  id: string
  email: string
  /** The address was verified (REGISTRATION=verify); false while the account is pending. */
  verified: boolean
  disabled: boolean
  /** `begin` would refuse a login for this address now (consecutive failures or the hourly ceiling). */
  locked: boolean
  scopes: string[]
  created_at: string
}

const nowSeconds = () => Math.floor(Date.now() / 1000)

/** `GET /auth/admin/users?email=`: the account with exactly this (normalized) address, or none. */
export async function findUsers(c: Context<AppEnv>, gw: Pick<Gateway, 'users' | 'lockout'>): Promise<Response> {
  const email = emailQuery(c)
  const user = await inStore('admin_user_search_failed', undefined, () => gw.users.findByEmail(email))
  const users: AdminUserBody[] = []
  if (user !== null) {
    const lock = await inStore('admin_lockout_status_failed', user.id, () => gw.lockout.status(user.email))
    users.push({
      id: user.id,
      email: user.email,
      verified: user.emailVerifiedAt !== null,
      disabled: user.disabledAt !== null,
      locked: lock.locked,
      scopes: user.scopes,
      created_at: new Date(user.createdAt * 1000).toISOString(),
    })
  }
  audit(c, 'user_search', user?.id, { email: maskEmail(email), found: users.length })
  c.header('cache-control', 'no-store')
  return c.json({ users })
}

/**
 * Disables the account (keeping its first disable time), so that no login or refresh starts a session, then ends
 * every session and live access token: a disable, and the start of an erasure. Returns the sessions ended.
 */
async function shutOut(gw: Gateway, user: User, reason: 'account_disabled' | 'account_erased'): Promise<number> {
  const failure = reason === 'account_disabled' ? 'admin_disable_failed' : 'admin_erase_disable_failed'
  await inStore(failure, user.id, () => gw.users.setDisabled(user.id, user.disabledAt ?? nowSeconds()))
  // Links mailed before the disable must not work after a later enable.
  await inStore(failure, user.id, () => gw.accountTokens.revokeForUser(user.id))
  return endAllSessions(gw, user.id, reason)
}

/** `POST …/unlock`: forgets the address's failed logins, so its next login is checked as if none had failed. */
export async function unlockUser(c: Context<AppEnv>, gw: Pick<Gateway, 'users' | 'lockout'>): Promise<Response> {
  const { user } = await targetUser(c, gw)
  return attempt(c, 'user_unlock', user.id, async () => {
    await inStore('admin_unlock_failed', user.id, () => gw.lockout.unlock(user.email))
    audit(c, 'user_unlock', user.id)
    return done(c)
  })
}

/**
 * `POST …/disable`: the account can no longer log in (the login answers it like a wrong password) or refresh,
 * every session ends and every live access token is refused from the next request on. Disabling a disabled
 * account keeps its first time and revokes again.
 */
export async function disableUser(c: Context<AppEnv>, gw: Gateway): Promise<Response> {
  const { admin, user } = await targetUser(c, gw)
  refuseSelf(admin, user, 'user_disable')
  return attempt(c, 'user_disable', user.id, async () => {
    const sessions = await shutOut(gw, user, 'account_disabled')
    audit(c, 'user_disable', user.id, { sessions, already_disabled: user.disabledAt !== null })
    return done(c)
  })
}

/** `POST …/enable`: the account can log in again. Its ended sessions stay ended. */
export async function enableUser(c: Context<AppEnv>, gw: Pick<Gateway, 'users'>): Promise<Response> {
  const { user } = await targetUser(c, gw)
  return attempt(c, 'user_enable', user.id, async () => {
    await inStore('admin_enable_failed', user.id, () => gw.users.setDisabled(user.id, null))
    audit(c, 'user_enable', user.id, { was_disabled: user.disabledAt !== null })
    return done(c)
  })
}

/**
 * `PUT …/scopes`: replaces the account's scopes, duplicates dropped. Access tokens carry their scopes until they
 * expire, so every live one is revoked: the change holds from the next request. Sessions are kept: a client's
 * next refresh gets a token with the new scopes, without a new login.
 */
export async function setUserScopes(
  c: Context<AppEnv>,
  body: { scopes: string[] },
  gw: Pick<Gateway, 'users' | 'revocation'>,
): Promise<Response> {
  const { admin, user } = await targetUser(c, gw)
  const scopes = [...new Set(body.scopes)]
  refuseSelf(admin, user, 'user_scopes_set', !scopes.includes(ADMIN_SCOPE))
  return attempt(c, 'user_scopes_set', user.id, async () => {
    await inStore('admin_scopes_failed', user.id, () => gw.users.setScopes(user.id, scopes))
    try {
      await gw.revocation.revokeUserBefore(user.id, nowSeconds() + 1)
    } catch (cause) {
      throw unavailable('revocation_unavailable', 'admin_scopes_write_failed', cause, REVOCATION_RETRY_AFTER_SECONDS, {
        target_userid: user.id,
      })
    }
    audit(c, 'user_scopes_set', user.id, { scopes, previous_scopes: user.scopes })
    return done(c)
  })
}

/**
 * `DELETE /auth/admin/users/{id}`: erasure. In this order, each step safe to repeat: the account is disabled (no
 * login or refresh can start a session meanwhile), its sessions and access tokens are revoked, its lockout
 * counters deleted, and last the row, which takes its refresh families and tokens with it (ON DELETE CASCADE).
 */
export async function eraseUser(c: Context<AppEnv>, gw: Gateway): Promise<Response> {
  const { admin, user } = await targetUser(c, gw)
  refuseSelf(admin, user, 'user_delete')
  return attempt(c, 'user_delete', user.id, async () => {
    const sessions = await shutOut(gw, user, 'account_erased')
    await inStore('admin_erase_lockout_failed', user.id, () => gw.lockout.unlock(user.email))
    await inStore('admin_erase_failed', user.id, () => gw.users.delete(user.id))
    audit(c, 'user_delete', user.id, { sessions })
    return done(c)
  })
}

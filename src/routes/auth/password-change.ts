/**
 * `POST /auth/password/change {current_password, new_password}` with a bearer token. The current password is a
 * login in all but name: it is checked against the same lockout counter (reserved before the KDF, locked answers
 * the login's 429), and a wrong one counts as a failed login. On success the caller's session stays; every other
 * session ends in D1 (its refresh family) and in Upstash (its `sid`), so their access tokens stop at once.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { REVOCATION_RETRY_AFTER_SECONDS } from '../../middleware/authenticate'
import { hashPassword, verifyPassword } from '../../passwords/password'
import { logRequest } from '../../request-log'
import type { User } from '../../stores/types'
import { reserveAttempt } from './account'
import { enforcePasswordPolicy, lockedNow } from './common'
import { principalOf } from './session'
import { accountStoreUnavailable } from './verify'

/** The caller's account, if it can still change its password; a token for a gone or disabled one is refused. */
async function callerAccount(c: Context<AppEnv>, gw: Gateway, sub: string): Promise<User> {
  let user: User | null
  try {
    user = await gw.users.findById(sub)
  } catch (cause) {
    throw accountStoreUnavailable(cause, sub)
  }
  if (user === null || user.disabledAt !== null) {
    logRequest(c, { event: 'authn_token_invalid', level: 'warn', reason: 'account_not_active', outcome: 'denied' })
    throw new GatewayError('invalid_token')
  }
  return user
}

export async function changePassword(
  c: Context<AppEnv>,
  body: { current_password: string; new_password: string },
  gw: Gateway,
): Promise<Response> {
  const { config, users, refreshTokens, revocation, lockout } = gw
  const { sub: userid, sid } = principalOf(c)
  const user = await callerAccount(c, gw, userid)
  enforcePasswordPolicy(c, body.new_password, user.email, config, '/new_password')

  const attempt = await reserveAttempt(c, user.email, gw)
  const verified = await verifyPassword(body.current_password, user.passwordHash, config.passwords.pepper)
  if (!verified.ok) {
    logRequest(c, {
      event: 'authn_password_change_fail',
      level: 'warn',
      userid,
      reason: verified.reason,
      failures: attempt.failures,
      outcome: 'failure',
    })
    if (attempt.lastAttempt) lockedNow(c, gw, { userid }, user)
    throw new GatewayError('incorrect_password')
  }
  // The password was right; a counter that stays up is not worth refusing the change for.
  await lockout.succeeded(user.email).catch((cause: unknown) => {
    logRequest(c, { event: 'lockout_reset_failed', level: 'error', userid, cause })
  })

  const passwordHash = await hashPassword(body.new_password, config.passwords.pepper)
  let others: string[]
  try {
    await users.setPasswordHash(userid, passwordHash)
    // A reset link mailed before the change must not undo it.
    await gw.accountTokens.revokeForUser(userid)
    others = await refreshTokens.revokeOtherFamilies(userid, sid, 'password_change')
  } catch (cause) {
    throw accountStoreUnavailable(cause, userid)
  }
  try {
    await Promise.all(others.map((other) => revocation.revokeSession(other)))
  } catch (cause) {
    // The password is changed and the other sessions can no longer refresh; logout-all ends their access tokens.
    throw unavailable(
      'revocation_unavailable',
      'password_change_revoke_failed',
      cause,
      REVOCATION_RETRY_AFTER_SECONDS,
      {
        userid,
        sessions: others.length,
      },
    )
  }
  logRequest(c, {
    event: 'authn_password_change',
    level: 'info',
    description: 'The password was changed: the other sessions of the user were ended.',
    userid,
    method: 'change',
    sessions: others.length,
    outcome: 'success',
  })
  await gw.accountEvents.send({ type: 'account.password_changed', email: user.email, user_id: userid }, c.executionCtx)
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

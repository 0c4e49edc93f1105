/**
 * `POST /auth/password/forgot` and `POST /auth/password/reset`. Forgot answers 202 with the same bytes for every
 * address, before reading anything about it: the lookup, the token and the account event run after the answer, so
 * neither the body nor the time tells a known address from an unknown one. Reset takes the single-use token from
 * that event and a new password; it ends every session and lifts the lockout, since whoever holds the token has
 * proven the address.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { REVOCATION_RETRY_AFTER_SECONDS } from '../../middleware/authenticate'
import { maskEmail } from '../../observability/logger'
import { hashPassword } from '../../passwords/password'
import { logRequest } from '../../request-log'
import type { AccountTokenGrant, User } from '../../stores/types'
import { afterResponse, enforcePasswordPolicy, identifierOf, messageAllowed } from './common'
import { accountStoreUnavailable, refuseAccountToken } from './verify'

/** How long a reset token works: long enough to open the message, short enough to be useless in an old inbox. */
export const PASSWORD_RESET_TOKEN_TTL_SECONDS = 30 * 60

/** The body of every 202 from /auth/password/forgot, whether or not an account uses the address. */
export const RESET_REQUESTED = {
  status: 'accepted',
  detail: 'If an account uses this address, a message with a link to set a new password is on its way to it.',
} as const

export async function forgotPassword(c: Context<AppEnv>, body: { email: string }, gw: Gateway): Promise<Response> {
  const identifier = identifierOf(body.email)
  afterResponse(c, 'password_reset_request_failed', () => sendResetToken(c, gw, identifier))
  c.header('cache-control', 'no-store')
  return c.json(RESET_REQUESTED, 202)
}

/**
 * A reset token for a known, verified, enabled account, at most RATE_LIMIT_PASSWORD_RESET of them per account and
 * window; nothing at all for any other address. The limit is decided here, after the answer, so it cannot tell a
 * caller which addresses have accounts; it bounds the messages anyone with many addresses can send to one inbox,
 * and how often they can replace the link the owner is about to use (a new token ends the previous one).
 */
async function sendResetToken(c: Context<AppEnv>, gw: Gateway, identifier: string): Promise<void> {
  const user = await gw.users.findByEmail(identifier)
  if (user === null || user.disabledAt !== null || user.emailVerifiedAt === null) {
    const reason = user === null ? 'unknown_user' : user.disabledAt !== null ? 'account_disabled' : 'unverified'
    logRequest(c, {
      event: 'password_reset_requested',
      level: 'info',
      description: 'A password reset was asked for an address that gets none: nothing was sent.',
      email: maskEmail(identifier),
      ...(user === null ? {} : { userid: user.id }),
      reason,
      outcome: 'failure',
    })
    return
  }
  if (!(await messageAllowed(c, gw, 'password_reset', user.id, 'password_reset_requested'))) return
  const { token } = await gw.accountTokens.issue({
    userId: user.id,
    purpose: 'password_reset',
    ttlSeconds: PASSWORD_RESET_TOKEN_TTL_SECONDS,
  })
  logRequest(c, {
    event: 'password_reset_requested',
    level: 'info',
    description: 'A password reset token was issued and handed to the origin.',
    userid: user.id,
    outcome: 'success',
  })
  await gw.accountEvents.send(
    { type: 'account.password_reset_requested', email: user.email, user_id: user.id, token },
    c.executionCtx,
  )
}

/** The live token's account, if it may still reset its password; refuses the token otherwise. */
async function resettableAccount(c: Context<AppEnv>, gw: Gateway, token: string): Promise<User> {
  let grant: AccountTokenGrant | null
  let user: User | null = null
  try {
    grant = await gw.accountTokens.find(token, 'password_reset')
    if (grant !== null) user = await gw.users.findById(grant.userId)
  } catch (cause) {
    throw accountStoreUnavailable(cause)
  }
  if (user === null || user.disabledAt !== null || user.emailVerifiedAt === null) {
    refuseAccountToken(c, 'password_reset', user === null ? {} : { userid: user.id, reason: 'account_not_active' })
  }
  return user
}

/**
 * `POST /auth/password/reset {token, new_password}`: the policy, the new hash, then the cutoff for the user's access
 * tokens in Upstash (before the token is used, so a 503 there can be retried with the same token), the token
 * consumed (one of two concurrent resets wins; the other is refused), the hash stored and every refresh family
 * revoked in D1, a last cutoff if those writes crossed into a later second, the lockout lifted, the owner told. 204;
 * 503 `revocation_unavailable` when that last cutoff cannot be written (the password is set all the same).
 */
export async function resetPassword(
  c: Context<AppEnv>,
  body: { token: string; new_password: string },
  gw: Gateway,
): Promise<Response> {
  const { config, accountTokens, users, refreshTokens, revocation, lockout } = gw
  const user = await resettableAccount(c, gw, body.token)
  const userid = user.id
  enforcePasswordPolicy(c, body.new_password, user.email, config, '/new_password')
  const passwordHash = await hashPassword(body.new_password, config.passwords.pepper)

  // Every access token issued up to now, this second included (fail safe), stops working.
  const cutoff = Math.floor(Date.now() / 1000) + 1
  try {
    await revocation.revokeUserBefore(userid, cutoff)
  } catch (cause) {
    throw unavailable('revocation_unavailable', 'reset_revoke_failed', cause, REVOCATION_RETRY_AFTER_SECONDS, {
      userid,
    })
  }
  let grant: AccountTokenGrant | null
  try {
    grant = await accountTokens.consume(body.token, 'password_reset')
  } catch (cause) {
    throw accountStoreUnavailable(cause, userid)
  }
  // A concurrent reset with the same token won.
  if (grant === null || grant.userId !== userid) refuseAccountToken(c, 'password_reset', { userid, reason: 'used' })
  let sessions: number
  try {
    await users.setPasswordHash(userid, passwordHash)
    sessions = await refreshTokens.revokeAllForUser(userid, 'password_reset')
  } catch (cause) {
    // The token is spent: the client asks for a new one.
    throw accountStoreUnavailable(cause, userid)
  }
  const now = Math.floor(Date.now() / 1000)
  const [finalCutoff, unlocked] = await Promise.allSettled([
    // The D1 writes crossed into a later second: cover a login or a refresh that slipped in before the hash changed
    // and the families were revoked (each takes its token's issue time before writing its session).
    now >= cutoff ? revocation.revokeUserBefore(userid, now + 1) : Promise.resolve(),
    lockout.unlock(user.email),
  ])
  if (unlocked.status === 'rejected') {
    logRequest(c, { event: 'password_reset_cleanup_failed', level: 'error', userid, cause: unlocked.reason })
  }
  logRequest(c, {
    event: 'authn_password_change',
    level: 'info',
    description: 'The password was reset with a reset token: every session was ended and the lockout lifted.',
    userid,
    method: 'reset',
    sessions,
    outcome: 'success',
  })
  for (const type of ['account.password_changed', 'account.sessions_revoked'] as const) {
    await gw.accountEvents.send({ type, email: user.email, user_id: userid }, c.executionCtx)
  }
  if (finalCutoff.status === 'rejected') {
    // The password is reset and every refresh family revoked, but an access token a racing login or refresh minted
    // in those last seconds may live until it expires: fail closed, as the password change does; logout-all (after
    // a login with the new password) ends it.
    throw unavailable(
      'revocation_unavailable',
      'reset_final_revoke_failed',
      finalCutoff.reason,
      REVOCATION_RETRY_AFTER_SECONDS,
      {
        userid,
      },
    )
  }
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

/**
 * Verified registration (REGISTRATION=verify): `POST /auth/register` creates a pending account and the origin mails
 * its address a single-use token; `POST /auth/verify-email` proves the address with it. Nothing in the answer to
 * a registration depends on the address: the KDF and the insert run on every path, and everything that differs
 * (a token, which event goes to the origin) happens after the answer.
 *
 * A pending account can be claimed again by whoever proves the address: each registration of a pending address
 * issues a new token carrying the password registered with it, replacing the older ones. Verifying takes the token
 * AND that password: whoever registered an address they do not own (a squatter) never sees the token, and the
 * owner who follows the squatter's link does not know the squatter's password, so the link verifies nothing and
 * cannot hand the address to the squatter. Tokens are credentials: they go to the origin in an account event only,
 * and are never logged.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { maskEmail } from '../../observability/logger'
import { verifyPasswordOrDummy } from '../../passwords/password'
import { logRequest } from '../../request-log'
import type { AccountTokenPurpose, CreateUserResult } from '../../stores/types'
import { ACCOUNT_RETRY_AFTER_SECONDS, afterResponse, messageAllowed } from './common'

/** How long a verification token works: a day, for a message that may sit in an inbox overnight. */
export const VERIFY_EMAIL_TOKEN_TTL_SECONDS = 24 * 3_600

/** The body of every 202 from /auth/register with REGISTRATION=verify, new address or not. */
export const REGISTER_PENDING = {
  status: 'accepted',
  detail:
    'A message with the next step is on its way to this address. Once the address is confirmed, sign in with POST /auth/login.',
} as const

/** D1 failed: 503, never an answer that pretends the token was checked. */
export function accountStoreUnavailable(cause: unknown, userid?: string): GatewayError {
  return unavailable('dependency_unavailable', 'user_store_failed', cause, ACCOUNT_RETRY_AFTER_SECONDS, {
    ...(userid === undefined ? {} : { userid }),
  })
}

/**
 * Refuses a verification or reset token with 400 `invalid_account_token`: the same bytes whether it was forged,
 * expired, used, replaced or of the other purpose. The log says which purpose, never the token.
 */
export function refuseAccountToken(
  c: Context<AppEnv>,
  purpose: AccountTokenPurpose,
  extra: { userid?: string; reason?: string } = {},
): never {
  logRequest(c, {
    event: 'authn_token_invalid',
    level: 'warn',
    description: 'A verification or password-reset token was refused (unknown, expired, used or replaced).',
    purpose,
    reason: 'account_token_invalid',
    ...extra,
    outcome: 'denied',
  })
  throw new GatewayError('invalid_account_token')
}

/**
 * The REGISTRATION=verify half of `register`, after the policy check and the KDF: the pending account is inserted
 * (or the address was taken), then the answer; the token and the event follow it.
 */
export async function registerPending(
  c: Context<AppEnv>,
  gw: Gateway,
  identifier: string,
  passwordHash: string,
): Promise<Response> {
  const { users, config } = gw
  let created: CreateUserResult
  try {
    created = await users.create({
      email: identifier,
      passwordHash,
      scopes: config.accounts.defaultScopes,
      verified: false,
    })
  } catch (cause) {
    throw accountStoreUnavailable(cause)
  }
  logRequest(c, {
    event: 'user_created',
    level: 'info',
    email: maskEmail(identifier),
    ...(created.created
      ? { userid: created.user.id, description: 'A pending account was created.', outcome: 'success' }
      : {
          description: 'Registration for an address that already has an account: no account was created.',
          outcome: 'failure',
        }),
  })
  afterResponse(c, 'registration_followup_failed', () => followUp(c, gw, identifier, passwordHash, created))
  c.header('cache-control', 'no-store')
  return c.json(REGISTER_PENDING, 202)
}

/**
 * New or pending address: a verification token carrying this password. Verified (or disabled): tell the owner. An
 * address registered again gets at most RATE_LIMIT_REPEAT_REGISTRATION such messages per window (a new account's
 * first one is never refused): over it nothing is sent, and a pending address keeps its newest link.
 */
async function followUp(
  c: Context<AppEnv>,
  gw: Gateway,
  identifier: string,
  passwordHash: string,
  created: CreateUserResult,
): Promise<void> {
  const user = created.created ? created.user : await gw.users.findByEmail(identifier)
  if (user === null) return
  if (!created.created && !(await messageAllowed(c, gw, 'repeat_registration', user.id, 'registration_repeated'))) {
    return
  }
  if (user.emailVerifiedAt !== null || user.disabledAt !== null) {
    logRequest(c, { event: 'registration_already_registered', level: 'info', userid: user.id })
    await gw.accountEvents.send(
      { type: 'account.already_registered', email: user.email, user_id: user.id },
      c.executionCtx,
    )
    return
  }
  const { token } = await gw.accountTokens.issue({
    userId: user.id,
    purpose: 'verify_email',
    ttlSeconds: VERIFY_EMAIL_TOKEN_TTL_SECONDS,
    pendingPasswordHash: passwordHash,
  })
  logRequest(c, {
    event: 'verification_requested',
    level: 'info',
    description: created.created
      ? 'A verification was sent for a new account.'
      : 'A pending account was registered again: a new verification replaces the older ones.',
    userid: user.id,
  })
  await gw.accountEvents.send(
    { type: 'account.verification_requested', email: user.email, user_id: user.id, token },
    c.executionCtx,
  )
}

/**
 * `POST /auth/verify-email {token, password}`: the password must be the one registered with the token (one KDF,
 * run for unknown tokens too); then the token is consumed (one conditional write, so it works once), the pending
 * address is marked verified and that password is in effect. 204. A token that is not live, a wrong password, or
 * an account no longer pending: the same 400 `invalid_account_token`. A wrong password leaves the token usable, so
 * the owner's typo does not cost them the link.
 */
export async function verifyEmail(
  c: Context<AppEnv>,
  body: { token: string; password: string },
  gw: Gateway,
): Promise<Response> {
  const { accountTokens, users, config } = gw
  let found: Awaited<ReturnType<typeof accountTokens.find>>
  try {
    found = await accountTokens.find(body.token, 'verify_email')
  } catch (cause) {
    throw accountStoreUnavailable(cause)
  }
  const pending = found?.pendingPasswordHash ?? undefined
  const proven = await verifyPasswordOrDummy(body.password, pending, config.passwords.pepper)
  if (found !== null && !proven.ok) {
    refuseAccountToken(c, 'verify_email', { userid: found.userId, reason: 'password_mismatch' })
  }
  let grant: Awaited<ReturnType<typeof accountTokens.consume>>
  try {
    grant = found === null ? null : await accountTokens.consume(body.token, 'verify_email')
  } catch (cause) {
    throw accountStoreUnavailable(cause)
  }
  if (grant === null || grant.pendingPasswordHash === null) refuseAccountToken(c, 'verify_email')
  let verified: boolean
  try {
    verified = await users.verifyEmail(grant.userId, grant.pendingPasswordHash)
  } catch (cause) {
    throw accountStoreUnavailable(cause, grant.userId)
  }
  // Verified already, disabled or deleted since the token was issued: the token no longer applies.
  if (!verified) refuseAccountToken(c, 'verify_email', { userid: grant.userId, reason: 'account_not_pending' })
  logRequest(c, {
    event: 'user_updated',
    level: 'info',
    description: 'The address of the account was verified; the password registered with the token is in effect.',
    userid: grant.userId,
    change: 'email_verified',
    outcome: 'success',
  })
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

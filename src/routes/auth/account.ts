/**
 * `POST /auth/register` and `POST /auth/login`. Login's order is the defence: the per-IP auth limit (pipeline),
 * validation, the lockout reservation (fails closed: 503), the D1 user lookup, exactly one KDF (a dummy one for an
 * unknown address), then the tokens. Unknown address, wrong password, disabled and pending (unverified) account
 * get the same 401 bytes, a lock the same 429 whether or not the account exists (R-BF-4, S-LO-2 in
 * docs/requirements.md). Only the logs say which case it was.
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../../env'
import { GatewayError, unavailable } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { createLogThrottle } from '../../lib/throttle'
import { maskEmail } from '../../observability/logger'
import { countAuthEvent } from '../../observability/metrics'
import { hashPassword, verifyPassword, verifyPasswordOrDummy } from '../../passwords/password'
import { logRequest } from '../../request-log'
import type { LockoutDecision, User } from '../../stores/types'
import { ACCOUNT_RETRY_AFTER_SECONDS, enforcePasswordPolicy, identifierOf, lockedNow } from './common'
import { type RefreshTransport, tokenPairResponse } from './token-pair'
import { registerPending } from './verify'

export { ACCOUNT_RETRY_AFTER_SECONDS } from './common'

/**
 * The body of every 202 from /auth/register with REGISTRATION=open: the same whether or not the address was new
 * (R-BF-4). REGISTRATION=verify answers REGISTER_PENDING (verify.ts).
 */
export const REGISTER_ACCEPTED = {
  status: 'accepted',
  detail: 'If this address can be registered, its account is ready: sign in with POST /auth/login.',
} as const

/** One `authn_login_lock` record per identifier per minute: a locked account under attack must not flood the log. */
const lockLogs = createLogThrottle({ intervalMs: 60_000, maxKeys: 1_000 })

export async function register(
  c: Context<AppEnv>,
  body: { email: string; password: string },
  gw: Gateway,
): Promise<Response> {
  const { config } = gw
  const identifier = identifierOf(body.email)
  enforcePasswordPolicy(c, body.password, identifier, config, '/password')
  // The hash and the insert run on both paths, so a taken address answers in the same time as a new one.
  const passwordHash = await hashPassword(body.password, config.passwords.pepper)
  if (config.accounts.registration === 'verify') return registerPending(c, gw, identifier, passwordHash)
  const { users } = gw
  let created: Awaited<ReturnType<typeof users.create>>
  try {
    created = await users.create({ email: identifier, passwordHash, scopes: config.accounts.defaultScopes })
  } catch (cause) {
    throw unavailable('dependency_unavailable', 'user_store_failed', cause, ACCOUNT_RETRY_AFTER_SECONDS)
  }
  logRequest(c, {
    event: 'user_created',
    level: 'info',
    email: maskEmail(identifier),
    ...(created.created
      ? { userid: created.user.id, outcome: 'success' }
      : {
          description: 'Registration for an address that already has an account: nothing was written.',
          outcome: 'failure',
        }),
  })
  c.header('cache-control', 'no-store')
  return c.json(REGISTER_ACCEPTED, 202)
}

/**
 * Checks the identifier's lock and reserves this password check on its failure counter (login, password change).
 * Locked: 429 `account_locked`; counter unreachable: 503, failing closed.
 */
export async function reserveAttempt(
  c: Context<AppEnv>,
  identifier: string,
  { lockout }: Gateway,
): Promise<LockoutDecision & { status: 'allowed' }> {
  let decision: LockoutDecision
  try {
    decision = await lockout.begin(identifier)
  } catch (cause) {
    // Fail closed (S-LO-1): without the counter, nothing would stop a password-guessing run on this account.
    countAuthEvent('login_unavailable')
    throw unavailable('dependency_unavailable', 'lockout_unavailable', cause, ACCOUNT_RETRY_AFTER_SECONDS)
  }
  if (decision.status === 'locked') {
    countAuthEvent('login_locked')
    const logged = lockLogs.admit(identifier, Date.now())
    if (logged) {
      logRequest(c, {
        event: 'authn_login_lock',
        level: 'warn',
        description: 'A login was refused without checking the password: the identifier is locked.',
        email: maskEmail(identifier),
        by: decision.by,
        suppressed: logged.suppressed,
        outcome: 'denied',
      })
    }
    throw new GatewayError('account_locked', { retryAfterSeconds: decision.retryAfterSeconds })
  }
  return decision
}

export async function login(
  c: Context<AppEnv>,
  body: { email: string; password: string; refresh_transport: RefreshTransport },
  gw: Gateway,
): Promise<Response> {
  const { config } = gw
  const identifier = identifierOf(body.email)
  const attempt = await reserveAttempt(c, identifier, gw)
  const { lockout, users, refreshTokens } = gw

  let user: Awaited<ReturnType<typeof users.findByEmail>>
  try {
    user = await users.findByEmail(identifier)
  } catch (cause) {
    // Not the client's failure: give the reservation back (best effort) so a D1 outage cannot lock accounts.
    c.executionCtx.waitUntil(lockout.release(identifier).catch(() => {}))
    throw unavailable('dependency_unavailable', 'user_store_failed', cause, ACCOUNT_RETRY_AFTER_SECONDS)
  }
  // Exactly one KDF on every path: a dummy hash when there is no user (R-BF-5); a disabled account is checked too.
  const verified = await verifyPasswordOrDummy(body.password, user?.passwordHash, config.passwords.pepper)
  // A pending account (REGISTRATION=verify) is refused like a wrong password, after the same work.
  if (!verified.ok || user === null || user.disabledAt !== null || user.emailVerifiedAt === null) {
    const reason =
      user === null
        ? 'unknown_user'
        : user.disabledAt !== null
          ? 'account_disabled'
          : !verified.ok
            ? verified.reason
            : 'unverified'
    countAuthEvent('login_failed')
    logRequest(c, {
      event: attempt.lastAttempt ? 'authn_login_fail_max' : 'authn_login_fail',
      level: 'warn',
      email: maskEmail(identifier),
      ...(user !== null ? { userid: user.id } : {}),
      reason,
      failures: attempt.failures,
      outcome: 'failure',
    })
    if (attempt.lastAttempt) {
      lockedNow(c, gw, { email: maskEmail(identifier), ...(user !== null ? { userid: user.id } : {}) }, user)
    }
    throw new GatewayError('invalid_credentials')
  }

  const { refresh: refreshPolicy } = config.accounts
  // The access token's issue time, taken before the session exists: a reset or a disable that overtakes this login
  // writes its cutoff after its own D1 writes, so the cutoff covers this time (see the check below).
  const issuedAtMs = Date.now()
  const [issued, reset] = await Promise.allSettled([
    refreshTokens.issue(user.id, {
      client: config.jwt.audience,
      absoluteTtlSeconds: refreshPolicy.absoluteSeconds,
      idleTtlSeconds: refreshPolicy.idleSeconds,
    }),
    lockout.succeeded(identifier),
  ])
  if (issued.status === 'rejected')
    throw unavailable('dependency_unavailable', 'refresh_store_failed', issued.reason, ACCOUNT_RETRY_AFTER_SECONDS)
  if (reset.status === 'rejected') {
    // The password was right; a counter that stays up for 15 minutes is not worth refusing the login for.
    logRequest(c, { event: 'lockout_reset_failed', level: 'error', userid: user.id, cause: reset.reason })
  }
  const current = await unchangedAccount(c, gw, user, body.password, issued.value.familyId)
  if (verified.needsRehash) {
    const userId = user.id
    const verifiedHash = user.passwordHash
    c.executionCtx.waitUntil(
      hashPassword(body.password, config.passwords.pepper)
        // Only over the hash it verified: a reset or change that landed meanwhile is never undone.
        .then((hash) => users.setPasswordHash(userId, hash, verifiedHash))
        .catch((error: unknown) =>
          logRequest(c, { event: 'password_rehash_failed', level: 'error', userid: userId, error }),
        ),
    )
  }
  const { response, jti } = await tokenPairResponse(c, gw, current, issued.value, body.refresh_transport, issuedAtMs)
  countAuthEvent('login_success')
  logRequest(c, {
    event: attempt.failures > 1 ? 'authn_login_successafterfail' : 'authn_login_success',
    level: 'info',
    userid: user.id,
    outcome: 'success',
  })
  logRequest(c, { event: 'session_created', level: 'info', userid: user.id, sid: issued.value.familyId, jti })
  return response
}

/**
 * The account as it is once the login's session exists, if its credentials are still those the password check
 * passed: a reset, a change or a disable that landed in between (the KDF and D1 leave a window) refuses the login
 * like a wrong password, and its new session is revoked, so no one keeps a session by logging in while the owner
 * takes the account back. Read after the session is written: a change before the read is seen here, and one after
 * it finds the session and ends it (a reset or a disable also cuts off access tokens issued up to its own D1
 * writes, which covers `issuedAtMs`; a change ends the session's `sid`). The scopes read here go into the token.
 */
async function unchangedAccount(
  c: Context<AppEnv>,
  gw: Gateway,
  verified: User,
  password: string,
  familyId: string,
): Promise<User> {
  let current: User | null
  try {
    current = await gw.users.findById(verified.id)
  } catch (cause) {
    // The refresh token is never handed out: the session it starts can be used by no one.
    throw unavailable('dependency_unavailable', 'user_store_failed', cause, ACCOUNT_RETRY_AFTER_SECONDS)
  }
  if (current !== null && current.disabledAt === null && current.emailVerifiedAt !== null) {
    if (current.passwordHash === verified.passwordHash) return current
    // Another login's re-hash of a legacy hash stores a new hash of the same password: still the same credentials.
    // Only this rare case costs a second KDF.
    if ((await verifyPassword(password, current.passwordHash, gw.config.passwords.pepper)).ok) return current
  }
  // Best effort: the token was never handed out, so the session is one no one can use; it would only be listed.
  await gw.refreshTokens.revokeFamily(familyId, 'credentials_changed').catch((cause: unknown) => {
    logRequest(c, { event: 'session_revoke_failed', level: 'error', userid: verified.id, sid: familyId, cause })
  })
  countAuthEvent('login_failed')
  logRequest(c, {
    event: 'authn_login_fail',
    level: 'warn',
    email: maskEmail(verified.email),
    userid: verified.id,
    reason: 'credentials_changed',
    outcome: 'failure',
  })
  throw new GatewayError('invalid_credentials')
}

/** Refuses /auth/register before the body is read when REGISTRATION=closed (403 `registration_disabled`). */
export const registrationOpen = ({ config }: Gateway) =>
  createMiddleware<AppEnv>(async function registrationOpen(_c, next) {
    if (config.accounts.registration === 'closed') throw new GatewayError('registration_disabled')
    await next()
  })

/**
 * What the account routes share: the canonical identifier of an address, the password policy as every route that
 * sets a password answers it (registration, reset, change), and work done after the answer.
 */
import type { Context } from 'hono'
import type { Config } from '../../config/schema'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import type { Gateway } from '../../gateway'
import { checkPasswordPolicy } from '../../passwords/password'
import { logRequest } from '../../request-log'
import { normalizeEmail } from '../../stores/d1/users'
import type { User } from '../../stores/types'

/** Seconds a client should wait after a 503 from an unavailable Upstash or D1. */
export const ACCOUNT_RETRY_AFTER_SECONDS = 2

/** The canonical identifier; the body schema already refused anything normalizeEmail would. */
export function identifierOf(email: string): string {
  const identifier = normalizeEmail(email)
  if (identifier === null) {
    throw new GatewayError('validation_failed', {
      extensions: { errors: [{ pointer: '/email', code: 'invalid_format' }] },
    })
  }
  return identifier
}

/**
 * The failure that locked an identifier (a login or a password change): its `authn_login_lock` record, one shape
 * wherever the lock comes from, so a dashboard counting locks counts them all (`who` names the account: a masked
 * address, a user id); and `account.locked` to the owner after the answer (which is the same either way), if the
 * account is active and its address was proven. A lock through a password change is told too: whoever holds a
 * stolen session can lock the owner out of logging in that way. A pending account is not: its address's owner may
 * never have created it (anyone can register an address), and could not sign in to it anyway.
 */
export function lockedNow(c: Context<AppEnv>, gw: Gateway, who: Record<string, unknown>, user: User | null): void {
  logRequest(c, {
    event: 'authn_login_lock',
    level: 'warn',
    description: `The identifier is now locked for ${gw.config.accounts.lockout.lockSeconds} s (maxretries).`,
    ...who,
    by: 'consecutive_failures',
    outcome: 'denied',
  })
  if (user === null || user.disabledAt !== null || user.emailVerifiedAt === null) return
  const locked = { type: 'account.locked' as const, email: user.email, user_id: user.id }
  afterResponse(c, 'account_event_failed', () => gw.accountEvents.send(locked, c.executionCtx))
}

/**
 * Runs `task` after the answer (`waitUntil`), so what it reads and writes cannot show in the response time; a
 * failure is logged as `event`, without the error's inputs.
 */
export function afterResponse(c: Context<AppEnv>, event: string, task: () => Promise<void>): void {
  c.executionCtx.waitUntil(task().catch((error: unknown) => logRequest(c, { event, level: 'error', error })))
}

/**
 * The policy is public (README), so saying which rule failed reveals nothing about any account; the password never
 * appears. Throws 400 `validation_failed` (with `errors` and `password_policy`) unless `password` passes the policy for the
 * account `identifier` (a normalized address). `pointer` names the field in the request body.
 */
export function enforcePasswordPolicy(
  c: Context<AppEnv>,
  password: string,
  identifier: string,
  { passwords }: Pick<Config, 'passwords'>,
  pointer: '/password' | '/new_password',
): void {
  const policy = checkPasswordPolicy(password, { minLength: passwords.minLength, email: identifier })
  if (policy.ok) return
  logRequest(c, { event: 'input_validation_fail', level: 'info', errors: [{ pointer, code: policy.reason }] })
  throw new GatewayError('validation_failed', {
    extensions: {
      errors: [{ pointer, code: policy.reason }],
      password_policy: { min_length: policy.minLength, max_length: policy.maxLength },
    },
  })
}

/**
 * Whether an account may be sent another message that an anonymous request asked for (a password reset, a repeated
 * registration), under its per-account policy (RATE_LIMIT_PASSWORD_RESET, RATE_LIMIT_REPEAT_REGISTRATION). Only
 * ever called after the answer, so the decision cannot tell the caller whether the address has an account. A
 * refusal is logged as `event` with reason `message_limit`.
 */
export async function messageAllowed(
  c: Context<AppEnv>,
  gw: Pick<Gateway, 'config' | 'rateLimits'>,
  policy: 'password_reset' | 'repeat_registration',
  userId: string,
  event: string,
): Promise<boolean> {
  if (gw.config.rateLimit[policy] === 'off') return true
  const { decisions } = await gw.rateLimits.admit([{ policy, identity: userId }], undefined, Date.now())
  if (decisions[0]?.success === true) return true
  logRequest(c, {
    event,
    level: 'warn',
    description: 'The account has had its messages of this kind for now: nothing was sent.',
    userid: userId,
    reason: 'message_limit',
    degraded: decisions[0]?.degraded ?? false,
    outcome: 'failure',
  })
  return false
}

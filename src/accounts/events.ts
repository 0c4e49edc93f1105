/**
 * Account events: what the gateway tells the origin about an account, so the origin (which owns the user's mail,
 * SMS or push channels) can reach its owner. The gateway sends no mail itself. An event carrying a single-use
 * `token` (verification, password reset) is a credential: it goes to the origin only, signed, and is never logged.
 */

export const ACCOUNT_EVENT_TYPES = [
  /** A new account (REGISTRATION=verify) or a pending one claimed again: `token` verifies the address. */
  'account.verification_requested',
  /** POST /auth/password/forgot for a known address: `token` sets a new password. */
  'account.password_reset_requested',
  /** Someone registered an address that already has an account: tell its owner, create nothing. */
  'account.already_registered',
  /** Failed logins, or wrong current passwords in password changes, locked the (verified) account. */
  'account.locked',
  /** The password was changed or reset. */
  'account.password_changed',
  /** A password reset, or an administrator's DELETE /auth/admin/users/{id}/sessions, ended the owner's sessions. */
  'account.sessions_revoked',
] as const

export type AccountEventType = (typeof ACCOUNT_EVENT_TYPES)[number]

/** The JSON body POSTed to ACCOUNT_EVENTS_URL. */
export interface AccountEvent {
  type: AccountEventType
  email: string
  user_id: string
  /** Only on verification_requested and password_reset_requested. */
  token?: string
  /** ISO 8601. */
  occurred_at: string
}

/** What a request handler gives the sender: the event without its time, and the request's `waitUntil`. */
export type AccountEventInput = Omit<AccountEvent, 'occurred_at'>

export interface AccountEvents {
  /**
   * Hands `event` over for delivery and returns once it is handed over (queued, or scheduled with `waitUntil`),
   * not once the origin has it. Never throws: a failure to hand over is logged (without the token) and dropped,
   * since the request that caused the event must still be answered.
   */
  send(event: AccountEventInput, ctx: { waitUntil(promise: Promise<unknown>): void }): Promise<void>
}

/** An in-memory recorder for tests: every event sent, in order, with its time. */
export function createRecordingAccountEvents(clock: () => number = Date.now): AccountEvents & { sent: AccountEvent[] } {
  const sent: AccountEvent[] = []
  return {
    sent,
    async send(event) {
      sent.push({ ...event, occurred_at: new Date(clock()).toISOString() })
    },
  }
}

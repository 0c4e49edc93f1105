/**
 * The gateway's structured logger: one JSON object per line, OWASP logging-vocabulary event names. Every record goes
 * through `redact()`, so credentials cannot reach the log even by mistake, and through JSON.stringify plus an escape of
 * the Unicode line separators, so CR/LF or JSON in user input cannot forge a second record (R-LOG-4, R-LOG-5 in
 * docs/requirements.md). Security events (`SECURITY_EVENTS`) always carry `outcome` and `description`;
 * `src/request-log.ts` adds a request's fields and the Analytics Engine export. No framework import here.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'critical'

/** What a security decision did: the action succeeded or failed, or the request was denied or allowed. */
export type Outcome = 'success' | 'failure' | 'denied' | 'allowed'

export interface LogRecord {
  event: string
  level: LogLevel
  description?: string
  outcome?: Outcome
  [field: string]: unknown
}

export const APP_ID = 'edgeward'

const security = (outcome: Outcome, description: string) => ({ outcome, description })

/**
 * The security audit vocabulary (R-LOG-1: the OWASP Logging Vocabulary plus the gateway's own events), with the
 * `outcome` and `description` a record gets when it does not set them. Add a new security event here: only
 * these are exported to Analytics Engine, and the completeness test checks their fields.
 */
export const SECURITY_EVENTS: Readonly<Record<string, { outcome: Outcome; description: string }>> = {
  authn_login_success: security('success', 'A user logged in.'),
  authn_login_successafterfail: security('success', 'A user logged in after failed attempts.'),
  authn_login_fail: security('failure', 'A login attempt failed.'),
  authn_login_fail_max: security('failure', 'A login attempt failed and reached the failure limit.'),
  authn_login_lock: security('denied', 'A login was refused because the account is locked.'),
  authn_password_change: security('success', 'A password was changed.'),
  authn_password_change_fail: security('failure', 'A password change failed.'),
  authn_token_created: security('success', 'A token was issued.'),
  authn_token_revoked: security('denied', 'A revoked access token was presented.'),
  authn_token_reuse: security('denied', 'A revoked refresh token was reused.'),
  authn_token_invalid: security('denied', 'A bearer token was missing, malformed or failed verification.'),
  session_created: security('success', 'A session was created.'),
  session_renewed: security('success', 'A session was renewed (refresh).'),
  session_logout: security('success', 'A session was ended by logout.'),
  session_revoked: security('success', 'A session was ended by its user from the session list.'),
  session_expired: security('failure', 'A session expired.'),
  session_use_after_expire: security('denied', 'An expired session was used.'),
  authz_fail: security('denied', 'Access to a resource was refused for lack of authorization.'),
  authz_admin: security('success', 'An administrator acted on a user account.'),
  excess_rate_limit_exceeded: security('denied', 'A rate limit was exceeded.'),
  degraded_mode_entered: security(
    'failure',
    'Upstash is unavailable: rate limiting runs degraded (in-isolate, bounded).',
  ),
  degraded_mode_exited: security('success', 'Upstash answers again: rate limiting is back to normal.'),
  rate_limit_unavailable: security('denied', 'A fail-closed rate limit could not be checked; the request was refused.'),
  input_validation_fail: security('denied', 'A request failed input validation.'),
  malicious_cors: security('denied', 'A cross-origin request came from an origin that is not allowed.'),
  user_created: security('success', 'A user was created.'),
  user_updated: security('success', 'A user account was updated.'),
  revocation_check_skipped: security('allowed', 'The revocation check failed open: a token was accepted unchecked.'),
  health_check_failed: security('failure', 'A dependency of the gateway failed its health check.'),
  config_invalid: security('failure', 'The gateway configuration is invalid.'),
  config_insecure_redis_plaintext: security('allowed', 'An insecure Redis override is configured.'),
  request_failed: security('failure', 'A request failed with a server error.'),
  request_rejected: security('denied', 'A request was rejected.'),
}

export function isSecurityEvent(event: string): boolean {
  return Object.hasOwn(SECURITY_EVENTS, event)
}

/** Keys whose values are never logged, at any depth (Authorization, cookies, passwords, tokens, secrets). */
const SENSITIVE_KEY = /authorization|cookie|passw|secret|token|pepper|api[-_]?key|private|credential|signature/i
const MAX_STRING = 1024
const MAX_DEPTH = 6

export function redact(value: unknown, depth = 0): unknown {
  if (value === null || value === undefined) return value
  if (typeof value === 'string') return value.length > MAX_STRING ? `${value.slice(0, MAX_STRING)}…` : value
  if (typeof value !== 'object') return typeof value === 'bigint' ? value.toString() : value
  if (depth >= MAX_DEPTH) return '[truncated]'
  if (value instanceof Error) return describeError(value, depth)
  if (Array.isArray(value)) return value.slice(0, 50).map((v) => redact(v, depth + 1))
  const out: Record<string, unknown> = {}
  for (const [key, v] of Object.entries(value)) {
    out[key] = SENSITIVE_KEY.test(key) ? '[redacted]' : redact(v, depth + 1)
  }
  return out
}

/**
 * An error as a log field: name, message and a short stack. Upstash client errors append the whole
 * command ("command was: [...]"), which can carry stored values; that tail is cut off.
 */
function describeError(err: Error, depth: number): Record<string, unknown> {
  const message = err.message.replace(/, command was: [\s\S]*$/, '')
  return {
    name: err.name,
    message: redact(message, depth + 1),
    stack: err.stack?.split('\n').slice(1, 6).join('\n'),
    ...(err.cause === undefined ? {} : { cause: redact(err.cause, depth + 1) }),
  }
}

/**
 * Characters that end a line for some log readers but that JSON.stringify leaves as they are (NEL, LINE SEPARATOR,
 * PARAGRAPH SEPARATOR); CR, LF and the other C0 controls are already escaped by JSON.stringify.
 */
const UNESCAPED_LINE_BREAKS = /[\u0085\u2028\u2029]/g

/** Writes one record and returns what was written. `error` and `critical` go to console.error, the rest to console.log. */
function write(record: LogRecord): Record<string, unknown> {
  const {
    datetime: _datetime,
    appid: _appid,
    event,
    level,
    outcome,
    description,
    ...fields
  } = redact(record) as LogRecord
  const defaults = isSecurityEvent(record.event) ? SECURITY_EVENTS[record.event] : undefined
  // Key order is for readers; the timestamp and app id cannot be overridden by a record.
  const written: Record<string, unknown> = {
    datetime: new Date().toISOString(),
    appid: APP_ID,
    event,
    level,
    outcome: outcome ?? defaults?.outcome,
    description: description ?? defaults?.description,
    ...fields,
  }
  const line = JSON.stringify(written).replace(
    UNESCAPED_LINE_BREAKS,
    (ch) => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`,
  )
  if (record.level === 'error' || record.level === 'critical') console.error(line)
  else console.log(line)
  return written
}

/** Writes one record not tied to a request (configuration, start-up). */
/** Writes a record; returns it as written (defaults filled in), for callers that export it further. */
export function log(record: LogRecord): Record<string, unknown> {
  return write(record)
}

/**
 * An email address as it may appear in a log record (R-LOG-2 says `userid`, not email): the first character of the
 * local part, `***`, and the domain in lower case, e.g. `Alice.Smith@Example.COM` → `A***@example.com`. That is
 * enough to see a campaign against one domain or a typo, not enough to recover the address. Anything that is not
 * `local@domain` becomes `***`.
 */
export function maskEmail(email: string): string {
  const at = email.lastIndexOf('@')
  const local = email.slice(0, Math.max(at, 0)).trim()
  const domain = email
    .slice(at + 1)
    .trim()
    .toLowerCase()
  const [first] = Array.from(local)
  if (at < 0 || first === undefined || !/^[^\s@]{1,253}$/u.test(domain)) return '***'
  return `${first}***@${domain}`
}

/**
 * The gateway's structured logger: one JSON object per line, OWASP logging-vocabulary event names.
 * Every record goes through `redact()`, so credentials cannot reach the log even by mistake, and through
 * JSON.stringify, so CR/LF or JSON in user input cannot forge a second record (R-LOG-4, R-LOG-5).
 */
import type { Context } from 'hono'

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'critical'

export interface LogRecord {
  event: string
  level: LogLevel
  description?: string
  [field: string]: unknown
}

export const APP_ID = 'edgeward'

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

/** Writes one record. `error` and `critical` go to console.error, the rest to console.log. */
export function log(record: LogRecord): void {
  const line = JSON.stringify({ datetime: new Date().toISOString(), appid: APP_ID, ...(redact(record) as LogRecord) })
  if (record.level === 'error' || record.level === 'critical') console.error(line)
  else console.log(line)
}

/** The request fields every record about a request carries (R-LOG-2). The query string is never logged. */
export function requestFields(c: Context): Record<string, unknown> {
  const url = new URL(c.req.url)
  return {
    request_id: c.get('requestId'),
    cf_ray: c.req.header('cf-ray') ?? null,
    source_ip: c.req.header('cf-connecting-ip') ?? null,
    useragent: c.req.header('user-agent') ?? null,
    request_method: c.req.method,
    request_uri: url.pathname,
  }
}

/** Logs a record about the current request, with the request fields filled in. */
export function logRequest(c: Context, record: LogRecord): void {
  log({ ...requestFields(c), ...record })
}

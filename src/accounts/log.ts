/**
 * The account-event log records, in one place: their names, levels and descriptions, and the only fields they
 * take from an event (type, user id, event id), so neither the email nor the token can reach a log line.
 */
import { log } from '../observability/logger'
import type { AccountEventMessage, DeliveryResult } from './delivery'

const RECORDS = {
  account_event_delivered: { level: 'info', description: 'The origin accepted an account event.' },
  account_event_retry: {
    level: 'warn',
    description: 'The origin did not accept an account event; the queue delivers it again later.',
  },
  account_event_dead_lettered: {
    level: 'error',
    description: 'The origin did not accept an account event in any attempt: it goes to the dead-letter queue.',
  },
  account_event_enqueue_failed: {
    level: 'error',
    description: 'An account event could not be queued; it is delivered directly instead (one retry).',
  },
  account_event_undeliverable: {
    level: 'error',
    description: 'An account event could not be delivered to the origin and was dropped.',
  },
} as const

const NO_URL = {
  level: 'warn',
  description: 'ACCOUNT_EVENTS_URL is not set: an account event was dropped (no verification or reset mail).',
} as const

export interface AccountEventLogFields {
  /** The attempt's outcome: its status, or why there was none, and its duration. */
  result?: DeliveryResult
  /** `account_event_undeliverable`: `no_url` (ACCOUNT_EVENTS_URL unset) or `origin_failed` (both direct attempts). */
  reason?: 'no_url' | 'origin_failed'
  [field: string]: unknown
}

export function logAccountEvent(
  name: keyof typeof RECORDS,
  message: AccountEventMessage,
  { result, ...fields }: AccountEventLogFields = {},
): void {
  const record = fields.reason === 'no_url' ? NO_URL : RECORDS[name]
  log({
    event: name,
    ...record,
    type: message.event.type,
    userid: message.event.user_id,
    event_id: message.id,
    ...fields,
    ...(result === undefined ? {} : outcome(result)),
  })
}

function outcome(result: DeliveryResult): Record<string, unknown> {
  return 'status' in result
    ? { status: result.status, duration_ms: result.durationMs }
    : { error: result.error, duration_ms: result.durationMs }
}

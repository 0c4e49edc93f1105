/**
 * The gateway's `AccountEvents`. With the account-events queue bound, `send` only enqueues: the consumer
 * (consumer.ts) delivers, retrying with backoff, then dead-letters. Without one (or when enqueueing fails), the
 * event is delivered within the request's `waitUntil`: one attempt and one retry, nothing after. Without
 * ACCOUNT_EVENTS_URL every event is logged and dropped.
 */
import type { Config } from '../config/schema'
import { log } from '../observability/logger'
import {
  type AccountEventMessage,
  accountEvent,
  type DeliveryTarget,
  deliverAccountEvent,
  deliveryTarget,
} from './delivery'
import type { AccountEvents } from './events'
import { logAccountEvent } from './log'
import { ACCOUNT_EVENTS_QUEUE_BINDING } from './queue-settings'

export interface AccountEventSenderOptions {
  /** @default Date.now */
  clock?: () => number
  /** Without a queue, how long the one retry waits. @default 1000 */
  retryDelayMs?: number
}

export function createAccountEventSender(
  config: Config,
  bindings: object,
  { clock = Date.now, retryDelayMs = 1_000 }: AccountEventSenderOptions = {},
): AccountEvents {
  const target = deliveryTarget(config)
  const queue = queueBinding(bindings)
  return {
    async send(input, ctx) {
      try {
        const occurredAt = new Date(clock()).toISOString()
        const message: AccountEventMessage = { id: crypto.randomUUID(), event: accountEvent(input, occurredAt) }
        if (target === undefined) return logAccountEvent('account_event_undeliverable', message, { reason: 'no_url' })
        if (queue !== undefined) {
          try {
            await queue.send(message, { contentType: 'json' })
            return
          } catch (error) {
            logAccountEvent('account_event_enqueue_failed', message, { error })
          }
        }
        ctx.waitUntil(deliverDirectly(target, message, retryDelayMs))
      } catch (error) {
        log({
          event: 'account_event_undeliverable',
          level: 'error',
          description: 'An account event could not be handed over for delivery and was dropped.',
          reason: 'internal',
          type: input.type,
          userid: input.user_id,
          error,
        })
      }
    },
  }
}

/** The fallback without a queue: at most two attempts, within the request's `waitUntil`. */
async function deliverDirectly(target: DeliveryTarget, message: AccountEventMessage, retryDelayMs: number) {
  let attempts = 1
  let result = await deliverAccountEvent(target, message)
  if (!result.ok) {
    await new Promise((resolve) => setTimeout(resolve, retryDelayMs))
    attempts = 2
    result = await deliverAccountEvent(target, message)
  }
  if (result.ok) logAccountEvent('account_event_delivered', message, { attempts, via: 'wait_until', result })
  else logAccountEvent('account_event_undeliverable', message, { reason: 'origin_failed', attempts, result })
}

function queueBinding(bindings: object): Queue<AccountEventMessage> | undefined {
  const queue = (bindings as Record<string, unknown>)[ACCOUNT_EVENTS_QUEUE_BINDING] as
    | Queue<AccountEventMessage>
    | undefined
  return typeof queue?.send === 'function' ? queue : undefined
}

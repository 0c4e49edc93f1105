/**
 * The account-events queue consumer (the worker's `queue` handler): POSTs each event to ACCOUNT_EVENTS_URL. A 2xx
 * acknowledges it; anything else retries it after an exponentially growing delay (queue-settings.ts), and once the
 * last retry has failed the queue moves it to the dead-letter queue. The messages of a batch are delivered
 * concurrently, each acknowledged or retried on its own.
 */
import { loadConfig } from '../config/load'
import type { ConfigResult } from '../config/schema'
import { log } from '../observability/logger'
import { type DeliveryTarget, deliverAccountEvent, deliveryTarget, parseAccountEventMessage } from './delivery'
import { logAccountEvent } from './log'
import { isLastAttempt, retryDelaySeconds } from './queue-settings'

/** Parsed (and an invalid one logged) once per bindings object, as the fetch handler does. */
const configs = new WeakMap<object, ConfigResult>()

export async function consumeAccountEvents(batch: MessageBatch, bindings: object): Promise<void> {
  let config = configs.get(bindings)
  if (config === undefined) {
    config = loadConfig(bindings)
    configs.set(bindings, config)
  }
  // An invalid configuration (logged as config_invalid) is retried like an origin that is down.
  const target = config.ok ? deliveryTarget(config.config) : 'config_invalid'
  await Promise.all(batch.messages.map((message) => consume(message, target)))
}

async function consume(message: Message, target: DeliveryTarget | undefined | 'config_invalid'): Promise<void> {
  const parsed = parseAccountEventMessage(message.body)
  if (parsed === undefined) {
    message.ack()
    log({
      event: 'account_event_malformed',
      level: 'error',
      description: 'A message on the account-events queue is not an account event; it was dropped.',
      message_id: message.id,
    })
    return
  }
  if (target === undefined) {
    message.ack()
    return logAccountEvent('account_event_undeliverable', parsed, { reason: 'no_url' })
  }
  const { attempts } = message
  const result = target === 'config_invalid' ? undefined : await deliverAccountEvent(target, parsed)
  if (result?.ok) {
    message.ack()
    return logAccountEvent('account_event_delivered', parsed, { attempts, via: 'queue', result })
  }
  const failure = result === undefined ? { error: 'config_invalid' } : { result }
  if (isLastAttempt(attempts)) {
    message.retry()
    return logAccountEvent('account_event_dead_lettered', parsed, { attempts, ...failure })
  }
  const delaySeconds = retryDelaySeconds(attempts)
  message.retry({ delaySeconds })
  logAccountEvent('account_event_retry', parsed, { attempts, retry_in_seconds: delaySeconds, ...failure })
}

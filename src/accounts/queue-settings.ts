/**
 * The account-events queue as wrangler.toml declares it, and the retry schedule the consumer applies. No imports:
 * `scripts/lib/wrangler-config.ts` reads these too, and refuses a wrangler.toml whose consumer disagrees.
 */

/** The producer binding (`[[queues.producers]] binding`) the gateway sends account events to. */
export const ACCOUNT_EVENTS_QUEUE_BINDING = 'ACCOUNT_EVENTS_QUEUE'

/**
 * `max_retries` of the consumer in wrangler.toml. An event gets this many retries after its first attempt; when
 * the last one fails too, the queue moves it to the consumer's `dead_letter_queue`.
 */
export const ACCOUNT_EVENTS_MAX_RETRIES = 8

/** The wait before the first retry; each further retry waits twice as long, up to the cap. */
export const FIRST_RETRY_DELAY_SECONDS = 5
export const MAX_RETRY_DELAY_SECONDS = 900

/**
 * How long to wait after delivery attempt `attempts` (1-based, as `Message.attempts`) failed: 5, 10, 20, 40, 80,
 * 160, 320, 640 s for the eight retries, about 21 minutes in all, so an origin may be down that long.
 */
export function retryDelaySeconds(attempts: number): number {
  const doublings = Math.min(Math.max(Math.floor(attempts) - 1, 0), 30)
  return Math.min(FIRST_RETRY_DELAY_SECONDS * 2 ** doublings, MAX_RETRY_DELAY_SECONDS)
}

/** True when attempt `attempts` was the last: retrying it now moves it to the dead-letter queue. */
export function isLastAttempt(attempts: number): boolean {
  return attempts > ACCOUNT_EVENTS_MAX_RETRIES
}

/**
 * One delivery attempt of an account event: the signed POST to ACCOUNT_EVENTS_URL, and the queue message that
 * carries an event between the request that raised it and the attempts. Shared by the queue consumer and the
 * fallback that delivers without a queue.
 */
import * as z from 'zod/mini'
import type { Config } from '../config/schema'
import { signEvent } from '../upstream/signature'
import { ACCOUNT_EVENT_TYPES, type AccountEvent, type AccountEventInput } from './events'

/** What the queue holds: the event and its id, which is its `X-Request-Id` on every attempt. */
export interface AccountEventMessage {
  id: string
  event: AccountEvent
}

/** Unknown fields are dropped, so the body POSTed is exactly `{type, email, user_id, token?, occurred_at}`. */
const MessageSchema = z.object({
  id: z.string().check(z.regex(/^[\x21-\x7E]{1,200}$/)),
  event: z.object({
    type: z.enum(ACCOUNT_EVENT_TYPES),
    email: z.string(),
    user_id: z.string(),
    token: z.optional(z.string()),
    occurred_at: z.string(),
  }),
})

/** The body's fields only, in the documented order, whatever else `fields` holds. */
export function accountEvent(fields: AccountEventInput, occurred_at: string): AccountEvent {
  const { type, email, user_id, token } = fields
  return token === undefined ? { type, email, user_id, occurred_at } : { type, email, user_id, token, occurred_at }
}

/** A queue message body as an `AccountEventMessage`, or undefined when it is not one. */
export function parseAccountEventMessage(body: unknown): AccountEventMessage | undefined {
  const parsed = MessageSchema.safeParse(body)
  if (!parsed.success) return undefined
  return { id: parsed.data.id, event: accountEvent(parsed.data.event, parsed.data.event.occurred_at) }
}

/** Where events go and how: ACCOUNT_EVENTS_URL, the upstream signing secret, the upstream timeout. */
export interface DeliveryTarget {
  url: string
  signingSecret: string
  timeoutMs: number
}

/** Undefined without ACCOUNT_EVENTS_URL: events are then logged and dropped. */
export function deliveryTarget(config: Config): DeliveryTarget | undefined {
  const { url } = config.accountEvents
  if (url === undefined) return undefined
  return { url, signingSecret: config.upstream.signingSecret, timeoutMs: config.upstream.timeoutMs }
}

export type DeliveryResult =
  | { ok: true; status: number; durationMs: number }
  /** The origin answered something other than 2xx (a redirect is not followed: it is a failure too). */
  | { ok: false; status: number; durationMs: number }
  /** No answer: a connection failure, or none within the timeout. */
  | { ok: false; error: 'timeout' | 'unreachable'; durationMs: number }

/** POSTs the event once, signed over its body. Never throws. */
export async function deliverAccountEvent(
  target: DeliveryTarget,
  message: AccountEventMessage,
): Promise<DeliveryResult> {
  const started = Date.now()
  const url = new URL(target.url)
  const body = JSON.stringify(message.event)
  try {
    const signed = await signEvent(target.signingSecret, {
      method: 'POST',
      pathAndQuery: url.pathname + url.search,
      requestId: message.id,
      body,
    })
    const res = await fetch(url, {
      method: 'POST',
      headers: { ...signed, 'content-type': 'application/json' },
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(target.timeoutMs),
    })
    await res.body?.cancel()
    const durationMs = Date.now() - started
    return res.status >= 200 && res.status < 300
      ? { ok: true, status: res.status, durationMs }
      : { ok: false, status: res.status, durationMs }
  } catch (error) {
    const timedOut = error instanceof Error && error.name === 'TimeoutError'
    return { ok: false, error: timedOut ? 'timeout' : 'unreachable', durationMs: Date.now() - started }
  }
}

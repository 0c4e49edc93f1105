/**
 * Account events from `send` to the origin: through the real queue Miniflare runs from wrangler.toml (producer
 * binding, this worker as consumer, retries with the consumer's delays), through the consumer driven directly with
 * a runtime-shaped batch (the schedule up to the dead-letter queue, without waiting 21 minutes), and through the
 * fallback without a queue. The origin is the echo upstream; `armFault` makes it fail one event's first attempts.
 */
import { createExecutionContext, createMessageBatch, getQueueResult, waitOnExecutionContext } from 'cloudflare:test'
import { env } from 'cloudflare:workers'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { loadConfig } from '../config/load'
import worker from '../index'
import { testApp } from '../test-support/app'
import { armFault, ECHO_URL, type Echo, received, THIRD_PARTY_URL } from '../test-support/echo'
import { captureLogs } from '../test-support/logs'
import { verifyGatewayRequest } from '../upstream/verify-origin'
import type { AccountEventMessage } from './delivery'
import type { AccountEventInput } from './events'
import { ACCOUNT_EVENTS_MAX_RETRIES, FIRST_RETRY_DELAY_SECONDS } from './queue-settings'
import { createAccountEventSender } from './sender'

const EVENTS_PATH = '/__account-events'
/** Nothing listens there: every attempt fails to connect. */
const DOWN_URL = 'http://127.0.0.1:1/__account-events'
const QUEUE = 'edgeward-account-events'

let logs: ReturnType<typeof captureLogs>
/** Every email and token a test put into an event: none may reach a log line. */
let secrets: string[]
beforeEach(() => {
  logs = captureLogs()
  secrets = []
})
afterEach(() => {
  logs.restore()
  const text = logs.lines.join('\n')
  for (const secret of secrets) expect(text).not.toContain(secret)
})

/** A verification event for a fresh user, its email and token remembered as secrets. */
function anEvent(type: AccountEventInput['type'] = 'account.verification_requested'): AccountEventInput {
  const userId = `user-${crypto.randomUUID()}`
  const input = { type, email: `${userId}@example.test`, user_id: userId, token: `vt_${crypto.randomUUID()}` }
  secrets.push(input.email, input.token)
  return input
}

/** What the echo upstream received for this user's events, oldest first. */
async function deliveriesFor(userId: string): Promise<Echo[]> {
  return (await received(EVENTS_PATH)).filter((r) => r.body.includes(userId))
}

/** Polls `done` until it holds or `timeoutMs` has passed. */
async function until(done: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await done()) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100))
}

async function waitForDeliveries(userId: string, count: number, timeoutMs: number): Promise<Echo[]> {
  await until(async () => (await deliveriesFor(userId)).length >= count, timeoutMs)
  return deliveriesFor(userId)
}

/** This user's records of `event`: other tests' events may be delivered (and logged) meanwhile. */
function logsFor(event: string, userId: string) {
  return logs.events(event).filter((r) => r.userid === userId)
}

/** The origin's check: signature, freshness, and the body's digest. */
const verify = (e: Echo) =>
  verifyGatewayRequest(
    { method: e.method, url: e.path, headers: e.headers, body: e.body },
    { secrets: [env.UPSTREAM_SIGNING_SECRET] },
  )

describe('account events through the queue', () => {
  it('reach the origin as a signed POST the origin verifies, body included', async () => {
    const gateway = testApp().gateway()
    const input = anEvent()
    await gateway.accountEvents.send(input, createExecutionContext())

    const [delivery, extra] = await waitForDeliveries(input.user_id, 1, 10_000)
    expect(delivery, 'the event reached the origin').toBeDefined()
    expect(extra).toBeUndefined()
    if (delivery === undefined) return
    expect(delivery.method).toBe('POST')
    expect(delivery.headers['content-type']).toBe('application/json')
    const verified = await verify(delivery)
    expect(verified).toMatchObject({ ok: true, user: null, requestId: delivery.headers['x-request-id'] })
    const body = JSON.parse(delivery.body) as Record<string, unknown>
    expect(body).toEqual({ ...input, occurred_at: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) })
    expect(Object.keys(body)).toEqual(['type', 'email', 'user_id', 'token', 'occurred_at'])
    await until(async () => logsFor('account_event_delivered', input.user_id).length > 0, 5_000)
  })

  it('reach an origin that is down for the first attempt on the retry, after the first backoff delay', async () => {
    const gateway = testApp().gateway()
    const input = anEvent('account.password_reset_requested')
    await armFault(input.user_id, 1, 503)
    await gateway.accountEvents.send(input, createExecutionContext())

    const [failed, retried, extra] = await waitForDeliveries(input.user_id, 2, 20_000)
    expect(failed?.fault, 'the first attempt was answered 503').toBe(503)
    expect(retried, 'the event came again').toBeDefined()
    expect(retried?.fault).toBeUndefined()
    expect(extra).toBeUndefined()
    if (failed === undefined || retried === undefined) return
    // One event, one id on every attempt (the origin's key to skip a repeat), each attempt signed afresh.
    expect(retried.headers['x-request-id']).toBe(failed.headers['x-request-id'])
    expect(await verify(retried)).toMatchObject({ ok: true })
    expect(JSON.parse(retried.body)).toMatchObject(input)
    expect(retried.receivedAt - failed.receivedAt).toBeGreaterThanOrEqual(FIRST_RETRY_DELAY_SECONDS * 1000 - 250)
    // The consumer runs in this isolate: its log lines are captured too, and hold neither email nor token.
    await until(async () => logsFor('account_event_delivered', input.user_id).length > 0, 5_000)
    expect(logsFor('account_event_retry', input.user_id)).toEqual([
      expect.objectContaining({ attempts: 1, status: 503, retry_in_seconds: FIRST_RETRY_DELAY_SECONDS }),
    ])
    expect(logsFor('account_event_delivered', input.user_id)).toEqual([
      expect.objectContaining({ attempts: 2, status: 200, via: 'queue', type: input.type }),
    ])
  }, 30_000)
})

/**
 * Runs the worker's `queue` handler on one batch shaped like the runtime's, and returns what it acked and what it
 * retried with which delay (`getQueueResult` does not report delays, so `retry` is watched).
 */
async function consume(bindings: object, messages: { body: unknown; attempts?: number }[]) {
  const batch = createMessageBatch(
    QUEUE,
    messages.map(({ body, attempts = 1 }) => ({ id: crypto.randomUUID(), timestamp: Date.now(), attempts, body })),
  )
  const retries = batch.messages.map((m) => vi.spyOn(m, 'retry'))
  const ctx = createExecutionContext()
  await worker.queue(batch, bindings as Env)
  const { explicitAcks, retryMessages, retryBatch, ackAll } = await getQueueResult(batch, ctx)
  expect({ retryBatch, ackAll }, 'every message is settled on its own').toEqual({
    retryBatch: { retry: false },
    ackAll: false,
  })
  const ids = batch.messages.map((m) => m.id)
  const retried = ids.flatMap((msgId, i) =>
    (retries[i]?.mock.calls ?? []).map(([options]) => ({ msgId, delaySeconds: options?.delaySeconds })),
  )
  expect(retried.map((r) => r.msgId)).toEqual(retryMessages.map((r) => r.msgId))
  return { ids, explicitAcks, retried }
}

/** A queue message as `send` would enqueue it. */
function aMessage(input = anEvent()): AccountEventMessage {
  return { id: crypto.randomUUID(), event: { ...input, occurred_at: new Date().toISOString() } }
}

describe('the queue consumer, driven with a runtime-shaped batch', () => {
  it('acknowledges an event the origin accepted, and logs it without email or token', async () => {
    const message = aMessage()
    const { ids, explicitAcks, retried } = await consume(env, [{ body: message }])
    expect(explicitAcks).toEqual(ids)
    expect(retried).toEqual([])
    const [delivery] = await deliveriesFor(message.event.user_id)
    expect(delivery?.headers['x-request-id']).toBe(message.id)
    expect(logsFor('account_event_delivered', message.event.user_id)).toEqual([
      expect.objectContaining({
        level: 'info',
        type: 'account.verification_requested',
        userid: message.event.user_id,
        event_id: message.id,
        attempts: 1,
        via: 'queue',
        status: 200,
      }),
    ])
  })

  it('retries each failed attempt later and later, then lets the queue dead-letter it after the last', async () => {
    const down = { ...env, ACCOUNT_EVENTS_URL: DOWN_URL }
    const message = aMessage()
    const delays: (number | undefined)[] = []
    // What the runtime does with max_retries = 8: attempts 1 to 9, each retried, the ninth into the DLQ.
    for (let attempts = 1; attempts <= ACCOUNT_EVENTS_MAX_RETRIES + 1; attempts++) {
      const { ids, explicitAcks, retried } = await consume(down, [{ body: message, attempts }])
      expect(explicitAcks).toEqual([])
      expect(retried.map((r) => r.msgId)).toEqual(ids)
      delays.push(retried[0]?.delaySeconds)
    }
    expect(delays).toEqual([5, 10, 20, 40, 80, 160, 320, 640, undefined])
    const retries = logsFor('account_event_retry', message.event.user_id)
    expect(retries).toHaveLength(ACCOUNT_EVENTS_MAX_RETRIES)
    expect(retries[0]).toMatchObject({ level: 'warn', attempts: 1, retry_in_seconds: 5, error: 'unreachable' })
    expect(logsFor('account_event_dead_lettered', message.event.user_id)).toEqual([
      expect.objectContaining({
        level: 'error',
        type: 'account.verification_requested',
        userid: message.event.user_id,
        event_id: message.id,
        attempts: 9,
        error: 'unreachable',
      }),
    ])
  })

  it('retries an event the origin answered with a non-2xx status', async () => {
    const message = aMessage()
    await armFault(message.event.user_id, 1, 500)
    const { ids, retried } = await consume(env, [{ body: message }])
    expect(retried).toEqual([{ msgId: ids[0], delaySeconds: 5 }])
    expect(logsFor('account_event_retry', message.event.user_id)).toEqual([expect.objectContaining({ status: 500 })])
  })

  it('retries an event the origin did not answer in time', async () => {
    const slow = { ...env, ACCOUNT_EVENTS_URL: `${ECHO_URL}/__echo/slow/3000`, UPSTREAM_TIMEOUT_MS: '200' }
    const message = aMessage()
    const { ids, retried } = await consume(slow, [{ body: message }])
    expect(retried).toEqual([{ msgId: ids[0], delaySeconds: 5 }])
    expect(logsFor('account_event_retry', message.event.user_id)).toEqual([
      expect.objectContaining({ error: 'timeout' }),
    ])
  })

  it('does not follow a redirect: the event goes nowhere else, and is retried', async () => {
    const stolen = `/stolen/${crypto.randomUUID()}`
    const redirecting = { ...env, ACCOUNT_EVENTS_URL: `${ECHO_URL}/__echo/redirect/307?to=${THIRD_PARTY_URL}${stolen}` }
    const message = aMessage()
    const { retried } = await consume(redirecting, [{ body: message }])
    expect(retried).toHaveLength(1)
    expect(logsFor('account_event_retry', message.event.user_id)).toEqual([expect.objectContaining({ status: 307 })])
    expect(await received(stolen, THIRD_PARTY_URL)).toEqual([])
  })

  it('settles each message of a batch on its own', async () => {
    const good = aMessage()
    const bad = aMessage()
    await armFault(bad.event.user_id, 1, 503)
    const { ids, explicitAcks, retried } = await consume(env, [{ body: good }, { body: bad }])
    expect(explicitAcks).toEqual([ids[0]])
    expect(retried).toEqual([{ msgId: ids[1], delaySeconds: 5 }])
  })

  it('drops a message that is not an account event, with a log line', async () => {
    const { ids, explicitAcks } = await consume(env, [{ body: { id: 'x', event: { type: 'account.deleted' } } }])
    expect(explicitAcks).toEqual(ids)
    const malformed = logs.events('account_event_malformed').filter((r) => r.message_id === ids[0])
    expect(malformed).toEqual([expect.objectContaining({ level: 'error' })])
  })

  it('drops events, logged, once ACCOUNT_EVENTS_URL is unset', async () => {
    const message = aMessage()
    const { ids, explicitAcks } = await consume({ ...env, ACCOUNT_EVENTS_URL: undefined }, [{ body: message }])
    expect(explicitAcks).toEqual(ids)
    expect(logsFor('account_event_undeliverable', message.event.user_id)).toEqual([
      expect.objectContaining({ reason: 'no_url', type: message.event.type }),
    ])
  })

  it('retries while the configuration is invalid, rather than losing the event', async () => {
    const message = aMessage()
    const { ids, retried } = await consume({ ...env, ENVIRONMENT: 'nope' }, [{ body: message }])
    expect(retried).toEqual([{ msgId: ids[0], delaySeconds: 5 }])
    expect(logsFor('account_event_retry', message.event.user_id)).toEqual([
      expect.objectContaining({ error: 'config_invalid' }),
    ])
  })
})

/** The sender for `bindings`, with a short retry delay for the fallback. */
function senderFor(bindings: object, options: Parameters<typeof createAccountEventSender>[2] = { retryDelayMs: 50 }) {
  const result = loadConfig(bindings)
  if (!result.ok) throw new Error('test bindings must make a valid configuration')
  return createAccountEventSender(result.config, bindings, options)
}

describe('without a queue: delivered within waitUntil, one retry', () => {
  const noQueue = { ...env, ACCOUNT_EVENTS_QUEUE: undefined }

  it('delivers a signed event before the request context ends', async () => {
    const input = anEvent('account.locked')
    delete input.token
    const ctx = createExecutionContext()
    await senderFor(noQueue).send(input, ctx)
    await waitOnExecutionContext(ctx)
    const [delivery] = await deliveriesFor(input.user_id)
    expect(delivery && (await verify(delivery))).toMatchObject({ ok: true })
    expect(JSON.parse(delivery?.body ?? '{}')).toEqual({ ...input, occurred_at: expect.any(String) })
    expect(logsFor('account_event_delivered', input.user_id)).toEqual([
      expect.objectContaining({ via: 'wait_until', attempts: 1 }),
    ])
  })

  it('retries once when the first attempt fails', async () => {
    const input = anEvent()
    await armFault(input.user_id, 1, 502)
    const ctx = createExecutionContext()
    await senderFor(noQueue).send(input, ctx)
    await waitOnExecutionContext(ctx)
    const deliveries = await deliveriesFor(input.user_id)
    expect(deliveries.map((d) => d.fault)).toEqual([502, undefined])
    expect(logsFor('account_event_delivered', input.user_id)).toEqual([expect.objectContaining({ attempts: 2 })])
  })

  it('gives up after the retry, logged', async () => {
    const input = anEvent()
    const ctx = createExecutionContext()
    await senderFor({ ...noQueue, ACCOUNT_EVENTS_URL: DOWN_URL }).send(input, ctx)
    await waitOnExecutionContext(ctx)
    expect(logsFor('account_event_undeliverable', input.user_id)).toEqual([
      expect.objectContaining({ level: 'error', reason: 'origin_failed', attempts: 2, error: 'unreachable' }),
    ])
  })

  it('is also the path when the queue refuses the event', async () => {
    const failingQueue = {
      send: async () => {
        throw new Error('Queue send failed: unavailable')
      },
    }
    const input = anEvent()
    const ctx = createExecutionContext()
    await senderFor({ ...env, ACCOUNT_EVENTS_QUEUE: failingQueue }).send(input, ctx)
    await waitOnExecutionContext(ctx)
    expect(await deliveriesFor(input.user_id)).toHaveLength(1)
    expect(logsFor('account_event_enqueue_failed', input.user_id)).toHaveLength(1)
    expect(logsFor('account_event_delivered', input.user_id)).toEqual([expect.objectContaining({ via: 'wait_until' })])
  })
})

describe('send', () => {
  it('logs and drops an event without ACCOUNT_EVENTS_URL, sending nothing', async () => {
    const input = anEvent()
    let scheduled = 0
    await senderFor({ ...env, ACCOUNT_EVENTS_URL: undefined }).send(input, { waitUntil: () => scheduled++ })
    expect(scheduled).toBe(0)
    expect(logsFor('account_event_undeliverable', input.user_id)).toEqual([
      expect.objectContaining({ level: 'warn', reason: 'no_url', type: input.type }),
    ])
    expect(await deliveriesFor(input.user_id)).toEqual([])
  })

  it('never throws: a failure to hand the event over is logged', async () => {
    const broken = senderFor(env, {
      clock: () => {
        throw new Error('clock failed')
      },
    })
    const input = anEvent()
    await expect(broken.send(input, createExecutionContext())).resolves.toBeUndefined()
    expect(logsFor('account_event_undeliverable', input.user_id)).toEqual([
      expect.objectContaining({ reason: 'internal', type: input.type }),
    ])
  })

  it('sends only the fields of the body, whatever else the caller passes', async () => {
    const input = { ...anEvent(), password: 'not-for-the-origin' } as AccountEventInput
    const ctx = createExecutionContext()
    await senderFor({ ...env, ACCOUNT_EVENTS_QUEUE: undefined }).send(input, ctx)
    await waitOnExecutionContext(ctx)
    const [delivery] = await deliveriesFor(input.user_id)
    expect(delivery?.body).not.toContain('not-for-the-origin')
  })
})

/**
 * The account flows (verified registration, password reset and change) as a client and its mailbox see them: one
 * app with its own bindings, the account events it sent (the origin's mailbox), and the work it did after each
 * answer (`waitUntil`), awaited before a request resolves so its effects can be checked.
 */
import { env } from 'cloudflare:workers'
import { expect } from 'vitest'
import { type AccountEvent, type AccountEventType, createRecordingAccountEvents } from '../accounts/events'
import type { GatewayOverrides } from '../gateway'
import type { TokenPairBody } from '../routes/auth/token-pair'
import { testApp } from './app'
import { testExecutionContext } from './context'

export interface FlowRequestOptions {
  headers?: Record<string, string>
  /** Resolve without awaiting the work done after the answer. */
  unsettled?: boolean
}

export function accountFlows(vars: Record<string, string> = {}, overrides: GatewayOverrides = {}) {
  const events = createRecordingAccountEvents()
  const app = testApp({ accountEvents: events, ...overrides })
  const bindings = { ...env, ...vars }
  const pending: Promise<unknown>[] = []
  const ctx = { ...testExecutionContext, waitUntil: (p: Promise<unknown>) => void pending.push(p) } as ExecutionContext

  /** Awaits the work done after answers, including work that work scheduled. */
  async function settle(): Promise<void> {
    while (pending.length > 0) await Promise.all(pending.splice(0))
  }

  async function post(path: string, body: unknown, options: FlowRequestOptions = {}): Promise<Response> {
    const request = new Request(`https://gw.test${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...options.headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    })
    const res = await app.fetch(request, bindings, ctx)
    if (!options.unsettled) await settle()
    return res
  }

  /** The events sent to `email`, oldest first. */
  const eventsFor = (email: string): AccountEvent[] => events.sent.filter((event) => event.email === email)

  return {
    events,
    bindings,
    post,
    settle,
    eventsFor,
    gateway: () => app.gateway(bindings),
    /** The token of the newest event of `type` sent to `email` (asserting there is one). */
    tokenFor(type: AccountEventType, email: string): string {
      const event = eventsFor(email)
        .filter((e) => e.type === type)
        .at(-1)
      expect(event?.token, `no ${type} token for ${email}`).toMatch(/^[A-Za-z0-9_-]{43}$/)
      return event?.token as string
    },
    /** Logs in through this app and returns the pair (asserting 200). */
    async login(email: string, password: string): Promise<TokenPairBody> {
      const res = await post('/auth/login', { email, password })
      expect(res.status, await res.clone().text()).toBe(200)
      return (await res.json()) as TokenPairBody
    },
  }
}

/** The `users` row of an address, or null. */
export function userRow(email: string) {
  return env.DB.prepare('SELECT id, password_hash, email_verified_at, updated_at FROM users WHERE email = ?1')
    .bind(email)
    .first<{ id: string; password_hash: string; email_verified_at: number | null; updated_at: number }>()
}

/**
 * Checks that the only event sent to `email` is a `type` event carrying a token, and that the user holds exactly
 * one account token, of `purpose` and lifetime `ttl`; returns the token.
 */
export async function expectOneTokenSent(
  sent: AccountEvent[],
  { type, email, userId }: { type: AccountEventType; email: string; userId: string | undefined },
  { purpose, ttl }: { purpose: string; ttl: number },
): Promise<string> {
  expect(sent).toEqual([
    {
      type,
      email,
      user_id: userId,
      token: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
      occurred_at: expect.any(String),
    },
  ])
  const { results } = await env.DB.prepare(
    'SELECT purpose, expires_at - created_at AS ttl FROM account_tokens WHERE user_id = ?1',
  )
    .bind(userId)
    .all()
  expect(results).toEqual([{ purpose, ttl }])
  return sent[0]?.token as string
}

/** Rows in `table` (`users`, `account_tokens`, `refresh_token_families`, …). */
export async function rowCount(table: string, where = '1 = 1', ...params: unknown[]): Promise<number> {
  const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${where}`)
    .bind(...params)
    .first<{ n: number }>()
  return row?.n ?? -1
}

/**
 * `store` with `method` held until `release()`: a request whose answer comes back while the call is held did not
 * wait for it. `waiting()` counts the calls that arrived.
 */
export function holding<T extends object, K extends keyof T>(store: T, method: K) {
  let release: () => void = () => {}
  const gate = new Promise<void>((resolve) => {
    release = resolve
  })
  let waiting = 0
  const original = store[method] as (...args: unknown[]) => Promise<unknown>
  const held = {
    ...store,
    [method]: async (...args: unknown[]) => {
      waiting++
      await gate
      return original.apply(store, args)
    },
  } as T
  return { store: held, release, waiting: () => waiting }
}

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { computeSignature, contentSha256 } from '../../src/upstream/verify-origin.ts'
import { type EchoUpstream, startEchoUpstream } from '../echo-upstream.ts'
import { accountEventPrinter, DEV_ACCOUNT_EVENTS_PATH } from './dev-account-events.ts'

const SECRET = 'dev-upstream-signing-secret-0123456789abcdef'
const printed: string[] = []
let echo: EchoUpstream

beforeAll(async () => {
  echo = await startEchoUpstream({ onRequest: accountEventPrinter(SECRET, (line) => printed.push(line)) })
})
afterAll(async () => {
  await echo.close()
})
beforeEach(async () => {
  printed.length = 0
  await fetch(`${echo.url}/__echo/log/reset`, { method: 'POST' })
})

const BODY = JSON.stringify({
  type: 'account.verification_requested',
  email: 'ada@example.test',
  user_id: 'user-ada',
  token: 'vt_local-mailbox-token',
  occurred_at: '2026-01-01T00:00:00.000Z',
})

/** POSTs an account event to the demo upstream, signed as the gateway signs it (src/upstream/signature.ts). */
async function postEvent(body = BODY, secret = SECRET): Promise<Response> {
  const timestamp = Math.floor(Date.now() / 1000)
  const requestId = crypto.randomUUID()
  const digest = await contentSha256(body)
  const signature = await computeSignature(secret, {
    timestamp,
    method: 'POST',
    pathAndQuery: DEV_ACCOUNT_EVENTS_PATH,
    user: '',
    scopes: '',
    session: '',
    requestId,
    contentSha256: digest,
  })
  return fetch(`${echo.url}${DEV_ACCOUNT_EVENTS_PATH}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      'x-gateway-timestamp': String(timestamp),
      'x-gateway-signature': signature,
      'x-request-id': requestId,
      'x-gateway-content-sha256': digest,
    },
    body,
  })
}

describe('npm run dev: the demo upstream prints account events', () => {
  it('prints a verified event with its email and token, for the local developer to follow', async () => {
    expect((await postEvent()).status).toBe(200)
    expect(printed).toEqual([
      'account event account.verification_requested for ada@example.test (user user-ada)',
      '    token vt_local-mailbox-token',
    ])
  })

  it('prints a refusal, not the event, when the signature does not verify', async () => {
    await postEvent(BODY, 'another-secret-of-enough-length-0123456789ab')
    expect(printed).toEqual([expect.stringMatching(/^account event refused \(bad_signature\)/)])
  })

  it('ignores requests to other paths', async () => {
    await fetch(`${echo.url}/api/items`, { method: 'POST', body: BODY })
    expect(printed).toEqual([])
  })
})

describe('echo upstream faults', () => {
  it('answers the next matching requests with the armed status, then echoes again', async () => {
    const armed = await fetch(`${echo.url}/__echo/faults`, {
      method: 'POST',
      body: JSON.stringify({ match: 'user-ada', times: 2, status: 503 }),
    })
    expect(armed.status).toBe(200)
    const other = await fetch(`${echo.url}/x`, { method: 'POST', body: 'user-bob' })
    expect(other.status).toBe(200)
    expect((await postEvent()).status).toBe(503)
    expect((await postEvent()).status).toBe(503)
    expect((await postEvent()).status).toBe(200)
    expect(echo.requests().map((r) => r.fault)).toEqual([undefined, 503, 503, undefined])
  })

  it.each([
    ['no match', { times: 1, status: 503 }],
    ['a status that is not 5xx', { match: 'x', times: 1, status: 200 }],
    ['zero times', { match: 'x', times: 0, status: 503 }],
  ])('refuses %s', async (_name, fault) => {
    const res = await fetch(`${echo.url}/__echo/faults`, { method: 'POST', body: JSON.stringify(fault) })
    expect(res.status).toBe(400)
  })

  it('clears armed faults on a log reset', async () => {
    await fetch(`${echo.url}/__echo/faults`, {
      method: 'POST',
      body: JSON.stringify({ match: 'user-ada', times: 1, status: 500 }),
    })
    await fetch(`${echo.url}/__echo/log/reset`, { method: 'POST' })
    expect((await postEvent()).status).toBe(200)
  })
})

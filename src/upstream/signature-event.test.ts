/**
 * The account-event signature: `signEvent` over method, path, id and the body's digest, and the origin's check with
 * `verifyGatewayRequest` given the body. Proxied requests keep their eight-line signature (signature.test.ts);
 * neither kind can pass for the other.
 */
import { describe, expect, it } from 'vitest'
import { hmacSha256Hex, sha256Hex } from '../lib/crypto'
import { type EventFields, signEvent, signIdentity } from './signature'
import { canonicalString, contentSha256, type GatewayRequestLike, verifyGatewayRequest } from './verify-origin'

const SECRET = 'test-upstream-signing-secret-0123456789abcdef'
const NOW = 1_767_225_600
const BASE = 'https://origin.internal'
const BODY = JSON.stringify({
  type: 'account.password_reset_requested',
  email: 'ada@example.test',
  user_id: 'user-ada',
  token: 'rt_secret-reset-token',
  occurred_at: '2026-01-01T00:00:00.000Z',
})

const event: EventFields = {
  method: 'POST',
  pathAndQuery: '/edgeward/account-events?v=1',
  requestId: '6f1c2a8e-1b7d-4c1e-9a55-0d9e3f2b7c10',
  body: BODY,
  nowSeconds: NOW,
}

async function signed(fields: EventFields = event) {
  const headers = new Headers(await signEvent(SECRET, fields))
  return { method: fields.method, url: `${BASE}${fields.pathAndQuery}`, headers, body: fields.body }
}

const verify = (request: GatewayRequestLike, nowSeconds = NOW) =>
  verifyGatewayRequest(request, { secrets: [SECRET], nowSeconds })

/** Hex (src/lib/crypto.ts, independent of the code under test) as unpadded base64url. */
function base64url(hex: string): string {
  const bytes = (hex.match(/../g) ?? []).map((pair) => Number.parseInt(pair, 16))
  return btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

describe('signEvent', () => {
  it('signs the nine-line canonical string, the ninth being the body digest it sends (known answer)', async () => {
    const headers = await signEvent(SECRET, event)
    const digest = base64url(await sha256Hex(BODY))
    expect(await contentSha256(BODY)).toBe(digest)
    const canonical = `v1\n1767225600\nPOST\n/edgeward/account-events?v=1\n\n\n\n${event.requestId}\n${digest}`
    expect(canonicalString({ ...anonymous(event), contentSha256: digest })).toBe(canonical)
    const expected = base64url(await hmacSha256Hex(SECRET, canonical))
    expect(headers).toEqual({
      'x-gateway-timestamp': '1767225600',
      'x-gateway-signature': `v1=${expected}`,
      'x-request-id': event.requestId,
      'x-gateway-content-sha256': digest,
    })
  })

  it('refuses a short secret (TypeError)', async () => {
    await expect(signEvent('too-short', event)).rejects.toThrow(TypeError)
  })
})

describe('verifyGatewayRequest on an account event (body given)', () => {
  it('accepts the event, its body as text or as bytes, and returns its id', async () => {
    const request = await signed()
    const expected = { ok: true, user: null, scopes: [], session: null, requestId: event.requestId, timestamp: NOW }
    expect(await verify(request)).toEqual(expected)
    expect(await verify({ ...request, body: new TextEncoder().encode(BODY) })).toEqual(expected)
    expect(await verify({ ...request, body: new TextEncoder().encode(BODY).buffer as ArrayBuffer })).toEqual(expected)
  })

  it('accepts a Node-style request target and headers record', async () => {
    const { headers } = await signed()
    const record = Object.fromEntries(headers.entries())
    expect(await verify({ method: 'POST', url: event.pathAndQuery, headers: record, body: BODY })).toMatchObject({
      ok: true,
    })
  })

  it('refuses another body with bad_digest, by one byte or by a re-ordered key', async () => {
    const request = await signed()
    expect(await verify({ ...request, body: BODY.replace('ada@', 'eve@') })).toEqual({
      ok: false,
      reason: 'bad_digest',
    })
    const reordered = JSON.stringify(Object.fromEntries(Object.entries(JSON.parse(BODY)).reverse()))
    expect(await verify({ ...request, body: reordered })).toEqual({ ok: false, reason: 'bad_digest' })
  })

  it('refuses another body sent with its own digest: the signature covers the digest', async () => {
    const request = await signed()
    const forged = BODY.replace('account.password_reset_requested', 'account.verification_requested')
    request.headers.set('x-gateway-content-sha256', await contentSha256(forged))
    expect(await verify({ ...request, body: forged })).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it.each<[string, (h: Headers) => void]>([
    ['request id', (h) => h.set('x-request-id', 'another-event-id')],
    ['timestamp', (h) => h.set('x-gateway-timestamp', String(NOW + 1))],
    ['an added identity', (h) => h.set('x-gateway-user', 'user-mallory')],
  ])('refuses a tampered %s with bad_signature', async (_name, tamper) => {
    const request = await signed()
    tamper(request.headers)
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('refuses the event at another path or with another method', async () => {
    const request = await signed()
    expect(await verify({ ...request, url: `${BASE}/edgeward/account-events` })).toEqual({
      ok: false,
      reason: 'bad_signature',
    })
    expect(await verify({ ...request, method: 'PUT' })).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('refuses a stale event (a delivery replayed later)', async () => {
    expect(await verify(await signed(), NOW + 61)).toEqual({ ok: false, reason: 'stale' })
  })

  it('refuses an event without its digest header, and a malformed one', async () => {
    const request = await signed()
    const digest = request.headers.get('x-gateway-content-sha256') ?? ''
    request.headers.delete('x-gateway-content-sha256')
    expect(await verify(request)).toEqual({ ok: false, reason: 'missing_header' })
    request.headers.set('x-gateway-content-sha256', `${digest}=`)
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_format' })
  })
})

describe('events and proxied requests cannot pass for each other', () => {
  it('an event checked as a proxied request (no body given) is refused', async () => {
    const { body: _body, ...request } = await signed()
    expect(await verify(request)).toEqual({ ok: false, reason: 'unexpected_header' })
  })

  it('a proxied request, whose signature covers no body, is refused as an event', async () => {
    const headers = new Headers(
      await signIdentity(SECRET, {
        method: 'POST',
        pathAndQuery: event.pathAndQuery,
        requestId: 'req-1',
        nowSeconds: NOW,
      }),
    )
    const request = { method: 'POST', url: `${BASE}${event.pathAndQuery}`, headers, body: BODY }
    expect(await verify(request)).toEqual({ ok: false, reason: 'missing_header' })
    // A client cannot add the digest either: the proxied signature has no ninth line.
    headers.set('x-gateway-content-sha256', await contentSha256(BODY))
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('a proxied request keeps its eight-line canonical string', () => {
    const fields = anonymous(event)
    expect(canonicalString(fields).split('\n')).toHaveLength(8)
    expect(() => canonicalString({ ...fields, contentSha256: 'not a digest' })).toThrow(TypeError)
  })
})

function anonymous({ method, pathAndQuery, requestId }: EventFields) {
  return { timestamp: NOW, method, pathAndQuery, user: '', scopes: '', session: '', requestId }
}

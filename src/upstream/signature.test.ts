import { describe, expect, it } from 'vitest'
import { type IdentityFields, signIdentity } from './signature'
import { canonicalString, verifyGatewayRequest } from './verify-origin'

const SECRET = 'test-upstream-signing-secret-0123456789abcdef'
const OLD_SECRET = 'previous-upstream-signing-secret-0123456789ab'
const NOW = 1_767_225_600
const BASE = 'https://origin.internal'

const alice: IdentityFields = {
  method: 'POST',
  pathAndQuery: '/api/items?page=2&q=a%20b',
  requestId: 'req-0123456789',
  user: 'user-alice',
  scopes: ['write', 'read'],
  session: 'sid-1',
  nowSeconds: NOW,
}

async function signed(fields: IdentityFields = alice, secret = SECRET) {
  const headers = await signIdentity(secret, fields)
  return { method: fields.method, url: `${BASE}${fields.pathAndQuery}`, headers: new Headers(headers) }
}

const verify = (request: Parameters<typeof verifyGatewayRequest>[0], nowSeconds = NOW, secrets = [SECRET]) =>
  verifyGatewayRequest(request, { secrets, nowSeconds })

async function hmacBase64url(secret: string, text: string): Promise<string> {
  const key = await crypto.subtle.importKey(
    'raw',
    new TextEncoder().encode(secret),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const mac = new Uint8Array(await crypto.subtle.sign('HMAC', key, new TextEncoder().encode(text)))
  return btoa(String.fromCharCode(...mac))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')
}

describe('signIdentity', () => {
  it('signs the documented v1 canonical string (known answer)', async () => {
    const headers = await signIdentity(SECRET, alice)
    const canonical = 'v1\n1767225600\nPOST\n/api/items?page=2&q=a%20b\nuser-alice\nread write\nsid-1\nreq-0123456789'
    expect(headers).toEqual({
      'x-gateway-timestamp': '1767225600',
      'x-gateway-signature': `v1=${await hmacBase64url(SECRET, canonical)}`,
      'x-request-id': 'req-0123456789',
      'x-gateway-user': 'user-alice',
      'x-gateway-scopes': 'read write',
      'x-gateway-session': 'sid-1',
    })
  })

  it('signs anonymous requests too, without user, scopes or session headers', async () => {
    const headers = await signIdentity(SECRET, {
      method: 'GET',
      pathAndQuery: '/api/public/x',
      requestId: 'req-anon-01',
      nowSeconds: NOW,
    })
    const canonical = 'v1\n1767225600\nGET\n/api/public/x\n\n\n\nreq-anon-01'
    expect(headers).toEqual({
      'x-gateway-timestamp': '1767225600',
      'x-gateway-signature': `v1=${await hmacBase64url(SECRET, canonical)}`,
      'x-request-id': 'req-anon-01',
    })
  })

  it('percent-encodes user, session and scopes, so no field can carry a newline into the canonical string', async () => {
    const headers = await signIdentity(SECRET, {
      ...alice,
      user: 'a\nb é',
      scopes: ['z', 'x y', 'z', ''],
      session: 's\r\n1',
    })
    expect(headers['x-gateway-user']).toBe('a%0Ab%20%C3%A9')
    expect(headers['x-gateway-scopes']).toBe('x%20y z')
    expect(headers['x-gateway-session']).toBe('s%0D%0A1')
  })

  it.each<[string, string, Partial<IdentityFields>]>([
    ['a short secret', 'too-short', {}],
    ['a newline in the path', SECRET, { pathAndQuery: '/a\nb' }],
    ['a space in the path', SECRET, { pathAndQuery: '/a b' }],
    ['a relative path', SECRET, { pathAndQuery: 'a/b' }],
    ['a method with a space', SECRET, { method: 'GET X' }],
    ['a request id with a newline', SECRET, { requestId: 'r\n1' }],
  ])('refuses %s (caller mistake: TypeError)', async (_name, secret, change) => {
    await expect(signIdentity(secret, { ...alice, ...change })).rejects.toThrow(TypeError)
  })
})

describe('verifyGatewayRequest', () => {
  it('accepts what signIdentity produced and returns the decoded identity', async () => {
    expect(await verify(await signed())).toEqual({
      ok: true,
      user: 'user-alice',
      scopes: ['read', 'write'],
      session: 'sid-1',
      requestId: 'req-0123456789',
      timestamp: NOW,
    })
  })

  it('round-trips identities with characters that need encoding', async () => {
    const result = await verify(
      await signed({ ...alice, user: 'ä@x.test\nadmin', scopes: ['a:b', 'c/d'], session: 's s' }),
    )
    expect(result).toMatchObject({ ok: true, user: 'ä@x.test\nadmin', scopes: ['a:b', 'c/d'], session: 's s' })
  })

  it('accepts an anonymous request, with null user and session', async () => {
    const request = await signed({
      method: 'GET',
      pathAndQuery: '/api/public/x',
      requestId: 'req-anon-01',
      nowSeconds: NOW,
    })
    expect(await verify(request)).toEqual({
      ok: true,
      user: null,
      scopes: [],
      session: null,
      requestId: 'req-anon-01',
      timestamp: NOW,
    })
  })

  it('accepts a Node-style request target and headers record', async () => {
    const { headers } = await signed()
    const record = Object.fromEntries(headers.entries())
    expect(await verify({ method: 'POST', url: alice.pathAndQuery, headers: record })).toMatchObject({ ok: true })
  })

  it('accepts a previous secret during rotation, and refuses it once removed', async () => {
    const request = await signed(alice, OLD_SECRET)
    expect(await verify(request, NOW, [SECRET, OLD_SECRET])).toMatchObject({ ok: true })
    expect(await verify(request, NOW, [SECRET])).toEqual({ ok: false, reason: 'bad_signature' })
    const stranger = await signed(alice, 'an-unrelated-secret-of-enough-length-0123456')
    expect(await verify(stranger, NOW, [SECRET, OLD_SECRET])).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('accepts timestamps up to maxAgeSeconds away and refuses beyond, both ways', async () => {
    const request = await signed()
    expect(await verify(request, NOW + 60)).toMatchObject({ ok: true })
    expect(await verify(request, NOW - 60)).toMatchObject({ ok: true })
    expect(await verify(request, NOW + 61)).toEqual({ ok: false, reason: 'stale' })
    expect(await verify(request, NOW - 61)).toEqual({ ok: false, reason: 'future' })
    expect(
      await verifyGatewayRequest(request, { secrets: [SECRET], nowSeconds: NOW + 300, maxAgeSeconds: 300 }),
    ).toMatchObject({
      ok: true,
    })
  })

  type Req = { method: string; url: string; headers: Headers }
  /** Changes headers in place, or returns `{ method }` / `{ url }` to replace. */
  type Tamper = (r: Req) => unknown
  it.each<[string, Tamper]>([
    ['user', (r) => r.headers.set('x-gateway-user', 'user-mallory')],
    ['user removed', (r) => r.headers.delete('x-gateway-user')],
    ['scopes widened', (r) => r.headers.set('x-gateway-scopes', 'admin read write')],
    ['scopes removed', (r) => r.headers.delete('x-gateway-scopes')],
    ['scopes reordered', (r) => r.headers.set('x-gateway-scopes', 'write read')],
    ['session', (r) => r.headers.set('x-gateway-session', 'sid-2')],
    ['session removed', (r) => r.headers.delete('x-gateway-session')],
    ['request id', (r) => r.headers.set('x-request-id', 'req-9999999999')],
    ['timestamp (within the window)', (r) => r.headers.set('x-gateway-timestamp', String(NOW + 1))],
    ['method', () => ({ method: 'DELETE' })],
    ['method case', () => ({ method: 'post' })],
    ['path', () => ({ url: `${BASE}/api/admin?page=2&q=a%20b` })],
    ['path case', () => ({ url: `${BASE}/API/items?page=2&q=a%20b` })],
    ['query', () => ({ url: `${BASE}/api/items?page=3&q=a%20b` })],
    ['query removed', () => ({ url: `${BASE}/api/items` })],
    [
      'signature bytes',
      (r) => r.headers.set('x-gateway-signature', flipLast(r.headers.get('x-gateway-signature') ?? '')),
    ],
  ])('refuses a tampered %s with bad_signature', async (_name, tamper) => {
    const request = await signed()
    Object.assign(request, tamper(request))
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it('refuses an identity added to an anonymous request', async () => {
    const request = await signed({
      method: 'GET',
      pathAndQuery: '/api/public/x',
      requestId: 'req-anon-01',
      nowSeconds: NOW,
    })
    request.headers.set('x-gateway-user', 'user-alice')
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_signature' })
  })

  it.each(['x-gateway-timestamp', 'x-gateway-signature', 'x-request-id'])(
    'refuses a request without %s',
    async (name) => {
      const request = await signed()
      request.headers.delete(name)
      expect(await verify(request)).toEqual({ ok: false, reason: 'missing_header' })
    },
  )

  it('refuses an unsigned x-gateway-* header the origin might read', async () => {
    const request = await signed()
    request.headers.set('X-Gateway-Role', 'admin')
    expect(await verify(request)).toEqual({ ok: false, reason: 'unexpected_header' })
  })

  type Malform = Tamper
  it.each<[string, Malform]>([
    ['another version', (r) => r.headers.set('x-gateway-signature', `v2=${'A'.repeat(43)}`)],
    ['hex instead of base64url', (r) => r.headers.set('x-gateway-signature', `v1=${'ab'.repeat(32)}`)],
    ['a padded signature', (r) => r.headers.set('x-gateway-signature', `${r.headers.get('x-gateway-signature')}=`)],
    ['a non-numeric timestamp', (r) => r.headers.set('x-gateway-timestamp', '1767225600.5')],
    ['a negative timestamp', (r) => r.headers.set('x-gateway-timestamp', '-1')],
    ['a repeated user header', (r) => r.headers.append('x-gateway-user', 'user-mallory')],
    ['a raw space in the user', (r) => r.headers.set('x-gateway-user', 'user alice')],
    ['a //host request target', () => ({ url: '//evil.test/api/items?page=2&q=a%20b' })],
    ['an unparsable URL', () => ({ url: 'http://[bad' })],
  ])('refuses %s as bad_format', async (_name, malform) => {
    const request = await signed()
    Object.assign(request, malform(request))
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_format' })
  })

  it('refuses a header repeated in a Node headers record', async () => {
    const { headers } = await signed()
    const record: Record<string, string | string[]> = Object.fromEntries(headers.entries())
    record['x-gateway-user'] = ['user-alice', 'user-mallory']
    expect(await verify({ method: 'POST', url: alice.pathAndQuery, headers: record })).toEqual({
      ok: false,
      reason: 'bad_format',
    })
  })

  it('throws on a missing secret list (configuration mistake)', async () => {
    await expect(verifyGatewayRequest(await signed(), { secrets: [] })).rejects.toThrow(TypeError)
  })

  it('throws on a freshness window or a clock that is not a number, which would let any old signature pass', async () => {
    const old = await signed({ ...alice, nowSeconds: NOW - 10 * 365 * 86_400 })
    const unset = Number(undefined)
    for (const options of [
      { maxAgeSeconds: unset },
      { maxAgeSeconds: Number.POSITIVE_INFINITY },
      { maxAgeSeconds: -1 },
      { nowSeconds: unset },
      { nowSeconds: 1.5 },
    ]) {
      await expect(verifyGatewayRequest(old, { secrets: [SECRET], ...options })).rejects.toThrow(TypeError)
    }
  })

  it('refuses a timestamp written with leading zeros', async () => {
    const request = await signed()
    request.headers.set('x-gateway-timestamp', `0${request.headers.get('x-gateway-timestamp')}`)
    expect(await verify(request)).toEqual({ ok: false, reason: 'bad_format' })
  })

  it('covers the request target exactly: no spelling a URL parser rewrites passes for the signed path', async () => {
    const request = await signed({ ...alice, method: 'GET', pathAndQuery: '/api/admin/x' })
    expect(await verify(request)).toMatchObject({ ok: true })
    expect(await verify({ ...request, url: '/api/admin/x' })).toMatchObject({ ok: true })
    for (const target of [
      '/api/public/../admin/x',
      '/api/public/%2e%2e/admin/x',
      '/api/public/%2E%2E/admin/x',
      '/api/./admin/x',
      '/api\\admin\\x',
      '/\\evil.example/api/admin/x',
      '//evil.example/api/admin/x',
      `${BASE}/api/public/../admin/x`,
    ]) {
      const result = await verify({ ...request, url: target })
      expect([target, result]).toEqual([target, { ok: false, reason: 'bad_format' }])
    }
  })

  it('keeps fields apart: moving text between user and session changes the canonical string', () => {
    const base = { timestamp: NOW, method: 'GET', pathAndQuery: '/', scopes: '', requestId: 'req-1' }
    expect(canonicalString({ ...base, user: 'ab', session: '' })).not.toBe(
      canonicalString({ ...base, user: 'a', session: 'b' }),
    )
    expect(() => canonicalString({ ...base, user: 'a\nb', session: '' })).toThrow(TypeError)
  })
})

function flipLast(signature: string): string {
  const last = signature.at(-1)
  return `${signature.slice(0, -1)}${last === 'A' ? 'B' : 'A'}`
}

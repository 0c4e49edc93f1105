import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { testConfig } from '../test-support/tokens'
import { type KeyRing, loadKeyRing } from './keys'
import { mintAccessToken } from './mint'
import { type VerifyOptions, verifyAccessToken } from './verify'

const NOW = 1_800_000_000
const config = testConfig()
let ring: KeyRing
// A ring of each test's own: the memory is per ring and answers the first options object it saw, so a ring another
// test (or another file, when files share a worker) already used would not remember for this test's options.
beforeEach(async () => {
  ring = await loadKeyRing(config.jwt.signing)
})
afterEach(() => vi.restoreAllMocks())

/** One options object, as the gateway passes its configuration: its clock is moved by hand. */
function options(at = NOW): VerifyOptions {
  return { ...config.jwt, now: new Date(at * 1000) }
}
/**
 * Counts the signature checks of `token` alone: when files share a worker, another file's request still running in
 * the background may verify its own token meanwhile.
 */
function signatureChecksOf(token: string) {
  const spy = vi.spyOn(crypto.subtle, 'verify')
  const signingInput = token.slice(0, token.lastIndexOf('.'))
  return () =>
    spy.mock.calls.filter(([, , , data]) => new TextDecoder().decode(data as ArrayBuffer) === signingInput).length
}
const mint = (scopes: string[] = ['read']) =>
  mintAccessToken(ring, { sub: 'u', sid: 's', scopes }, { ...config.jwt, nowMs: NOW * 1000 })

describe('verified access tokens remembered per key ring', () => {
  it('checks a token presented again without verifying its signature again', async () => {
    const opts = options()
    const { token } = await mint()
    const signatures = signatureChecksOf(token)
    const first = await verifyAccessToken(token, ring, opts)
    const second = await verifyAccessToken(token, ring, opts)
    expect(second).toEqual(first)
    expect(signatures()).toBe(1)
  })

  it('still refuses a remembered token once it has expired, with the full verification naming why', async () => {
    const opts = options()
    const { token } = await mint()
    expect((await verifyAccessToken(token, ring, opts)).ok).toBe(true)
    const { accessTtlSeconds: ttl, clockSkewSeconds: skew } = config.jwt
    opts.now = new Date((NOW + ttl + skew - 1) * 1000)
    expect((await verifyAccessToken(token, ring, opts)).ok).toBe(true)
    opts.now = new Date((NOW + ttl + skew) * 1000)
    expect(await verifyAccessToken(token, ring, opts)).toEqual({ ok: false, reason: 'ERR_JWT_EXPIRED:exp' })
  })

  it('verifies in full for a clock earlier than the remembered verification, and for other options', async () => {
    const opts = options(NOW + 30)
    const { token } = await mint()
    expect((await verifyAccessToken(token, ring, opts)).ok).toBe(true)
    const signatures = signatureChecksOf(token)
    opts.now = new Date((NOW - 120) * 1000)
    expect(await verifyAccessToken(token, ring, opts)).toEqual({
      ok: false,
      reason: 'ERR_JWT_CLAIM_VALIDATION_FAILED:iat',
    })
    expect(
      await verifyAccessToken(token, ring, { ...config.jwt, audience: 'another', now: new Date(NOW * 1000) }),
    ).toMatchObject({ ok: false })
    expect(signatures()).toBe(2)
  })

  it('never serves a tampered token from memory, and hands out copies of the claims', async () => {
    const opts = options()
    const { token } = await mint(['read'])
    const first = await verifyAccessToken(token, ring, opts)
    if (first.ok) first.claims.scopes.push('admin')
    expect(await verifyAccessToken(token, ring, opts)).toMatchObject({ ok: true, claims: { scopes: ['read'] } })
    const tampered = `${token.slice(0, -4)}${token.endsWith('AAAA') ? 'BBBB' : 'AAAA'}`
    expect(await verifyAccessToken(tampered, ring, opts)).toMatchObject({ ok: false })
  })
})

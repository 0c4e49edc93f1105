/**
 * Revocation round trip, with fast-check, through the worker's own entry point: for arbitrary
 * subjects, sessions and scope sets, a token revoked by logout, by its session or by a user cutoff after its `iat`
 * is refused, and a token never revoked is accepted with its claims intact. Revocation entries live exactly as
 * long as the tokens they deny can still verify: never less (a revoked token would come back), never more.
 */
import { exports } from 'cloudflare:workers'
import fc from 'fast-check'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { inspectRedis } from '../../stores/contract/backends'
import { revocationKey } from '../../stores/redis/revocation'
import { testApp } from '../../test-support/app'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader, mintTestToken, testConfig } from '../../test-support/tokens'

const config = testConfig()
const { clockSkewSeconds: SKEW, accessTtlSeconds: TTL } = config.jwt
const redis = inspectRedis()
const revocation = testApp().gateway().revocation
const RUNS = { numRuns: 25 }

// Every request logs; keep the output readable. Log completeness is property 8's business, not this file's.
let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => logs.restore())

const me = (token: string) => exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(token) })
const logout = (token: string) =>
  exports.default.fetch('https://gw.test/auth/logout', { method: 'POST', headers: authHeader(token) })
const nowSeconds = () => Math.floor(Date.now() / 1000)

/** RFC 6749 §3.3 scope tokens. */
const scopeToken = fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,16}$/)
const text = fc.string({ unit: 'grapheme', minLength: 1, maxLength: 24 })
/**
 * An arbitrary principal. Redis is shared by every test file and every run: a fresh prefix keeps a revocation of
 * one run (say, of the user "a") from reaching another run that drew the same name.
 */
const principal = fc
  .record({ sub: text, sid: text, otherSid: text, scopes: fc.uniqueArray(scopeToken, { maxLength: 5 }) })
  .map(({ sub, sid, otherSid, scopes }) => {
    const run = crypto.randomUUID()
    return { sub: `${run}|${sub}`, sid: `${run}|s1|${sid}`, otherSid: `${run}|s2|${otherSid}`, scopes }
  })

async function expectAccepted(token: string, expected: { sub: string; sid: string; scopes: string[] }) {
  const res = await me(token)
  expect(res.status).toBe(200)
  expect(await res.json()).toMatchObject(expected)
}

async function expectRevoked(token: string) {
  await expectProblem(await me(token), 401, 'invalid_token')
}

describe('property 1: revocation round trip', () => {
  it('a logged-out token is refused; the user’s other session is untouched', async () => {
    await fc.assert(
      fc.asyncProperty(principal, async ({ sub, sid, otherSid, scopes }) => {
        const revoked = await mintTestToken({ sub, sid, scopes })
        const other = await mintTestToken({ sub, sid: otherSid, scopes })
        await expectAccepted(revoked.token, { sub, sid, scopes })
        expect((await logout(revoked.token)).status).toBe(204)
        await expectRevoked(revoked.token)
        await expectAccepted(other.token, { sub, sid: otherSid, scopes })
      }),
      RUNS,
    )
  })

  it('a logout revokes every token of its session, not only the one presented', async () => {
    await fc.assert(
      fc.asyncProperty(principal, fc.integer({ min: 1, max: 4 }), async ({ sub, sid, scopes }, siblings) => {
        const tokens = await Promise.all(
          Array.from({ length: siblings + 1 }, () => mintTestToken({ sub, sid, scopes })),
        )
        expect((await logout(tokens[0].token)).status).toBe(204)
        for (const { token } of tokens) await expectRevoked(token)
      }),
      RUNS,
    )
  })

  it('a user cutoff refuses exactly the tokens issued before it', async () => {
    await fc.assert(
      // cutoff − iat from well in the past up to the skew: tokens can be minted at the cutoff to check "after".
      fc.asyncProperty(principal, fc.integer({ min: -TTL, max: SKEW }), async ({ sub, sid, scopes }, offset) => {
        const before = await mintTestToken({ sub, sid, scopes })
        const cutoff = before.iat + offset
        await revocation.revokeUserBefore(sub, cutoff)
        if (before.iat < cutoff) await expectRevoked(before.token)
        else await expectAccepted(before.token, { sub, sid, scopes })
        // A token issued at the cutoff (a login after a password change) is accepted.
        const after = await mintTestToken({ sub, sid, scopes }, config, Math.max(cutoff, before.iat) * 1000)
        await expectAccepted(after.token, { sub, sid, scopes })
      }),
      RUNS,
    )
  })

  it('a cutoff only moves forward: an earlier one never revives a token', async () => {
    await fc.assert(
      fc.asyncProperty(principal, fc.integer({ min: 1, max: TTL }), async ({ sub, sid, scopes }, back) => {
        const token = await mintTestToken({ sub, sid, scopes })
        await revocation.revokeUserBefore(sub, token.iat + 1)
        await revocation.revokeUserBefore(sub, token.iat + 1 - back)
        await expectRevoked(token.token)
      }),
      RUNS,
    )
  })
})

describe('property 1: revocation entries expire with the tokens they deny', () => {
  it('jti entry TTL = remaining lifetime + skew; sid and sub entries ≤ access TTL + skew', async () => {
    await fc.assert(
      // Any age at which the token still verifies: up to TTL + SKEW, less 2 s of margin for the request itself.
      fc.asyncProperty(principal, fc.integer({ min: 0, max: TTL + SKEW - 2 }), async ({ sub, sid, scopes }, age) => {
        const before = nowSeconds()
        const minted = await mintTestToken({ sub, sid, scopes }, config, (before - age) * 1000)
        expect((await logout(minted.token)).status).toBe(204)
        await revocation.revokeUserBefore(sub, nowSeconds())
        const [jtiTtl, sidTtl, subTtl] = await Promise.all([
          redis.ttl(await revocationKey('jti', minted.jti)),
          redis.ttl(await revocationKey('sid', sid)),
          redis.ttl(await revocationKey('sub', sub)),
        ])
        const after = nowSeconds()
        // Upper bound: no longer than the token can verify, measured from before the logout.
        expect(jtiTtl).toBeLessThanOrEqual(minted.exp - before + SKEW)
        // Lower bound: the entry outlives the last instant the token verifies (exp + skew), give or take the second
        // that may have passed between the logout and this read.
        expect(jtiTtl).toBeGreaterThanOrEqual(minted.exp + SKEW - after - 1)
        for (const ttl of [sidTtl, subTtl]) {
          expect(ttl).toBeLessThanOrEqual(TTL + SKEW)
          expect(ttl).toBeGreaterThanOrEqual(TTL + SKEW - (after - before) - 1)
        }
      }),
      RUNS,
    )
  })
})

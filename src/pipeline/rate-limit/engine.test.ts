/**
 * What the engine reports as the revocation check's cause when Upstash was not asked or did not answer: the log of
 * a `revocation_unavailable` answer (or a `revocation_check_skipped` warning) names it, so an operator can tell an
 * open breaker from a failing call.
 */
import { env } from 'cloudflare:workers'
import { describe, expect, it } from 'vitest'
import { createCircuitBreaker } from '../../lib/breaker'
import type { Admission, AdmissionQuery, AdmissionStore } from '../../stores/types'
import { testConfig } from '../../test-support/tokens'
import { createRateLimitEngine } from './engine'

const config = testConfig({ ...env, RATE_LIMIT_GLOBAL: '100/1m' })
const subject = { jti: 'jti-1', sid: 'sid-1', sub: 'user-1', iat: 1_700_000_000 }
const checks = [{ policy: 'global' as const, identity: 'net4:203.0.113' }]
const NOW = 1_700_000_000_000

function store(answer: (query: AdmissionQuery) => Promise<Admission>) {
  const queries: AdmissionQuery[] = []
  const admissions: AdmissionStore = {
    admit(query) {
      queries.push(query)
      return answer(query)
    },
  }
  return { admissions, queries }
}

describe('the rate-limit engine, when Upstash does not decide', () => {
  it('names the open breaker as the cause, without asking the store', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 })
    breaker.failure(NOW)
    const { admissions, queries } = store(() => Promise.reject(new Error('must not be asked')))
    const decision = await createRateLimitEngine(config, admissions, breaker).admit(checks, subject, NOW)
    expect(queries).toEqual([])
    expect(decision.revocation).toMatchObject({ status: 'unavailable' })
    const cause = (decision.revocation as { cause: unknown }).cause
    expect(cause).toBeInstanceOf(Error)
    expect((cause as Error).message).toBe('Upstash circuit breaker open: not checked')
    expect(decision.decisions).toMatchObject([{ policy: 'global', degraded: true }])
  })

  it("names the store's own error when the call failed", async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 5, cooldownMs: 60_000 })
    const failed = new Error('Upstash evalsha: HTTP 500')
    const { admissions, queries } = store(() => Promise.reject(failed))
    const decision = await createRateLimitEngine(config, admissions, breaker).admit(checks, subject, NOW)
    expect(queries).toHaveLength(1)
    expect(decision.revocation).toEqual({ status: 'unavailable', cause: failed })
  })

  it('keeps what the store threw as it was, even undefined', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 5, cooldownMs: 60_000 })
    for (const thrown of [undefined, 'a string', 42]) {
      const { admissions } = store(() => Promise.reject(thrown))
      const decision = await createRateLimitEngine(config, admissions, breaker).admit(checks, subject, NOW)
      expect(decision.revocation).toEqual({ status: 'unavailable', cause: thrown })
    }
  })

  it('reports no revocation when no token was given', async () => {
    const breaker = createCircuitBreaker({ failureThreshold: 1, cooldownMs: 60_000 })
    breaker.failure(NOW)
    const { admissions } = store(() => Promise.reject(new Error('must not be asked')))
    const decision = await createRateLimitEngine(config, admissions, breaker).admit(checks, undefined, NOW)
    expect(decision.revocation).toBeUndefined()
  })
})

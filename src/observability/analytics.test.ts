/**
 * The data-point schema: positions, and the guarantee that no client value (address, email, token, path) can
 * become a blob, whatever a caller passes.
 */
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { BLOBS, DOUBLES, identifier, routePattern, toDataPoint, writePoint } from './analytics'

const base64url = (bytes: Uint8Array) =>
  btoa(String.fromCharCode(...bytes))
    .replace(/\+/g, '-')
    .replace(/\//g, '_')
    .replace(/=+$/, '')

describe('toDataPoint', () => {
  it('puts every field at its documented position, indexed by event', () => {
    const point = toDataPoint({
      event: 'upstream_request',
      outcome: 'failure',
      route: '/api/items/:id',
      reason: 'upstream_timeout',
      environment: 'production',
      method: 'get',
      latencyMs: 10_000.5,
      status: 504,
    })
    expect(point).toEqual({
      blobs: ['upstream_request', 'failure', '/api/items/:id', 'upstream_timeout', 'production', 'GET'],
      doubles: [1, 10_000.5, 504],
      indexes: ['upstream_request'],
    })
    expect(BLOBS).toHaveLength(point.blobs?.length ?? 0)
    expect(DOUBLES).toHaveLength(point.doubles?.length ?? 0)
  })

  it('fills what a decision does not have: empty blobs, zero doubles, OTHER for an unknown method', () => {
    const point = toDataPoint({ event: 'authz_fail', outcome: 'denied', route: '*', environment: 'staging' })
    expect(point.blobs).toEqual(['authz_fail', 'denied', '*', '', 'staging', ''])
    expect(point.doubles).toEqual([1, 0, 0])
    expect(
      toDataPoint({ ...point, event: 'x', outcome: 'denied', route: '*', environment: '', method: 'PROPFIND' })
        .blobs?.[5],
    ).toBe('OTHER')
    expect(
      toDataPoint({ event: 'x', outcome: 'denied', route: '*', environment: '', latencyMs: Number.NaN, status: -1 })
        .doubles,
    ).toEqual([1, 0, 0])
  })

  it('returns the error of a dataset that throws instead of throwing, and writes nothing without a dataset', () => {
    const failing = {
      writeDataPoint() {
        throw new Error('quota')
      },
    }
    const point = { event: 'authz_fail', outcome: 'denied', route: '*', environment: 'production' }
    expect(writePoint(failing, point)).toBeInstanceOf(Error)
    expect(writePoint(undefined, point)).toBeUndefined()
  })
})

describe('no client value becomes a blob', () => {
  it.each([
    '203.0.113.7',
    '2001:db8::1',
    '::1',
    '0:0:0:0:0:0:0:1',
    'fe80:1:2:3:4:5:6:7',
    '::ffff:198.51.100.2',
    'alice@example.com',
    'a***@example.com',
    'eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ1In0.c2ln',
    '3b0f6c9e-8d1a-4c55-9a8e-2f1b7d9c0e44',
    'Zr1Qx7Vb3Nc5Lk8Jh2Gf6Ds4Ap0Ow1Ie3Uy5Tt7Rr9a',
    '/api/items/1',
    'curl/8.5.0',
    'line\nbreak',
    'x'.repeat(65),
  ])('%j is not an identifier', (value) => {
    expect(identifier(value)).toBe('other')
  })

  it.each([
    ['kid_unknown'],
    ['rate_limited'],
    ['global,user'],
    ['path_encoded_slash'],
    ['2xx'],
    ['upstream_timeout'],
    ['production'],
    ['ERR_JWS_SIGNATURE_VERIFICATION_FAILED'],
    ['ERR_JWT_EXPIRED:exp'],
  ])('%j is an identifier', (value) => {
    expect(identifier(value)).toBe(value)
  })

  it.each([['/auth/me'], ['/api/users/:id'], ['/api/files/*'], ['(default)'], ['*']])('%j is a pattern', (value) => {
    expect(routePattern(value)).toBe(value)
  })

  it.each([['/api/users/12345'], ['/a/198.51.100.2'], ['/x@example.com'], ['/p?q=1'], ['api/items'], ['']])(
    '%j is not a pattern',
    (value) => {
      expect(routePattern(value)).toBe('other')
    },
  )

  it('addresses, emails, ids and random tokens never pass, in any blob (property)', () => {
    const client = fc.oneof(
      fc.ipV4(),
      fc.ipV6(),
      fc.emailAddress(),
      fc.uuid(),
      fc.uint8Array({ minLength: 16, maxLength: 48 }).map(base64url),
    )
    fc.assert(
      fc.property(client, (value) => {
        const point = toDataPoint({
          event: value,
          outcome: value,
          route: value,
          reason: value,
          environment: value,
          method: value,
        })
        for (const blob of point.blobs ?? []) expect(blob === '' || !String(blob).includes(value)).toBe(true)
        expect(point.indexes).toEqual(['other'])
      }),
      { numRuns: 500 },
    )
  })
})

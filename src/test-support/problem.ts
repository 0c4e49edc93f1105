import { expect } from 'vitest'
import type { ErrorCode } from '../errors/gateway-error'

/** Asserts a response is an RFC 9457 problem with this status and code, and returns its body. */
export async function expectProblem(res: Response, status: number, code: ErrorCode) {
  expect(res.status).toBe(status)
  expect(res.headers.get('content-type')).toBe('application/problem+json')
  expect(res.headers.get('cache-control')).toBe('no-store')
  const requestId = res.headers.get('x-request-id')
  expect(requestId).toMatch(/^[A-Za-z0-9-]{8,64}$/)
  const body = (await res.json()) as Record<string, unknown>
  expect(body).toMatchObject({
    type:
      code === 'rate_limited'
        ? 'https://iana.org/assignments/http-problem-types#quota-exceeded'
        : `urn:edgeward:problem:${code}`,
    status,
    code,
    instance: requestId,
    request_id: requestId,
  })
  expect(typeof body.title).toBe('string')
  expect(typeof body.detail).toBe('string')
  return body
}

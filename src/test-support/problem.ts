import { expect } from 'vitest'
import { type ErrorCode, PROBLEM_TYPES } from '../errors/gateway-error'

export interface ProblemExpectations {
  /**
   * The public `detail` the gateway deliberately gives this error instead of the registry's text. Without it, the
   * detail must be the registry's text exactly: anything else (an exception message, a dependency's answer) is a
   * leak.
   */
  detail?: string | RegExp
}

/** Asserts a response is an RFC 9457 problem with this status and code, and returns its body. */
export async function expectProblem(
  res: Response,
  status: number,
  code: ErrorCode,
  expected: ProblemExpectations = {},
) {
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
  const { detail = PROBLEM_TYPES[code].detail } = expected
  if (typeof detail === 'string') expect(body.detail).toBe(detail)
  else expect(body.detail).toMatch(detail)
  return body
}

import { describe, expect, it } from 'vitest'
import { endsSessions, TOKENLESS_PATHS } from './paths'

describe('endsSessions', () => {
  it('names the routes a user ends sessions with, exactly as the app registers them', () => {
    expect(endsSessions('POST', '/auth/logout')).toBe(true)
    expect(endsSessions('POST', '/auth/logout-all')).toBe(true)
    expect(endsSessions('POST', '/auth/password/change')).toBe(true)
    expect(endsSessions('DELETE', '/auth/sessions/0b9f6f1e-5c43-4a8e-9d1e-2a7c1f0e9b11')).toBe(true)
  })

  it('nothing else: other methods, spellings, an empty or nested session id, the admin routes', () => {
    for (const [method, path] of [
      ['GET', '/auth/logout'],
      ['HEAD', '/auth/logout-all'],
      ['POST', '/auth/logout/'],
      ['POST', '/AUTH/LOGOUT'],
      ['POST', '//auth/logout'],
      ['GET', '/auth/sessions/x'],
      ['POST', '/auth/sessions/x'],
      ['DELETE', '/auth/sessions'],
      ['DELETE', '/auth/sessions/'],
      ['DELETE', '/auth/sessions/x/y'],
      ['DELETE', '/auth/admin/users/x/sessions'],
      ['POST', '/auth/password/reset'],
    ] as const) {
      expect(endsSessions(method, path), `${method} ${path}`).toBe(false)
    }
  })
})

describe('TOKENLESS_PATHS', () => {
  it('holds the routes that take a password, a refresh token or an account token instead of a bearer', () => {
    expect([...TOKENLESS_PATHS].sort()).toEqual([
      '/auth/login',
      '/auth/password/forgot',
      '/auth/password/reset',
      '/auth/refresh',
      '/auth/register',
      '/auth/verify-email',
    ])
  })
})

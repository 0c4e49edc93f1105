import { describe, expect, it } from 'vitest'
import { bearerToken } from '.'

const url = (query: string) => new URL(`https://gw.test/api/items${query}`)

describe('bearerToken', () => {
  it.each([
    ['no query', ''],
    ['an empty query', '?'],
    ['another parameter', '?page=2'],
  ])('takes the token from the Authorization header with %s', (_, query) => {
    expect(bearerToken('Bearer abc.def.ghi', url(query))).toBe('abc.def.ghi')
    expect(bearerToken(undefined, url(query))).toBe('missing')
  })

  it.each(['?access_token=abc', '?page=2&access_token=', '?access%5Ftoken=abc', '?%61ccess_token=abc'])(
    'refuses a request whose query carries a token, however spelled: %s',
    (query) => {
      expect(bearerToken('Bearer abc.def.ghi', url(query))).toBe('malformed')
      expect(bearerToken(undefined, url(query))).toBe('malformed')
    },
  )
})

import { describe, expect, it } from 'vitest'
import { requestCoding } from './content-coding'

describe('requestCoding', () => {
  it.each([
    [undefined, { kind: 'none' }],
    ['', { kind: 'none' }],
    ['identity', { kind: 'none' }],
    [' Identity , identity', { kind: 'none' }],
    ['gzip', { kind: 'inflatable', format: 'gzip' }],
    ['GZIP', { kind: 'inflatable', format: 'gzip' }],
    ['x-gzip', { kind: 'inflatable', format: 'gzip' }],
    ['deflate', { kind: 'inflatable', format: 'deflate' }],
    ['identity, gzip', { kind: 'inflatable', format: 'gzip' }],
    ['br', { kind: 'unsupported' }],
    ['zstd', { kind: 'unsupported' }],
    ['compress', { kind: 'unsupported' }],
    ['gzip, gzip', { kind: 'unsupported' }],
    ['deflate, gzip', { kind: 'unsupported' }],
    ['gzip;q=1', { kind: 'unsupported' }],
  ])('%j → %o', (header, expected) => {
    expect(requestCoding(header)).toEqual(expected)
  })
})

import { describe, expect, it } from 'vitest'
import { normalizeEmail } from './users'

describe('normalizeEmail', () => {
  it('gives every spelling of an address one string, which normalizing again leaves alone', () => {
    // `J` + combining caron lower-cases to `j` + caron, which NFC composes to U+01F0; `ẗ` and polytonic Greek alike.
    const spellings = [
      '\u01F0x.T@Example.test',
      'J\u030Cx.T@example.test',
      'j\u030Cx.t@EXAMPLE.TEST',
      ' \u01F0X.t@example.test ',
    ]
    const normalized = spellings.map(normalizeEmail)
    expect(new Set(normalized)).toEqual(new Set(['\u01F0x.t@example.test']))
    for (const [raw, expected] of [
      ['T\u0308@example.test', '\u1E97@example.test'],
      ['\u1F08\u0345@example.test', normalizeEmail('\u1F00\u0345@example.test')],
    ] as const) {
      const once = normalizeEmail(raw)
      expect(once).toBe(expected)
      expect(normalizeEmail(once as string)).toBe(once)
    }
  })

  it('keeps characters outside the BMP and refuses a lone surrogate', () => {
    expect(normalizeEmail('\u{1F600}@example.test')).toBe('\u{1F600}@example.test')
    // Compared to null here, so that a failure's message carries no lone surrogate (the test runner's channel
    // refuses text that is not UTF-8).
    expect(normalizeEmail('a\uD800b@example.test') === null).toBe(true)
    expect(normalizeEmail('a\uDC00b@example.test') === null).toBe(true)
  })
})

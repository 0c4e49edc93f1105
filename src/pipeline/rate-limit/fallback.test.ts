import fc from 'fast-check'
import { afterEach, describe, expect, it, vi } from 'vitest'
import { createFallbackLimiter } from './fallback'

const W = 1_000

afterEach(() => {
  vi.restoreAllMocks()
})

describe('createFallbackLimiter', () => {
  it.each([[{ maxKeys: 0 }], [{ maxKeys: 1.5 }], [{ maxKeys: Number.NaN }]])(
    'rejects %o at factory time',
    (options) => {
      expect(() => createFallbackLimiter(options)).toThrow(TypeError)
    },
  )

  it.each([
    [0, W],
    [2.5, W],
    [3, 0],
    [3, Number.NaN],
  ])('rejects tokens=%s windowMs=%s', (tokens, windowMs) => {
    expect(() => createFallbackLimiter().limit('k', tokens, windowMs, 0)).toThrow(TypeError)
  })

  it('admits `tokens` in a window with falling remaining, then denies; reset is when the oldest leaves', () => {
    const limiter = createFallbackLimiter()
    expect(limiter.limit('k', 3, W, 100)).toEqual({ success: true, remaining: 2, resetMs: 100 + W })
    expect(limiter.limit('k', 3, W, 200)).toEqual({ success: true, remaining: 1, resetMs: 100 + W })
    expect(limiter.limit('k', 3, W, 300)).toEqual({ success: true, remaining: 0, resetMs: 100 + W })
    expect(limiter.limit('k', 3, W, 400)).toEqual({ success: false, remaining: 0, resetMs: 100 + W })
    expect(limiter.limit('k', 3, W, 100 + W - 1)).toMatchObject({ success: false })
  })

  it('slides: each admission frees its slot exactly windowMs later, denials consume nothing', () => {
    const limiter = createFallbackLimiter()
    limiter.limit('k', 2, W, 0)
    limiter.limit('k', 2, W, 500)
    for (let t = 600; t < W; t += 50) expect(limiter.limit('k', 2, W, t).success).toBe(false)
    expect(limiter.limit('k', 2, W, W)).toEqual({ success: true, remaining: 0, resetMs: 500 + W })
    expect(limiter.limit('k', 2, W, W + 1).success).toBe(false)
    expect(limiter.limit('k', 2, W, 500 + W).success).toBe(true)
  })

  it('keeps keys apart', () => {
    const limiter = createFallbackLimiter()
    expect(limiter.limit('a', 1, W, 0).success).toBe(true)
    expect(limiter.limit('a', 1, W, 1).success).toBe(false)
    expect(limiter.limit('b', 1, W, 2).success).toBe(true)
    expect(limiter.size()).toBe(2)
  })

  it('never holds more than maxKeys keys, evicting the least recently used', () => {
    const limiter = createFallbackLimiter({ maxKeys: 3 })
    limiter.limit('a', 2, W, 0)
    limiter.limit('b', 2, W, 1)
    limiter.limit('c', 2, W, 2)
    limiter.limit('a', 2, W, 3) // a is now the most recent; b the least
    limiter.limit('d', 2, W, 4)
    expect(limiter.size()).toBe(3)
    // a kept its history (second admission: 0 left); b was forgotten (a fresh first admission).
    expect(limiter.limit('a', 2, W, 5)).toMatchObject({ success: false })
    expect(limiter.limit('b', 2, W, 6)).toMatchObject({ success: true, remaining: 1 })
    for (let i = 0; i < 10_000; i++) limiter.limit(`flood-${i}`, 2, W, 10 + i)
    expect(limiter.size()).toBe(3)
  })

  it('defaults to 10 000 keys', () => {
    const limiter = createFallbackLimiter()
    for (let i = 0; i < 10_050; i++) limiter.limit(`k-${i}`, 1, W, i)
    expect(limiter.size()).toBe(10_000)
  })

  it('uses only the clock it is given', () => {
    vi.spyOn(Date, 'now').mockImplementation(() => {
      throw new Error('Date.now must not be read')
    })
    vi.spyOn(performance, 'now').mockImplementation(() => {
      throw new Error('performance.now must not be read')
    })
    const limiter = createFallbackLimiter()
    expect(limiter.limit('k', 1, W, 5_000_000)).toEqual({ success: true, remaining: 0, resetMs: 5_000_000 + W })
    expect(limiter.limit('k', 1, W, 5_000_000 + W)).toMatchObject({ success: true })
  })

  it('stays conservative when the clock steps back', () => {
    const limiter = createFallbackLimiter()
    expect(limiter.limit('k', 2, W, 5_000).success).toBe(true)
    expect(limiter.limit('k', 2, W, 4_000)).toEqual({ success: true, remaining: 0, resetMs: 5_000 + W })
    expect(limiter.limit('k', 2, W, 4_500).success).toBe(false)
    // Both entries count as recorded at 5 000: nothing frees before 6 000.
    expect(limiter.limit('k', 2, W, 5_999).success).toBe(false)
    expect(limiter.limit('k', 2, W, 6_000)).toMatchObject({ success: true, remaining: 1 })
  })

  it('when `tokens` shrinks, waits until enough entries leave', () => {
    const limiter = createFallbackLimiter()
    for (let t = 0; t < 4; t++) limiter.limit('k', 4, W, t * 100)
    expect(limiter.limit('k', 2, W, 400)).toEqual({ success: false, remaining: 0, resetMs: 200 + W })
    expect(limiter.limit('k', 2, W, 100 + W).success).toBe(false)
    expect(limiter.limit('k', 2, W, 200 + W)).toMatchObject({ success: true, remaining: 0 })
  })

  it('over random arrivals: at most `tokens` per window, and a denial only when `tokens` are in the window', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5 }),
        fc.array(fc.record({ dt: fc.integer({ min: 0, max: 400 }), key: fc.constantFrom('a', 'b', 'c') }), {
          maxLength: 120,
        }),
        (tokens, arrivals) => {
          const limiter = createFallbackLimiter({ maxKeys: 3 })
          const admitted: Record<string, number[]> = { a: [], b: [], c: [] }
          let now = 0
          for (const { dt, key } of arrivals) {
            now += dt
            const log = admitted[key] as number[]
            const inWindow = log.filter((t) => t > now - W).length
            const decision = limiter.limit(key, tokens, W, now)
            expect(decision.success).toBe(inWindow < tokens)
            if (decision.success) log.push(now)
            expect(decision.remaining).toBe(Math.max(0, tokens - inWindow - (decision.success ? 1 : 0)))
            expect(limiter.size()).toBeLessThanOrEqual(3)
          }
        },
      ),
      { numRuns: 300 },
    )
  })
})

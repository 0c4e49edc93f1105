import { describe, expect, it } from 'vitest'
import { createExpiringMap } from './expiring-map'

describe('expiring map', () => {
  it('hides an entry from the millisecond it expires', () => {
    const map = createExpiringMap<number>()
    map.set('k', 1, 1_000, 0)
    expect(map.get('k', 999)).toBe(1)
    expect(map.expiresAt('k', 999)).toBe(1_000)
    expect(map.get('k', 1_000)).toBeUndefined()
    expect(map.expiresAt('k', 1_000)).toBeUndefined()
  })

  it('drops expired entries as it grows: memory follows the live entries, not every write ever made', () => {
    const map = createExpiringMap<true>()
    let largest = 0
    // 100,000 writes, one per ms, each living 1 s: never more than 1,000 live at once.
    for (let now = 0; now < 100_000; now++) {
      map.set(`k${now}`, true, now + 1_000, now)
      largest = Math.max(largest, map.size())
    }
    expect(largest).toBeLessThanOrEqual(2 * 1_000 + 64)
  })

  it('keeps every live entry through a sweep', () => {
    const map = createExpiringMap<number>()
    for (let i = 0; i < 500; i++) map.set(`live${i}`, i, 10_000, 0)
    for (let i = 0; i < 500; i++) map.set(`dead${i}`, i, 1, 0)
    let swept = false
    for (let i = 0; i < 2_000 && !swept; i++) {
      const before = map.size()
      map.set(`more${i}`, -1, 10_000, 5)
      swept = map.size() < before
    }
    expect(swept).toBe(true)
    for (let i = 0; i < 500; i++) expect(map.get(`live${i}`, 5)).toBe(i)
  })
})

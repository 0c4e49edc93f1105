import { describe, expect, it } from 'vitest'
import { createBlockedIdentities } from './blocked-identities'

describe('blocked identities', () => {
  it('refuses a blocked key until its end, then forgets it', () => {
    const blocked = createBlockedIdentities({ maxEntries: 10 })
    blocked.block('auth|ip4:10.0.0.1', 2_000)
    expect(blocked.blockedUntil('auth|ip4:10.0.0.1', 1_999)).toBe(2_000)
    expect(blocked.blocked('auth|ip4:10.0.0.1', 1_000)).toEqual({ untilMs: 2_000, degraded: false })
    expect(blocked.blockedUntil('auth|ip4:10.0.0.1', 2_000)).toBeUndefined()
    expect(blocked.size).toBe(0)
  })

  it('never admits: an unknown key is a miss (ask), not an answer', () => {
    const blocked = createBlockedIdentities({ maxEntries: 10 })
    blocked.block('global|ip4:10.0.0.1', 5_000, true)
    expect(blocked.blocked('global|ip4:10.0.0.2', 0)).toBeUndefined()
    expect(blocked.blocked('user|ip4:10.0.0.1', 0)).toBeUndefined()
    expect(blocked.blocked('global|ip4:10.0.0.1', 0)).toEqual({ untilMs: 5_000, degraded: true })
  })

  it('a new block replaces the old one', () => {
    const blocked = createBlockedIdentities({ maxEntries: 10 })
    blocked.block('k', 5_000)
    blocked.block('k', 3_000)
    expect(blocked.blockedUntil('k', 0)).toBe(3_000)
    blocked.block('k', Number.NaN)
    expect(blocked.blockedUntil('k', 0)).toBeUndefined()
  })

  it('stays within maxEntries under a flood of distinct identities, evicting the oldest block first', () => {
    const blocked = createBlockedIdentities({ maxEntries: 16 })
    blocked.block('global|ip4:203.0.113.7', 60_000)
    for (let i = 0; i < 10_000; i++) {
      blocked.block(`global|ip6:2001:0db8:${(i >> 16).toString(16)}:${(i & 0xffff).toString(16)}::/64`, 60_000)
      expect(blocked.size).toBeLessThanOrEqual(16)
    }
    expect(blocked.size).toBe(16)
    expect(blocked.blocked('global|ip4:203.0.113.7', 0)).toBeUndefined()
    expect(blocked.blockedUntil('global|ip6:2001:0db8:0:270f::/64', 0)).toBe(60_000)
  })

  it('re-blocking a key makes it the newest, so it outlives older blocks', () => {
    const blocked = createBlockedIdentities({ maxEntries: 2 })
    blocked.block('a', 10_000)
    blocked.block('b', 10_000)
    blocked.block('a', 10_000)
    blocked.block('c', 10_000)
    expect(blocked.blockedUntil('a', 0)).toBe(10_000)
    expect(blocked.blockedUntil('b', 0)).toBeUndefined()
  })

  it('refuses a bound that is not a positive integer', () => {
    expect(() => createBlockedIdentities({ maxEntries: 0 })).toThrow(TypeError)
    expect(() => createBlockedIdentities({ maxEntries: 1.5 })).toThrow(TypeError)
  })
})

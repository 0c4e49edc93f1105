import { describe, expect, it } from 'vitest'
import { boundedMemo } from './bounded-memo'

describe('boundedMemo', () => {
  it('computes an input once while remembered, and forgets the oldest beyond its bound', async () => {
    const calls: string[] = []
    const memo = boundedMemo(2, async (input) => {
      calls.push(input)
      return input.toUpperCase()
    })
    expect(await memo('a')).toBe('A')
    expect(await memo('a')).toBe('A')
    await memo('b')
    await memo('c') // forgets a
    await memo('b')
    await memo('a')
    expect(calls).toEqual(['a', 'b', 'c', 'a'])
  })

  it('does not remember a failure', async () => {
    let attempts = 0
    const memo = boundedMemo(4, async () => {
      attempts++
      if (attempts === 1) throw new Error('first fails')
      return 'ok'
    })
    await expect(memo('x')).rejects.toThrow('first fails')
    expect(await memo('x')).toBe('ok')
  })
})

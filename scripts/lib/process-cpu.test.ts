import { describe, expect, it } from 'vitest'
import { childCpuReader, processCpuMs } from './process-cpu.ts'

describe('processCpuMs', () => {
  it('adds utime and stime, counting fields from the end of a command name that holds spaces and parentheses', () => {
    const stat = '4242 (work (er) d) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 9 0 1 2 3'
    expect(processCpuMs(stat)).toBe(3000)
  })
})

describe('childCpuReader', () => {
  it('is undefined when no child process has that name', () => {
    expect(childCpuReader('no-such-process-name')).toBeUndefined()
  })
})

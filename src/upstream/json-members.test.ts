import { describe, expect, it } from 'vitest'
import { RefusedMemberError, watchTopLevelMembers } from './json-members'

const isMethod = (name: string) => name.toLowerCase() === '_method'

/** Sends `text` in chunks of `size` bytes through the watch; the bytes it let through, or the error. */
async function watch(text: string, size = 3): Promise<{ passed: string; error?: unknown; refused: boolean }> {
  const bytes = new TextEncoder().encode(text)
  let at = 0
  const source = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (at >= bytes.length) return controller.close()
      controller.enqueue(bytes.slice(at, at + size))
      at += size
    },
  })
  const watched = watchTopLevelMembers(source, isMethod)
  const reader = watched.stream.getReader()
  const out: number[] = []
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) break
      out.push(...value)
    }
  } catch (error) {
    return {
      passed: new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(new Uint8Array(out)),
      error,
      refused: watched.refused(),
    }
  }
  return {
    passed: new TextDecoder('utf-8', { fatal: false, ignoreBOM: true }).decode(new Uint8Array(out)),
    refused: watched.refused(),
  }
}

describe('watchTopLevelMembers', () => {
  it.each([
    ['plain', '{"_method":"DELETE"}'],
    ['upper case', '{"_METHOD":"DELETE"}'],
    ['escaped', '{"\\u005fmethod":"DELETE"}'],
    ['escaped upper-case hex', '{"\\u005F\\u004DETHOD":1}'],
    ['after other members', '{"a":"x\\"y","b":{"_x":[1,{"c":2}]},"_method":"DELETE"}'],
    ['after a backslash at a string end', '{"a":"\\\\","_method":1}'],
    ['with whitespace', ' \n{ "a" : 1 ,\t"_method" : "DELETE" }'],
    ['twice', '{"_method":"GET","_method":"DELETE"}'],
    ['after a byte order mark', '\ufeff{"_method":1}'],
  ])('refuses a top-level name, %s, and lets nothing of its chunk through', async (_, text) => {
    for (const size of [1, 3, 1024]) {
      const result = await watch(text, size)
      expect(result.refused).toBe(true)
      expect(result.error).toBeInstanceOf(RefusedMemberError)
      expect(text.startsWith(result.passed)).toBe(true)
      // The chunk that completes the name is withheld: in one chunk, nothing at all gets through.
      expect(result.passed.length).toBeLessThan(text.length)
      if (size === 1024) expect(result.passed).toBe('')
    }
  })

  it.each([
    ['nested', '{"a":{"_method":"DELETE"}}'],
    ['in an array', '[{"_method":"DELETE"}]'],
    ['a value', '{"a":"_method","b":["_method"]}'],
    ['an escaped quote in a value', '{"a":"\\"_method\\""}'],
    ['a top-level string', '"_method"'],
    ['a longer name', '{"_methods":1,"x_method":2,"_method_":3}'],
    ['empty', ''],
    ['a name over 32 characters', `{"_method${'x'.repeat(40)}":1}`],
    ['a body that does not start an object', 'x{"_method":1}'],
    ['a number, then an object', '1 {"_method":1}'],
    ['a long value string', `{"a":"${'q'.repeat(100_000)}\\","b":"\\"_method"}`],
  ])('passes %s through whole', async (_, text) => {
    const result = await watch(text)
    expect(result).toEqual({ passed: text, refused: false })
  })
})

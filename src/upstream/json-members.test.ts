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

describe('watchTopLevelMembers: against JSON.parse', () => {
  /** A seeded generator (mulberry32), so a failure names a document that can be made again. */
  function generator(seed: number) {
    let state = seed
    return (n: number) => {
      state = (state + 0x6d2b79f5) | 0
      let t = Math.imul(state ^ (state >>> 15), 1 | state)
      t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
      return Math.floor((((t ^ (t >>> 14)) >>> 0) / 4294967296) * n)
    }
  }
  const WORDS = [
    '_method',
    '_METHOD',
    '_Method',
    '_methods',
    'x_method',
    'a',
    '"',
    '\\',
    '\\"',
    'é',
    '',
    '{',
    '[1,',
    '😀',
    '\n',
    'n'.repeat(17),
    `${'z'.repeat(26)}_method`,
  ]

  function documentFrom(rand: (n: number) => number): string {
    const ws = () => ['', ' ', '\n\t', '  '][rand(4)] as string
    const literal = (text: string) =>
      `"${[...text].map((ch) => (rand(5) === 0 ? escaped(ch) : JSON.stringify(ch).slice(1, -1))).join('')}"`
    const escaped = (ch: string) => {
      const hex = ch.charCodeAt(0).toString(16).padStart(4, '0')
      return `\\u${rand(2) ? hex : hex.toUpperCase()}`
    }
    const word = () => WORDS[rand(WORDS.length)] as string
    const value = (depth: number): string => {
      const pick = depth > 3 ? rand(4) : rand(6)
      if (pick === 0) return String(rand(1000) - 500)
      if (pick === 1) return ['true', 'false', 'null', '1.5e3'][rand(4)] as string
      if (pick <= 3) return literal(word() + 'x'.repeat(rand(3) === 0 ? rand(40) : 0))
      if (pick === 4) return `[${Array.from({ length: rand(4) }, () => ws() + value(depth + 1) + ws()).join(',')}]`
      return object(depth + 1)
    }
    const object = (depth: number): string =>
      `{${Array.from({ length: rand(5) }, () => `${ws()}${literal(word())}${ws()}:${ws()}${value(depth)}${ws()}`).join(',')}}`
    return ws() + (rand(8) === 0 ? value(0) : object(0)) + ws()
  }

  it('refuses exactly the documents whose outermost object has a _method member, at every chunk size', async () => {
    const rand = generator(20261203)
    let refusedCount = 0
    for (let n = 0; n < 400; n++) {
      const text = documentFrom(rand)
      const parsed: unknown = JSON.parse(text)
      const expected =
        typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed) && Object.keys(parsed).some(isMethod)
      if (expected) refusedCount++
      for (const size of [1, 2, 5, 16, 17, text.length + 1]) {
        const result = await watch(text, size)
        expect({ text, size, refused: result.refused }).toEqual({ text, size, refused: expected })
        if (!expected) expect(result.passed).toBe(text)
      }
    }
    // The generator makes both kinds.
    expect(refusedCount).toBeGreaterThan(50)
    expect(refusedCount).toBeLessThan(350)
  })
})

describe('watchTopLevelMembers: work per byte', () => {
  /** Milliseconds to watch `text` sent in one chunk. */
  async function elapsedMs(text: string): Promise<number> {
    const start = performance.now()
    const result = await watch(text, text.length)
    expect(result.refused).toBe(false)
    return performance.now() - start
  }

  // A search that restarts at every string would scan the rest of the chunk once per string: quadratic in a
  // chunk's length, seconds of CPU for one megabyte of short strings, where the Worker's limit is 200 ms.
  it.each([
    ['short strings in nested objects', (i: number) => `{"b":${i},"c":"x${i % 7}"}`],
    ['short strings in an array', (i: number) => `"s${i % 10}"`],
    ['short names and numbers', (i: number) => `{"k${i % 100}":${i},"t":true}`],
    ['17-character names', (i: number) => `{"${'n'.repeat(12)}${String(i % 100_000).padStart(5, '0')}":1}`],
    ['escapes in names and values', (i: number) => `{"\\u0041\\ud83d\\ude00${i % 10}":"\\n\\u0042"}`],
  ])(
    'reads a megabyte of %s in one chunk in well under a second',
    async (_, item) => {
      const items: string[] = []
      for (let i = 0, size = 0; size < 1 << 20; i++) size += items[items.push(item(i)) - 1]?.length ?? 0
      const text = `{"a":[${items.join(',')}],"z":1}`
      expect(await elapsedMs(text)).toBeLessThan(1_000)
    },
    60_000,
  )
})

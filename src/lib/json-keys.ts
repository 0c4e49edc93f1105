/**
 * Finds what JSON.parse silently accepts but a gateway must refuse (R-ERR-4 in docs/requirements.md):
 * duplicate keys (JSON.parse keeps the last, so two parsers can disagree on what was sent) and the keys
 * `__proto__`, `constructor` and `prototype` (prototype-pollution vectors). Pure; expects text that
 * JSON.parse accepted.
 */

export const FORBIDDEN_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype'])
/** Pointer segments are user input: they are cut to this length before they reach a response or a log. */
const MAX_SEGMENT = 64

export interface KeyProblem {
  problem: 'duplicate_key' | 'forbidden_key'
  /** RFC 6901 JSON pointer to the offending member. */
  pointer: string
}

/** Escapes one RFC 6901 reference token, truncated. */
export function pointerSegment(segment: string | number): string {
  const text = String(segment)
  const cut = text.length > MAX_SEGMENT ? `${text.slice(0, MAX_SEGMENT)}…` : text
  return cut.replaceAll('~', '~0').replaceAll('/', '~1')
}

interface Frame {
  /** Keys seen so far (objects), or null (arrays). */
  keys: Set<string> | null
  pointer: string
  expectKey: boolean
  lastKey: string
  index: number
}

export function findKeyProblem(text: string): KeyProblem | undefined {
  const stack: Frame[] = []
  const childPointer = () => {
    const parent = stack.at(-1)
    if (parent === undefined) return ''
    return `${parent.pointer}/${pointerSegment(parent.keys ? parent.lastKey : parent.index)}`
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (ch === '"') {
      let end = i + 1
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1
      const top = stack.at(-1)
      if (top?.keys && top.expectKey) {
        // Decode the key as JSON does, so "\u005f_proto__" is seen as "__proto__".
        const key = JSON.parse(text.slice(i, end + 1)) as string
        const pointer = `${top.pointer}/${pointerSegment(key)}`
        if (FORBIDDEN_KEYS.has(key)) return { problem: 'forbidden_key', pointer }
        if (top.keys.has(key)) return { problem: 'duplicate_key', pointer }
        top.keys.add(key)
        top.lastKey = key
        top.expectKey = false
      }
      i = end
    } else if (ch === '{' || ch === '[') {
      stack.push({
        keys: ch === '{' ? new Set() : null,
        pointer: childPointer(),
        expectKey: ch === '{',
        lastKey: '',
        index: 0,
      })
    } else if (ch === '}' || ch === ']') {
      stack.pop()
    } else if (ch === ',') {
      const top = stack.at(-1)
      if (top?.keys) top.expectKey = true
      else if (top) top.index++
    }
  }
  return undefined
}

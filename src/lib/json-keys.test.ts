import { describe, expect, it } from 'vitest'
import { findKeyProblem, pointerSegment } from './json-keys'

describe('findKeyProblem', () => {
  it.each([
    ['{"a":1,"b":{"c":[1,{"d":2}]}}'],
    ['[{"a":1},{"a":2}]'],
    ['{"a":"}\\"{,","b":"[,]"}'],
    ['"__proto__"'],
    ['{"x":["__proto__","constructor"]}'],
    ['{}'],
    ['[]'],
    ['42'],
  ])('accepts %s', (text) => {
    expect(findKeyProblem(text)).toBeUndefined()
  })

  it.each([
    ['{"a":1,"a":2}', 'duplicate_key', '/a'],
    ['{"a":{"b":1,"c":2,"b":3}}', 'duplicate_key', '/a/b'],
    ['[{"ok":1},{"x":1,"x":1}]', 'duplicate_key', '/1/x'],
    ['{"a":1,"\\u0061":2}', 'duplicate_key', '/a'],
    ['{"__proto__":{"isAdmin":true}}', 'forbidden_key', '/__proto__'],
    ['{"a":{"constructor":{"prototype":{}}}}', 'forbidden_key', '/a/constructor'],
    ['{"profile":[{"prototype":1}]}', 'forbidden_key', '/profile/0/prototype'],
    ['{"\\u005f_proto__":1}', 'forbidden_key', '/__proto__'],
    ['{"a/b~c":1,"a/b~c":2}', 'duplicate_key', '/a~1b~0c'],
  ])('finds the problem in %s', (text, problem, pointer) => {
    expect(findKeyProblem(text)).toEqual({ problem, pointer })
  })

  it('truncates long keys in pointers', () => {
    expect(pointerSegment('k'.repeat(100))).toBe(`${'k'.repeat(64)}…`)
  })
})

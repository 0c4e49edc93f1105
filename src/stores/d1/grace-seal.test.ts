import { describe, expect, it } from 'vitest'
import { openChild, sealChild } from './grace-seal'

const PARENT = 'pArEnT_token-0123456789abcdefghijklmnopqrstu'
const CHILD = 'cHiLd_token-0123456789abcdefghijklmnopqrstuvw'
const BINDING = 'parent-id:child-id'

/** The encoding rows sealed before the switch to jose were written in: unpadded base64url via btoa. */
function legacyBase64url(bytes: Uint8Array): string {
  return btoa(String.fromCharCode(...bytes))
    .replaceAll('+', '-')
    .replaceAll('/', '_')
    .replace(/=+$/, '')
}

describe('grace seal', () => {
  it('opens what it sealed with the same parent and binding', async () => {
    const sealed = await sealChild(PARENT, BINDING, CHILD)
    expect(sealed).toMatch(/^[A-Za-z0-9_-]+$/)
    expect(sealed).not.toContain(CHILD)
    expect(await openChild(PARENT, BINDING, sealed)).toBe(CHILD)
  })

  it('opens nothing for another parent, another binding, or altered bytes', async () => {
    const sealed = await sealChild(PARENT, BINDING, CHILD)
    const flipped = `${sealed.slice(0, -2)}${sealed.at(-2) === 'A' ? 'B' : 'A'}${sealed.at(-1)}`
    expect(await openChild(`${PARENT.slice(0, -1)}v`, BINDING, sealed)).toBeNull()
    expect(await openChild(PARENT, 'parent-id:other-child', sealed)).toBeNull()
    expect(await openChild(PARENT, BINDING, flipped)).toBeNull()
    expect(await openChild(PARENT, BINDING, 'not base64url!')).toBeNull()
    expect(await openChild(PARENT, BINDING, '')).toBeNull()
  })

  it('writes and reads the same text form as the hand-written encoding it replaced', async () => {
    const sealed = await sealChild(PARENT, BINDING, CHILD)
    const bytes = Uint8Array.from(atob(sealed.replaceAll('-', '+').replaceAll('_', '/')), (c) => c.charCodeAt(0))
    expect(legacyBase64url(bytes)).toBe(sealed)
  })
})

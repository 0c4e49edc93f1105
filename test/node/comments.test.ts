/**
 * Comments stand on their own: every requirement id the code cites is explained in docs/requirements.md, and no
 * comment points at an issue tracker or a document the repository does not contain.
 */
import { readdirSync, readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'

const root = path.resolve(import.meta.dirname, '../..')

function sources(dir: string): string[] {
  return readdirSync(path.join(root, dir), { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.ts'))
    .map((file) => path.join(dir, file))
}

const files = ['src', 'scripts', 'test'].flatMap(sources)
const ID = /\b[RS]-[A-Z]+-\d+\b/g

describe('comments', () => {
  it('cite only requirement ids that docs/requirements.md lists', () => {
    const catalogue = new Set(readFileSync(path.join(root, 'docs/requirements.md'), 'utf8').match(ID))
    const unknown = files.flatMap((file) =>
      (readFileSync(path.join(root, file), 'utf8').match(ID) ?? [])
        .filter((id) => !catalogue.has(id))
        .map((id) => `${file}: ${id}`),
    )
    expect(unknown).toEqual([])
  })

  it('point at no issue and no document outside the repository', () => {
    const outside = /\bissues? #?\d+\b|\bSTYLE\b|\bSPEC\.md\b|security-requirements\.md|upstash-rest-protocol\.md/
    const found = files
      .filter((file) => file !== path.join('test', 'node', 'comments.test.ts'))
      .filter((file) => outside.test(readFileSync(path.join(root, file), 'utf8')))
    expect(found).toEqual([])
  })
})

import { execFile } from 'node:child_process'
import path from 'node:path'
import { promisify } from 'node:util'
import { calculateJwkThumbprint } from 'jose'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const KEYS = path.join(import.meta.dirname, 'keys.ts')

describe('npm run keys -- generate --pipe', { timeout: 30_000 }, () => {
  it('prints the private JWK alone on stdout, for wrangler secret put; the kid and public JWK on stderr', async () => {
    const { stdout, stderr } = await run(process.execPath, ['--experimental-strip-types', KEYS, 'generate', '--pipe'])
    const lines = stdout.trim().split('\n')
    expect(lines).toHaveLength(1)
    const privateJwk = JSON.parse(lines[0] as string) as { kty: string; crv: string; x: string; d: string }
    expect(privateJwk).toEqual({ kty: 'OKP', crv: 'Ed25519', x: expect.any(String), d: expect.any(String) })
    const kid = await calculateJwkThumbprint({ kty: 'OKP', crv: 'Ed25519', x: privateJwk.x })
    expect(stderr).toContain(`kid (RFC 7638 thumbprint): ${kid}`)
    expect(stderr).toContain(JSON.stringify({ kty: 'OKP', crv: 'Ed25519', x: privateJwk.x }))
    expect(stderr).not.toContain(privateJwk.d)
  })
})

/**
 * Revocation consistency across two real isolates (S-BL-5 in docs/requirements.md): the deployable bundle runs as two
 * workers, A and B, in one Miniflare, sharing D1 and one Upstash (the local REST server in front of a real
 * redis-server). A logout through either is refused through the other on the very next request, and a token
 * nobody revoked keeps working on both.
 */
import fc from 'fast-check'
import { type CryptoKey, calculateJwkThumbprint, importJWK, SignJWT } from 'jose'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateEd25519Jwks } from '../../scripts/lib/keys.ts'
import { type Backends, bundleWorker, cleanUp, migrate, startBackends } from './support/worker.ts'

const WORKERS = ['gw-a', 'gw-b'] as const
type WorkerName = (typeof WORKERS)[number]

const keys = generateEd25519Jwks()
let backends: Backends | undefined
let mf: Miniflare | undefined
let signingKey: CryptoKey
let kid: string
/** Everything either worker logged: checked for tokens at the end. */
const workerLogs: string[] = []

beforeAll(async () => {
  backends = await startBackends()
  const { scriptPath } = backends
  const bindings = {
    ...backends.baseBindings(keys.privateJwk),
    // This file is about revocation: its many requests without CF-Connecting-IP must not hit the rate limits.
    RATE_LIMIT_GLOBAL: 'off',
    RATE_LIMIT_USER: 'off',
  }
  mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      handleStructuredLogs: ({ message }) => void workerLogs.push(message),
      workers: WORKERS.map((name) =>
        bundleWorker(scriptPath, {
          name,
          routes: [`${name}.test/*`],
          d1Databases: { DB: 'edgeward-consistency' },
          bindings,
        }),
      ),
    }),
  )
  await mf.ready
  await migrate(mf, 'gw-a')
  signingKey = (await importJWK({ ...keys.privateJwk, alg: 'EdDSA' }, 'EdDSA')) as CryptoKey
  kid = await calculateJwkThumbprint(keys.publicJwk)
}, 30_000)

afterAll(async () => {
  await cleanUp([() => mf?.dispose(), () => backends?.stop()])
})

/** An access token shaped exactly as src/tokens/mint.ts mints them. */
async function mint(sub: string, sid: string, scopes: string[] = []): Promise<string> {
  const iat = Math.floor(Date.now() / 1000)
  return new SignJWT({ sid, scope: scopes.join(' ') })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
    .setIssuer('edgeward')
    .setAudience('edgeward')
    .setSubject(sub)
    .setJti(Buffer.from(crypto.getRandomValues(new Uint8Array(18))).toString('base64url'))
    .setIssuedAt(iat)
    .setExpirationTime(iat + 900)
    .sign(signingKey)
}

/** One request to one worker: each is routed by host (`gw-a.test`, `gw-b.test`). */
async function call(worker: WorkerName, method: 'GET' | 'POST', route: string, token: string): Promise<number> {
  const res = await (mf as Miniflare).dispatchFetch(`https://${worker}.test${route}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
  })
  await res.arrayBuffer()
  return res.status
}

const me = (worker: WorkerName, token: string) => call(worker, 'GET', '/auth/me', token)
const logout = (worker: WorkerName, token: string) => call(worker, 'POST', '/auth/logout', token)

describe('property 2: revocation is visible across isolates sharing Upstash', () => {
  it('shares D1 between the two workers (both see the migrated schema)', async () => {
    for (const name of WORKERS) {
      const db = await (mf as Miniflare).getD1Database('DB', name)
      expect(await db.prepare("SELECT value FROM gateway_meta WHERE key = 'schema'").first('value')).toBe('1')
    }
  })

  it('a logout through one worker is a 401 through the other on the next request; other tokens still pass', async () => {
    const tokens: string[] = []
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom<[WorkerName, WorkerName]>(['gw-a', 'gw-b'], ['gw-b', 'gw-a']),
        fc.string({ unit: 'grapheme', minLength: 1, maxLength: 16 }),
        fc.uniqueArray(fc.stringMatching(/^[a-z:]{1,10}$/), { maxLength: 3 }),
        async ([via, other], name, scopes) => {
          const run = crypto.randomUUID()
          const revoked = await mint(`${run}|${name}`, `${run}|sid`, scopes)
          const unrelated = await mint(`${run}|other|${name}`, `${run}|other-sid`, scopes)
          tokens.push(revoked, unrelated)
          // Both isolates accept it first, so a cached "valid" answer in either would show below.
          expect([await me(via, revoked), await me(other, revoked)]).toEqual([200, 200])
          expect(await logout(via, revoked)).toBe(204)
          expect(await me(other, revoked)).toBe(401)
          expect(await logout(other, revoked)).toBe(401)
          expect(await me(via, revoked)).toBe(401)
          expect([await me(via, unrelated), await me(other, unrelated)]).toEqual([200, 200])
        },
      ),
      { numRuns: 15 },
    )
    // Both workers really served requests and logged the refusals, and neither logged a token.
    const all = workerLogs.join('\n')
    expect(all).toContain('"event":"authn_token_revoked"')
    for (const token of tokens) expect(all).not.toContain(token)
  })
})

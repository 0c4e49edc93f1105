/**
 * The OpenAPI document as clients get it: fetched from the deployable bundle running in Miniflare, then checked
 * with a standard OpenAPI 3.1 validator (@seriousme/openapi-schema-validator: the OpenAPI Initiative's JSON Schema
 * for 3.1) and every `$ref` resolved. No backend is needed: the route touches none, and the rate limits are off.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Validator } from '@seriousme/openapi-schema-validator'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateEd25519Jwks } from '../../scripts/lib/keys.ts'
import { buildWorker, bundleWorker, cleanUp, ROOT } from './support/worker.ts'

let outDir: string | undefined
let mf: Miniflare | undefined
let response: Response
let document: Record<string, unknown>

beforeAll(async () => {
  outDir = await mkdtemp(path.join(tmpdir(), 'edgeward-openapi-'))
  const scriptPath = await buildWorker(outDir)
  mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      ...bundleWorker(scriptPath, {
        name: 'edgeward',
        d1Databases: { DB: 'edgeward-openapi' },
        bindings: {
          ENVIRONMENT: 'development',
          JWT_PRIVATE_KEY: JSON.stringify(generateEd25519Jwks().privateJwk),
          // Never called: nothing on this route reads Redis.
          UPSTASH_REDIS_REST_URL: 'http://127.0.0.1:9',
          UPSTASH_REDIS_REST_TOKEN: 'unused-token-for-this-test',
          RATE_LIMIT_GLOBAL: 'off',
          RATE_LIMIT_AUTH: 'off',
          RATE_LIMIT_USER: 'off',
        },
      }),
    }),
  )
  response = await mf.dispatchFetch('https://gw.test/openapi.json')
  document = (await response.clone().json()) as Record<string, unknown>
}, 60_000)

afterAll(async () => {
  await cleanUp([() => mf?.dispose(), () => outDir && rm(outDir, { recursive: true, force: true })])
})

describe('GET /openapi.json from the built worker', () => {
  it('answers the committed document as JSON', async () => {
    expect(response.status).toBe(200)
    expect(response.headers.get('content-type')).toBe('application/json')
    const committed = JSON.parse(await readFile(path.join(ROOT, 'src/openapi/openapi.json'), 'utf8'))
    expect(document).toEqual(committed)
  })

  it('is a valid OpenAPI 3.1 document whose every $ref resolves', async () => {
    const validator = new Validator()
    const result = await validator.validate(structuredClone(document))
    expect(result.errors ?? []).toEqual([])
    expect(result.valid).toBe(true)
    expect(validator.version).toBe('3.1')
    expect(() => validator.resolveRefs()).not.toThrow()
    expect(JSON.stringify(validator.resolveRefs())).not.toContain('"$ref"')
  })

  it('is refused by the same validator once broken, so the check above can fail', async () => {
    const broken = structuredClone(document) as { components: { securitySchemes: { bearer: { type: string } } } }
    broken.components.securitySchemes.bearer.type = 'jwt'
    const result = await new Validator().validate(broken)
    expect(result.valid).toBe(false)
  })
})

/**
 * `GET /openapi.json`: the OpenAPI 3.1 description of the routes the gateway answers itself, generated from their
 * zod schemas and the problem catalogue (src/openapi/generate.ts) into openapi.json at development time, so the
 * worker carries the document and not the generator. Public, and the same for every request until the next deploy.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../env'
import document from './openapi.json'

/** How long clients and caches may keep the document: it changes only with a deploy. */
export const OPENAPI_MAX_AGE_SECONDS = 300

/** Serialized on the isolate's first request for it, then reused. */
let body: string | undefined

export function openapi(c: Context<AppEnv>): Response {
  body ??= JSON.stringify(document)
  return c.body(body, 200, {
    'content-type': 'application/json',
    'cache-control': `public, max-age=${OPENAPI_MAX_AGE_SECONDS}`,
  })
}

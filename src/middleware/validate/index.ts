/**
 * JSON body validation for the gateway's own endpoints (S-IN-2, R-ERR-3, R-ERR-4, R-ERR-5 in docs/requirements.md), in
 * this order: media type (415), UTF-8 and JSON syntax (400 `invalid_json`), duplicate and prototype-polluting keys (400
 * `validation_failed`), then a zod schema that must be strict at every level (400 `validation_failed`). Errors list
 * `{pointer, code}` per issue and never echo a submitted value; `input_validation_fail` is logged with the same
 * pointers and codes.
 */
import type { Context } from 'hono'
import { createMiddleware } from 'hono/factory'
import { validator } from 'hono/validator'
import type * as z from 'zod/mini'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { findKeyProblem, pointerSegment } from '../../lib/json-keys'
import { logRequest } from '../../request-log'

/**
 * `application/json`, alone or with `charset=utf-8` (any case, quoted or not, `utf8` too), and nothing else. RFC 8259
 * defines no parameter and requires UTF-8; an origin that honours another charset (body-parser decodes any `utf-*` it
 * is told) would read other fields out of the bytes the schema checked (in UTF-7, `+ACI-` is a quote). Any other
 * parameter, a second charset, or a list of media types is refused too.
 */
const JSON_CONTENT_TYPE = /^application\/json[ \t]*(?:;[ \t]*charset=(?:utf-?8|"utf-?8")[ \t]*)?$/i

/** Whether a Content-Type names a JSON body the gateway reads as its origin will. */
export function isJsonContentType(value: string | undefined): boolean {
  return value !== undefined && JSON_CONTENT_TYPE.test(value)
}

/** Decodes UTF-8 and throws on anything that is not: nothing is replaced behind the checks' backs. */
const STRICT_UTF8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: false })

export interface FieldError {
  pointer: string
  code: string
}

function fail(
  c: Parameters<typeof logRequest>[0],
  code: 'invalid_json' | 'validation_failed',
  errors: FieldError[],
): never {
  logRequest(c, { event: 'input_validation_fail', level: 'info', errors, outcome: 'denied' })
  throw new GatewayError(code, code === 'validation_failed' ? { extensions: { errors } } : {})
}

/** The body's bytes, read once and cached by hono; a body the client stopped sending half-way is a 400. */
async function bodyBytes(c: Context<AppEnv>): Promise<ArrayBuffer> {
  try {
    return await c.req.arrayBuffer()
  } catch (cause) {
    if (cause instanceof GatewayError) throw cause
    throw new GatewayError('bad_request', { internal: { reason: 'body_unreadable', cause } })
  }
}

/** Whether the request has no body bytes at all (read as bytes, so nothing is decoded before the checks). */
export async function bodyIsEmpty(c: Context<AppEnv>): Promise<boolean> {
  return (await bodyBytes(c)).byteLength === 0
}

/**
 * The body as text, read once (hono caches it for the validator and the proxy). Bytes that are not UTF-8 are a 400
 * `invalid_json` (`c.req.text()` alone would replace them with U+FFFD, and the origin would get the replaced text);
 * a body the client stopped sending half-way is a 400 `bad_request`, not a server error.
 */
async function bodyText(c: Context<AppEnv>): Promise<string> {
  const bytes = await bodyBytes(c)
  try {
    return STRICT_UTF8.decode(bytes)
  } catch {
    fail(c, 'invalid_json', [{ pointer: '', code: 'invalid_utf8' }])
  }
}

/** Checks media type, encoding, JSON syntax and keys; returns the parsed value. */
async function readJsonValue(c: Context<AppEnv>): Promise<unknown> {
  if (!isJsonContentType(c.req.header('content-type'))) throw new GatewayError('unsupported_media_type')
  const text = await bodyText(c)
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    fail(c, 'invalid_json', [{ pointer: '', code: 'invalid_json' }])
  }
  const problem = findKeyProblem(text)
  if (problem) fail(c, 'validation_failed', [{ pointer: problem.pointer, code: problem.problem }])
  return value
}

/** Reads the body as text once (hono caches it for the validator) and refuses what JSON.parse would let by. */
const jsonSyntax = createMiddleware<AppEnv>(async function jsonSyntax(c, next) {
  await readJsonValue(c)
  await next()
})

/**
 * The imperative form of {@link jsonBody}, for code that decides at run time whether a body needs checking (the
 * proxy, per route policy). Same checks, same errors.
 * @example const item = await parseJsonBody(c, CreateItemBody)
 */
export async function parseJsonBody<T extends z.ZodMiniType>(c: Context<AppEnv>, schema: T): Promise<z.output<T>> {
  const result = schema.safeParse(await readJsonValue(c))
  if (!result.success) fail(c, 'validation_failed', toFieldErrors(result.error.issues))
  return result.data as z.output<T>
}

/**
 * For a route whose body is optional (`POST /auth/logout`): no body at all (no Content-Type, no bytes) is
 * `undefined`; anything else goes through the same checks as {@link jsonBody}.
 * @example const body = await optionalJsonBody(c, LogoutBody)
 */
export async function optionalJsonBody<T extends z.ZodMiniType>(
  c: Context<AppEnv>,
  schema: T,
): Promise<z.output<T> | undefined> {
  if (c.req.header('content-type') === undefined && (await bodyIsEmpty(c))) return undefined
  return parseJsonBody(c, schema)
}

/** zod issues as `{pointer, code}`; an unknown key points at itself, so the client sees which one. */
export function toFieldErrors(issues: readonly z.core.$ZodIssue[]): FieldError[] {
  return issues.flatMap((issue): FieldError[] => {
    const base = issue.path.map((p) => `/${pointerSegment(String(p))}`).join('')
    if (issue.code === 'unrecognized_keys') {
      return issue.keys.map((key) => ({ pointer: `${base}/${pointerSegment(key)}`, code: issue.code }))
    }
    return [{ pointer: base, code: issue.code }]
  })
}

/**
 * Validates a JSON body against `schema` (use `z.strictObject` at every level) and makes it available as
 * `c.req.valid('json')`.
 * @example app.post('/auth/login', ...jsonBody(LoginBody), (c) => login(c, c.req.valid('json')))
 */
export function jsonBody<T extends z.ZodMiniType>(schema: T) {
  return [
    jsonSyntax,
    validator('json', (value, c) => {
      const result = schema.safeParse(value)
      if (!result.success) fail(c, 'validation_failed', toFieldErrors(result.error.issues))
      return result.data as z.output<T>
    }),
  ] as const
}

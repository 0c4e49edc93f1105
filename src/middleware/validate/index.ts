/**
 * JSON body validation for the gateway's own endpoints (S-IN-2, R-ERR-3, R-ERR-4, R-ERR-5 in docs/requirements.md), in
 * this order: media type (415), JSON syntax (400 `invalid_json`), duplicate and prototype-polluting keys (400
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

/** `application/json`, optionally with parameters such as `charset=utf-8`. */
export const JSON_MEDIA_TYPE = /^application\/json\s*(;|$)/i

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

/** Checks media type, JSON syntax and keys; returns the parsed value. The body text is cached by hono. */
async function readJsonValue(c: Context<AppEnv>): Promise<unknown> {
  const contentType = c.req.header('content-type') ?? ''
  if (!JSON_MEDIA_TYPE.test(contentType)) throw new GatewayError('unsupported_media_type')
  const text = await c.req.text()
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
  if (c.req.header('content-type') === undefined && (await c.req.text()).length === 0) return undefined
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

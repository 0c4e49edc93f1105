/**
 * What the admin routes accept: `?email=` on the user search (one parameter, nothing else in the query) and the
 * strict body of `PUT …/scopes`. Errors name the parameter or JSON pointer and an issue code, never a value.
 */
import type { Context } from 'hono'
import * as z from 'zod/mini'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { MAX_SCOPE_LENGTH, MAX_SCOPES, MAX_SCOPES_CHARS, SCOPE_TOKEN, scopeSetProblem } from '../../lib/scopes'
import { logRequest } from '../../request-log'
import { normalizeEmail } from '../../stores/d1/users'
import { LoginBody } from '../auth/schemas'

const scope = z.string().check(z.maxLength(MAX_SCOPE_LENGTH), z.regex(SCOPE_TOKEN))

/**
 * `PUT /auth/admin/users/{id}/scopes`: the whole new set (RFC 6749 §3.3 scope tokens), within the limits that keep
 * its tokens verifiable (`src/lib/scopes.ts`); `[]` takes every scope away.
 */
export const ScopesBody = z.strictObject({
  scopes: z
    .array(scope)
    .check(
      z.superRefine((scopes, ctx) => {
        // Measured as stored, duplicates dropped (the request body's own limit bounds the array), by the rule the
        // CLI and DEFAULT_USER_SCOPES share.
        if (scopeSetProblem([...new Set(scopes)]) !== undefined) {
          ctx.addIssue({ code: 'too_big', origin: 'array', maximum: MAX_SCOPES, inclusive: true, input: scopes })
        }
      }),
    )
    .register(z.globalRegistry, {
      description: `At most ${MAX_SCOPES} distinct scopes, ${MAX_SCOPES_CHARS} characters joined by spaces; duplicates are dropped.`,
    }),
})

interface QueryError {
  parameter: string
  code: string
}

/** 400 `invalid_query` naming `errors`; the log gets `logged`, when what the client named must not be logged. */
function refuse(c: Context<AppEnv>, errors: QueryError[], logged: object[] = errors): never {
  logRequest(c, { event: 'input_validation_fail', level: 'info', errors: logged, outcome: 'denied' })
  throw new GatewayError('invalid_query', { extensions: { errors } })
}

/**
 * The normalized address of `?email=`, checked as login checks it. Missing, repeated or invalid, or beside any
 * other parameter: 400 `invalid_query`.
 */
export function emailQuery(c: Context<AppEnv>): string {
  const params = new URL(c.req.url).searchParams
  const unknown = [...new Set(params.keys())].filter((name) => name !== 'email')
  if (unknown.length > 0) {
    // The answer names them for the administrator; the log does not, as a mistyped `?email=` can make an address
    // the name (`?user@example.com`), and addresses are only logged masked.
    const errors = unknown.map((parameter) => ({ parameter, code: 'unrecognized_keys' }))
    refuse(c, errors, [{ parameter: 'other', code: 'unrecognized_keys', count: unknown.length }])
  }
  const values = params.getAll('email')
  if (values.length === 0) refuse(c, [{ parameter: 'email', code: 'invalid_type' }])
  if (values.length > 1) refuse(c, [{ parameter: 'email', code: 'duplicate_key' }])
  const parsed = LoginBody.shape.email.safeParse(values[0])
  const email = parsed.success ? normalizeEmail(parsed.data) : null
  if (email === null) {
    refuse(c, [
      {
        parameter: 'email',
        code: parsed.success ? 'invalid_format' : (parsed.error.issues[0]?.code ?? 'invalid_format'),
      },
    ])
  }
  return email
}

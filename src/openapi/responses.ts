/**
 * The JSON bodies the gateway's own routes answer with, as zod schemas for the OpenAPI document only (the routes
 * build their bodies from the TypeScript interfaces). Each schema whose route has an interface is checked against
 * it at compile time below: a field added to, removed from or retyped in a response body fails the typecheck until
 * the schema (and so the document) follows.
 */
import * as z from 'zod/mini'
import type { AdminUserBody } from '../routes/admin/users'
import { REGISTER_ACCEPTED } from '../routes/auth/account'
import { RESET_REQUESTED } from '../routes/auth/password-reset'
import type { SessionBody } from '../routes/auth/sessions'
import type { CookieTokenPairBody, TokenPairBody } from '../routes/auth/token-pair'
import { REGISTER_PENDING } from '../routes/auth/verify'

const int = () => z.int().check(z.minimum(0))
const time = () => z.iso.datetime()

export const TokenPair = z.strictObject({
  access_token: z.string().check(z.describe('The access token: a JWT.')),
  token_type: z.literal('Bearer'),
  expires_in: int().check(z.describe('Seconds until the access token expires.')),
  refresh_token: z.string().check(z.describe('Opaque; rotates on every refresh.')),
  refresh_expires_in: int().check(z.describe('Seconds until the refresh token expires.')),
})

/** The answer with `refresh_transport: "cookie"`: the refresh token is in the `__Host-rt` cookie, not here. */
export const CookieTokenPair = z.strictObject({
  access_token: TokenPair.shape.access_token,
  token_type: TokenPair.shape.token_type,
  expires_in: TokenPair.shape.expires_in,
  refresh_expires_in: TokenPair.shape.refresh_expires_in,
  refresh_transport: z.literal('cookie').check(z.describe('The refresh token was set as the __Host-rt cookie.')),
})

/** Login and refresh answer either form, as the request's `refresh_transport` (or the cookie it came in) says. */
export const SessionTokens = z.union([TokenPair, CookieTokenPair])

export const Me = z.strictObject({
  sub: z.string(),
  sid: z.string(),
  scopes: z.array(z.string()),
  expires_at: time(),
})

const sessionFields = {
  id: z.string(),
  created_at: time(),
  last_used_at: time(),
  expires_at: time(),
  client: z.string(),
}

export const Sessions = z.strictObject({
  sessions: z.array(z.strictObject({ ...sessionFields, current: z.boolean() })),
})

export const AdminSessions = z.strictObject({ sessions: z.array(z.strictObject(sessionFields)) })

export const AdminUsers = z.strictObject({
  users: z.array(
    z.strictObject({
      id: z.string(),
      email: z.string(),
      verified: z.boolean(),
      disabled: z.boolean(),
      locked: z.boolean(),
      scopes: z.array(z.string()),
      created_at: time(),
    }),
  ),
})

/** The 202 of register and password/forgot: the same bytes whatever the address; `detail` is one of `texts`. */
const accepted = (...texts: [string, ...string[]]) =>
  z.strictObject({ status: z.literal('accepted'), detail: z.enum(texts) })

export const RegisterAccepted = accepted(REGISTER_ACCEPTED.detail, REGISTER_PENDING.detail)
export const ResetRequested = accepted(RESET_REQUESTED.detail)

const check = z.strictObject({ ok: z.boolean(), latency_ms: int() })

export const Live = z.strictObject({ status: z.literal('ok') })
export const Ready = z.strictObject({
  status: z.literal('ok'),
  checks: z.strictObject({ redis: check, d1: check }),
})

export const Jwks = z.strictObject({
  keys: z.array(
    z.looseObject({
      kty: z.literal('OKP'),
      crv: z.literal('Ed25519'),
      x: z.string(),
      kid: z.string(),
      alg: z.literal('EdDSA'),
      use: z.literal('sig'),
    }),
  ),
})

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
type Assert<T extends true> = T

/** Fails the typecheck when a schema above and the interface its route answers with disagree. */
export type SchemasMatchInterfaces = [
  Assert<Equal<z.output<typeof TokenPair>, TokenPairBody>>,
  Assert<Equal<z.output<typeof CookieTokenPair>, CookieTokenPairBody>>,
  Assert<Equal<z.output<typeof Sessions>['sessions'][number], SessionBody>>,
  Assert<Equal<z.output<typeof AdminSessions>['sessions'][number], Omit<SessionBody, 'current'>>>,
  Assert<Equal<z.output<typeof AdminUsers>['users'][number], AdminUserBody>>,
]

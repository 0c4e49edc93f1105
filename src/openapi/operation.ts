/**
 * The shape of one entry of the route list (operations.ts, admin-operations.ts), and the named schemas an entry can
 * point at: each is a `components.schemas` entry generated from the zod schema under its name.
 */
import type * as z from 'zod/mini'
import type { ErrorCode } from '../errors/gateway-error'
import { ScopesBody } from '../routes/admin/input'
import {
  ChangePasswordBody,
  ForgotPasswordBody,
  LoginBody,
  LogoutBody,
  RefreshBody,
  RegisterBody,
  ResetPasswordBody,
  VerifyEmailBody,
} from '../routes/auth/schemas'
import type { GATEWAY_PATHS } from '../routes/paths'
import {
  AdminSessions,
  AdminUsers,
  CookieTokenPair,
  Jwks,
  Live,
  Me,
  Ready,
  RegisterAccepted,
  ResetRequested,
  Sessions,
  SessionTokens,
  TokenPair,
} from './responses'

/** Every named schema of the document: its `components.schemas` key and the zod schema it is generated from. */
export const REQUEST_SCHEMAS = {
  RegisterBody,
  LoginBody,
  RefreshBody,
  LogoutBody,
  VerifyEmailBody,
  ForgotPasswordBody,
  ResetPasswordBody,
  ChangePasswordBody,
  ScopesBody,
}
export const RESPONSE_SCHEMAS = {
  TokenPair,
  CookieTokenPair,
  SessionTokens,
  Me,
  Sessions,
  AdminSessions,
  AdminUsers,
  RegisterAccepted,
  ResetRequested,
  Live,
  Ready,
  Jwks,
}

/** Who may call a route: anyone, an access token (`bearer`, with `scopes`), either, or the metrics token. */
export type Access = 'public' | 'bearer' | 'bearer-or-body' | 'metrics'

export interface Operation {
  method: 'get' | 'post' | 'put' | 'delete'
  path: (typeof GATEWAY_PATHS)[keyof typeof GATEWAY_PATHS]
  operationId: string
  tag: 'auth' | 'sessions' | 'admin' | 'keys' | 'monitoring' | 'meta'
  summary: string
  access: Access
  /** Scopes the access token must carry (only with `bearer`). */
  scopes?: readonly string[]
  /** The JSON body; `optionalBody`: it may be left out altogether. */
  body?: keyof typeof REQUEST_SCHEMAS
  optionalBody?: true
  /** Query parameters: name, description and the schema of one value (all required). */
  query?: { name: string; description: string; schema: z.ZodMiniType }[]
  /** Descriptions of the path parameters (`:id`). */
  params?: Record<string, string>
  /** The successful answer: a named schema as `application/json` (or `contentType`), or no body. */
  ok: { status: 200 | 202 | 204; description: string; schema?: keyof typeof RESPONSE_SCHEMAS; contentType?: string }
  /** Problems this route answers itself (the generator adds those of bodies, tokens and rate limits). */
  problems: readonly ErrorCode[]
}

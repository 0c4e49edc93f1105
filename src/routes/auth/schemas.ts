/**
 * Request bodies of the gateway's auth routes. Strict at every level: an unknown field (`role`, `scopes`,
 * `is_admin`…) is a 400, never silently dropped (S-IN-2 in docs/requirements.md).
 */
import * as z from 'zod/mini'
import { MAX_PASSWORD_INPUT_BYTES } from '../../passwords/password'

/**
 * Syntax only: one `@`, no whitespace, a dot in the domain, and no lone surrogate (`\uD800-\uDFFF` matches only
 * unpaired halves with the `u` flag): it is no character, D1 would store bytes that are not UTF-8 and hashes would
 * see U+FFFD instead. Normalization (`normalizeEmail`) happens in the store.
 */
const EMAIL = /^[^\s@\uD800-\uDFFF]{1,64}@[^\s@\uD800-\uDFFF]+\.[^\s@\uD800-\uDFFF]+$/u

const email = z.string().check(z.trim(), z.minLength(3), z.maxLength(254), z.regex(EMAIL))
/** Length policy is checked on registration only (checkPasswordPolicy); a login just needs a bounded string. */
const password = z.string().check(
  z.minLength(1),
  z.refine((value) => new TextEncoder().encode(value).byteLength <= MAX_PASSWORD_INPUT_BYTES, {
    error: 'too_big',
  }),
)
/**
 * The longest refresh token the gateway reads, from a body or the `__Host-rt` cookie: far above the tokens it issues
 * (43 characters), and a bound on everything derived from one.
 */
export const MAX_REFRESH_TOKEN_CHARS = 512
/** An opaque refresh token: bounded here, its exact shape is checked by the store. */
const refreshToken = z.string().check(z.minLength(1), z.maxLength(MAX_REFRESH_TOKEN_CHARS))
/** A verification or reset token from an account event: bounded here, its exact shape is checked by the store. */
const accountToken = z.string().check(z.minLength(1), z.maxLength(512))

/**
 * Where the answer puts the refresh token: `body` (the JSON field `refresh_token`) or `cookie` (the HttpOnly
 * `__Host-rt` cookie, for browser apps; see refresh-cookie.ts).
 */
const refreshTransport = z._default(z.enum(['body', 'cookie']), 'body')

export const RegisterBody = z.strictObject({ email, password })
export const LoginBody = z.strictObject({ email, password, refresh_transport: refreshTransport })
/** Without `refresh_token`, the refresh token is the `__Host-rt` cookie's. */
export const RefreshBody = z.strictObject({
  refresh_token: z.optional(refreshToken),
  refresh_transport: refreshTransport,
})
export const LogoutBody = z.strictObject({ refresh_token: z.optional(refreshToken) })
export const VerifyEmailBody = z.strictObject({ token: accountToken, password })
export const ForgotPasswordBody = z.strictObject({ email })
export const ResetPasswordBody = z.strictObject({ token: accountToken, new_password: password })
export const ChangePasswordBody = z.strictObject({ current_password: password, new_password: password })

/**
 * The OAuth scope grammar (RFC 6749 §3.3), defined once: a scope token is printable ASCII except space, `"` and
 * `\`; a scope list separates tokens with single spaces. Used by the route table, requireScopes and the config.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value)
}

/**
 * At most this many scopes per account, each at most this long, and at most `MAX_SCOPES_CHARS` joined: they all
 * travel in every access token, which the verifier refuses above `MAX_TOKEN_BYTES` (4096); the joined bound, the
 * same as `DEFAULT_USER_SCOPES`'s, keeps the largest accepted set's tokens well inside it.
 */
export const MAX_SCOPES = 32
export const MAX_SCOPE_LENGTH = 128
export const MAX_SCOPES_CHARS = 1024

/** Why an account's scope set is refused (its tokens would be too large to verify), or undefined. */
export function scopeSetProblem(scopes: readonly string[]): string | undefined {
  if (scopes.length > MAX_SCOPES) return `more than ${MAX_SCOPES} scopes`
  if (scopes.some((scope) => scope.length > MAX_SCOPE_LENGTH))
    return `a scope longer than ${MAX_SCOPE_LENGTH} characters`
  if (scopes.join(' ').length > MAX_SCOPES_CHARS) return `scopes longer than ${MAX_SCOPES_CHARS} characters joined`
  return undefined
}

/**
 * The scope every `/auth/admin/` route requires. Only `npm run admin -- create-user` and another administrator grant
 * it: no route does, and the configuration refuses it in DEFAULT_USER_SCOPES.
 */
export const ADMIN_SCOPE = 'edgeward:admin'

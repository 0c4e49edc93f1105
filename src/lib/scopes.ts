/**
 * The OAuth scope grammar (RFC 6749 §3.3), defined once: a scope token is printable ASCII except space, `"` and
 * `\`; a scope list separates tokens with single spaces. Used by the route table, requireScopes and the config.
 */
export const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/

export function isScopeToken(value: unknown): value is string {
  return typeof value === 'string' && SCOPE_TOKEN.test(value)
}

/**
 * The scope every `/auth/admin/` route requires. Only `npm run admin -- create-user` and another administrator grant
 * it: no route does, and the configuration refuses it in DEFAULT_USER_SCOPES.
 */
export const ADMIN_SCOPE = 'edgeward:admin'

/**
 * The paths the gateway answers itself, defined once: the app registers them, the rate-limit and body-limit
 * stages recognise them, and the route table may not claim their first segments (the proxy never serves them).
 */
export const GATEWAY_PATHS = {
  health: '/health',
  healthLive: '/health/live',
  healthReady: '/health/ready',
  metrics: '/metrics',
  jwks: '/.well-known/jwks.json',
  /** The OpenAPI 3.1 description of these routes (src/openapi). */
  openapi: '/openapi.json',
  me: '/auth/me',
  register: '/auth/register',
  login: '/auth/login',
  refresh: '/auth/refresh',
  logout: '/auth/logout',
  logoutAll: '/auth/logout-all',
  sessions: '/auth/sessions',
  /** One session of the caller; `:id` is the session (refresh family) id, the `sid` of its access tokens. */
  session: '/auth/sessions/:id',
  /** The operator's back office (scope `edgeward:admin`): `GET ?email=` finds an account. */
  adminUsers: '/auth/admin/users',
  /** One account, by user id (`DELETE`: erasure), and what an administrator can do to it. */
  adminUser: '/auth/admin/users/:id',
  adminUserSessions: '/auth/admin/users/:id/sessions',
  adminUserUnlock: '/auth/admin/users/:id/unlock',
  adminUserDisable: '/auth/admin/users/:id/disable',
  adminUserEnable: '/auth/admin/users/:id/enable',
  adminUserScopes: '/auth/admin/users/:id/scopes',
  verifyEmail: '/auth/verify-email',
  passwordForgot: '/auth/password/forgot',
  passwordReset: '/auth/password/reset',
  passwordChange: '/auth/password/change',
} as const

/** The gateway's own auth endpoints share a prefix (and a tight body limit). */
export const AUTH_PATH_PREFIX = '/auth/'

/** Never rate limited: monitoring must work while clients are being throttled. */
export const RATE_LIMIT_EXEMPT_PATHS: ReadonlySet<string> = new Set([
  GATEWAY_PATHS.health,
  GATEWAY_PATHS.healthLive,
  GATEWAY_PATHS.healthReady,
  GATEWAY_PATHS.metrics,
])

/**
 * Under the per-IP auth rate limit: the routes that take a password, a single-use account token, or an address to
 * send one to. /auth/refresh is not: it is limited per session (the refresh policy, in its handler) and per address
 * by the global policy, so failed logins from an address cannot starve the refreshes of everyone behind it.
 */
export const AUTH_LIMITED_PATHS: ReadonlySet<string> = new Set([
  GATEWAY_PATHS.login,
  GATEWAY_PATHS.register,
  GATEWAY_PATHS.verifyEmail,
  GATEWAY_PATHS.passwordForgot,
  GATEWAY_PATHS.passwordReset,
  GATEWAY_PATHS.passwordChange,
])

/**
 * The gateway's routes that take no bearer token (a password, a refresh token, an account token or an address
 * instead): a token sent with one is neither verified nor counted against its user, so such a request shows and
 * spends only the per-address policies (and a refresh its session's), and clients that attach the bearer to every
 * call still renew their sessions when the user's quota is spent. Exact paths: any other spelling is not these routes.
 */
export const TOKENLESS_PATHS: ReadonlySet<string> = new Set([
  GATEWAY_PATHS.refresh,
  GATEWAY_PATHS.login,
  GATEWAY_PATHS.register,
  GATEWAY_PATHS.verifyEmail,
  GATEWAY_PATHS.passwordForgot,
  GATEWAY_PATHS.passwordReset,
])

const SESSION_PREFIX = `${GATEWAY_PATHS.sessions}/`

/**
 * Routes with which a user ends sessions (logout, logout-all, one session, a password change, which ends the others):
 * never refused by the per-user policy, so whoever holds a stolen session cannot spend the user's quota to keep the
 * owner from ending it. The per-address policies (and the password change's auth policy and lockout) still apply.
 * Exact paths (`DELETE` with one more segment for a session), as the app registers them.
 */
export function endsSessions(method: string, path: string): boolean {
  if (method === 'POST') {
    return path === GATEWAY_PATHS.logout || path === GATEWAY_PATHS.logoutAll || path === GATEWAY_PATHS.passwordChange
  }
  if (method !== 'DELETE' || !path.startsWith(SESSION_PREFIX)) return false
  const id = path.slice(SESSION_PREFIX.length)
  return id !== '' && !id.includes('/')
}

/** First path segments that belong to the gateway, whatever the route table says. */
export const GATEWAY_OWNED_SEGMENTS: readonly string[] = [
  ...new Set(Object.values(GATEWAY_PATHS).map((path) => path.split('/')[1] as string)),
]

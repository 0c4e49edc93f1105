/**
 * The operator's back office under `/auth/admin/`: every route needs a valid access token (401 without one) that
 * carries `edgeward:admin` (403 `insufficient_scope` otherwise) of an account that is still enabled and still has
 * the scope in D1, is refused with 503 whenever the token's revocation cannot be checked (whatever
 * REVOCATION_FAILURE_MODE says), and counts under the global and per-user rate limits like any authenticated route.
 * README "Admin operations" lists the routes.
 */
import type { Hono } from 'hono'
import type { AppEnv } from '../../env'
import type { Gateway } from '../../gateway'
import { authenticate, requireScopes } from '../../middleware/authenticate'
import { jsonBody } from '../../middleware/validate'
import { GATEWAY_PATHS } from '../paths'
import { ScopesBody } from './input'
import { endUserSessions, listUserSessions } from './sessions'
import { ADMIN_SCOPE, adminStanding } from './support'
import { disableUser, enableUser, eraseUser, findUsers, setUserScopes, unlockUser } from './users'

export { ADMIN_SCOPE }

/** Registers the admin routes on `app`, each behind authentication and the admin scope, before any body is read. */
export function registerAdminRoutes(app: Hono<AppEnv>, gw: Gateway): void {
  const admin = [authenticate(gw, { failClosed: true }), requireScopes(ADMIN_SCOPE), adminStanding(gw)] as const
  app.get(GATEWAY_PATHS.adminUsers, ...admin, (c) => findUsers(c, gw))
  app.get(GATEWAY_PATHS.adminUserSessions, ...admin, (c) => listUserSessions(c, gw))
  app.delete(GATEWAY_PATHS.adminUserSessions, ...admin, (c) => endUserSessions(c, gw))
  app.post(GATEWAY_PATHS.adminUserUnlock, ...admin, (c) => unlockUser(c, gw))
  app.post(GATEWAY_PATHS.adminUserDisable, ...admin, (c) => disableUser(c, gw))
  app.post(GATEWAY_PATHS.adminUserEnable, ...admin, (c) => enableUser(c, gw))
  app.put(GATEWAY_PATHS.adminUserScopes, ...admin, ...jsonBody(ScopesBody), (c) =>
    setUserScopes(c, c.req.valid('json'), gw),
  )
  app.delete(GATEWAY_PATHS.adminUser, ...admin, (c) => eraseUser(c, gw))
}

/**
 * The back office's part of the route list: every route needs an access token with the admin scope.
 */
import { ADMIN_SCOPE } from '../routes/admin/support'
import { LoginBody } from '../routes/auth/schemas'
import { GATEWAY_PATHS } from '../routes/paths'
import type { Operation } from './operation'

const ID_USER = { id: 'The user id (a UUID, as `GET /auth/admin/users` shows it).' }
const ADMIN = { tag: 'admin', access: 'bearer', scopes: [ADMIN_SCOPE] } as const
const ADMIN_CHANGE = { status: 204, description: 'Done.' } as const

export const ADMIN_OPERATIONS: Operation[] = [
  {
    ...ADMIN,
    method: 'get',
    path: GATEWAY_PATHS.adminUsers,
    operationId: 'adminFindUsers',
    summary: 'Find the account with this address',
    query: [{ name: 'email', description: 'The address, normalized as login does.', schema: LoginBody.shape.email }],
    ok: { status: 200, description: 'The account, or none.', schema: 'AdminUsers' },
    problems: ['invalid_query', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'get',
    path: GATEWAY_PATHS.adminUserSessions,
    operationId: 'adminListSessions',
    summary: "An account's live sessions",
    params: ID_USER,
    ok: { status: 200, description: 'The sessions.', schema: 'AdminSessions' },
    problems: ['not_found', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'delete',
    path: GATEWAY_PATHS.adminUserSessions,
    operationId: 'adminEndSessions',
    summary: 'End every session and access token of an account',
    params: ID_USER,
    ok: ADMIN_CHANGE,
    problems: ['not_found', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'post',
    path: GATEWAY_PATHS.adminUserUnlock,
    operationId: 'adminUnlock',
    summary: "Clear an account's login lockout",
    params: ID_USER,
    ok: ADMIN_CHANGE,
    problems: ['not_found', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'post',
    path: GATEWAY_PATHS.adminUserDisable,
    operationId: 'adminDisable',
    summary: 'Disable an account and end its sessions',
    params: ID_USER,
    ok: ADMIN_CHANGE,
    problems: ['not_found', 'admin_self_action', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'post',
    path: GATEWAY_PATHS.adminUserEnable,
    operationId: 'adminEnable',
    summary: 'Enable an account again',
    params: ID_USER,
    ok: ADMIN_CHANGE,
    problems: ['not_found', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'put',
    path: GATEWAY_PATHS.adminUserScopes,
    operationId: 'adminSetScopes',
    summary: "Replace an account's scopes",
    params: ID_USER,
    body: 'ScopesBody',
    ok: ADMIN_CHANGE,
    problems: ['not_found', 'admin_self_action', 'dependency_unavailable'],
  },
  {
    ...ADMIN,
    method: 'delete',
    path: GATEWAY_PATHS.adminUser,
    operationId: 'adminErase',
    summary: 'Erase an account',
    params: ID_USER,
    ok: ADMIN_CHANGE,
    problems: ['not_found', 'admin_self_action', 'dependency_unavailable'],
  },
]

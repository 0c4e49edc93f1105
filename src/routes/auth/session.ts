/**
 * `GET /auth/me` and `POST /auth/logout` (Bearer). Logout revokes the presented access token and its session in
 * one Upstash write; if that write fails the client is told (503), because a logout that silently did nothing
 * would leave a token the user believes dead.
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import { GatewayError } from '../../errors/gateway-error'
import { logRequest } from '../../log/logger'
import { countAuthEvent } from '../../metrics'
import { REVOCATION_RETRY_AFTER_SECONDS } from '../../pipeline/authenticate'
import { getServices } from '../../services'

function principalOf(c: Context<AppEnv>) {
  const principal = c.get('principal')
  if (principal === undefined)
    throw new GatewayError('internal_error', { internal: { reason: 'route without authenticate()' } })
  return principal
}

export function me(c: Context<AppEnv>): Response {
  const { sub, sid, scopes, exp } = principalOf(c)
  c.header('cache-control', 'no-store')
  return c.json({ sub, sid, scopes, expires_at: new Date(exp * 1000).toISOString() })
}

export async function logout(c: Context<AppEnv>): Promise<Response> {
  const principal = principalOf(c)
  const { revocation } = getServices(c.get('config'))
  try {
    await revocation.revoke(
      { jti: principal.jti, exp: principal.exp, sid: principal.sid },
      Math.floor(Date.now() / 1000),
    )
  } catch (cause) {
    throw new GatewayError('revocation_unavailable', {
      retryAfterSeconds: REVOCATION_RETRY_AFTER_SECONDS,
      internal: { reason: 'logout_write_failed', cause, userid: principal.sub, jti: principal.jti },
    })
  }
  logRequest(c, {
    event: 'session_logout',
    level: 'info',
    description: 'The access token and its session were revoked.',
    userid: principal.sub,
    jti: principal.jti,
    sid: principal.sid,
    outcome: 'success',
  })
  countAuthEvent('logout')
  c.header('cache-control', 'no-store')
  return c.body(null, 204)
}

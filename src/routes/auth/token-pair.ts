/**
 * The token response of login and refresh (RFC 6749 §5.1 field names): a fresh access token bound to the refresh
 * family by `sid`, and the refresh token, in the body or (`refresh_transport: "cookie"`) in the `__Host-rt` cookie
 * only. `Cache-Control: no-store` (R-RT-13 in docs/requirements.md).
 */
import type { Context } from 'hono'
import type { AppEnv } from '../../env'
import type { Gateway } from '../../gateway'
import type { IssuedRefreshToken } from '../../stores/types'
import { mintAccessToken } from '../../tokens/mint'
import { afterResponse } from './common'
import { refreshCookie, setRefreshCookie } from './refresh-cookie'

export interface TokenPairBody {
  access_token: string
  token_type: 'Bearer'
  expires_in: number
  refresh_token: string
  refresh_expires_in: number
}

/** The answer when the refresh token went into the cookie: everything but the token, and where it went. */
export interface CookieTokenPairBody extends Omit<TokenPairBody, 'refresh_token'> {
  refresh_transport: 'cookie'
}

export type RefreshTransport = 'body' | 'cookie'

type PairDeps = Pick<Gateway, 'config' | 'keyRing' | 'refreshTokens' | 'revocation'>

/**
 * Mints the access token for `user` in the refresh token's family and answers 200 with both. A cookie answer that
 * replaces the cookie of another session (a new login in the same browser, a body token moved into the cookie)
 * ends that session after the answer: the browser loses its only handle on it, so nothing could use or end it.
 */
export async function tokenPairResponse(
  c: Context<AppEnv>,
  gw: PairDeps,
  user: { id: string; scopes: readonly string[] },
  refresh: IssuedRefreshToken,
  transport: RefreshTransport = 'body',
  /** The access token's issue time. @default Date.now() */
  nowMs = Date.now(),
): Promise<{ response: Response; jti: string }> {
  const { config, keyRing } = gw
  const access = await mintAccessToken(
    await keyRing(),
    { sub: user.id, sid: refresh.familyId, scopes: user.scopes },
    { issuer: config.jwt.issuer, audience: config.jwt.audience, accessTtlSeconds: config.jwt.accessTtlSeconds, nowMs },
  )
  const refreshExpiresIn = Math.max(0, refresh.expiresAt - Math.floor(nowMs / 1000))
  c.header('cache-control', 'no-store')
  c.header('pragma', 'no-cache')
  if (transport === 'cookie') {
    const replaced = refreshCookie(c)
    if (replaced !== undefined && replaced !== refresh.token) {
      afterResponse(c, 'replaced_session_revoke_failed', () => endReplacedSession(gw, replaced, refresh.familyId))
    }
    setRefreshCookie(c, refresh.token, refreshExpiresIn)
    const body: CookieTokenPairBody = {
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: access.expiresIn,
      refresh_expires_in: refreshExpiresIn,
      refresh_transport: 'cookie',
    }
    return { response: c.json(body, 200), jti: access.jti }
  }
  const body: TokenPairBody = {
    access_token: access.token,
    token_type: 'Bearer',
    expires_in: access.expiresIn,
    refresh_token: refresh.token,
    refresh_expires_in: refreshExpiresIn,
  }
  return { response: c.json(body, 200), jti: access.jti }
}

/** Ends the session whose refresh token the cookie held, unless it is the one the new cookie continues. */
async function endReplacedSession(gw: PairDeps, token: string, keptFamilyId: string): Promise<void> {
  const family = await gw.refreshTokens.findFamily(token)
  if (family === null || family.familyId === keptFamilyId) return
  await gw.refreshTokens.revokeFamily(family.familyId, 'replaced')
  await gw.revocation.revokeSession(family.familyId)
}

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
import { setRefreshCookie } from './refresh-cookie'

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

/** Mints the access token for `user` in the refresh token's family and answers 200 with both. */
export async function tokenPairResponse(
  c: Context<AppEnv>,
  { config, keyRing }: Pick<Gateway, 'config' | 'keyRing'>,
  user: { id: string; scopes: readonly string[] },
  refresh: IssuedRefreshToken,
  transport: RefreshTransport = 'body',
): Promise<{ response: Response; jti: string }> {
  const nowMs = Date.now()
  const access = await mintAccessToken(
    await keyRing(),
    { sub: user.id, sid: refresh.familyId, scopes: user.scopes },
    { issuer: config.jwt.issuer, audience: config.jwt.audience, accessTtlSeconds: config.jwt.accessTtlSeconds, nowMs },
  )
  const refreshExpiresIn = Math.max(0, refresh.expiresAt - Math.floor(nowMs / 1000))
  c.header('cache-control', 'no-store')
  c.header('pragma', 'no-cache')
  if (transport === 'cookie') {
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

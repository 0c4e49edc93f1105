// A browser session against edgeward, the way the README recommends for a single-page app:
// - the access token lives in this module's memory only (never localStorage, sessionStorage or a cookie);
// - the refresh token lives in the gateway's HttpOnly `__Host-rt` cookie, which no script can read;
// - an API call answered 401 refreshes once through the cookie and is retried once.
// Calls to /auth/* send `credentials: 'include'` (the gateway must run with CORS_ALLOW_CREDENTIALS=true and list
// this page's origin in CORS_ORIGINS); API calls carry only the bearer token.

/** @param {string} gateway the gateway's origin, e.g. http://127.0.0.1:8787 */
export function createSession(gateway) {
  /** @type {string | null} */
  let accessToken = null
  /** @type {Promise<boolean> | null} one refresh at a time: parallel 401s share it */
  let refreshing = null

  /** A JSON POST to an /auth route, with the cookie. */
  function auth(path, body = {}, headers = {}) {
    return fetch(`${gateway}${path}`, {
      method: 'POST',
      credentials: 'include',
      // application/json is what the gateway's CSRF check asks for: other sites' pages cannot send it.
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    })
  }

  async function login(email, password) {
    const res = await auth('/auth/login', { email, password, refresh_transport: 'cookie' })
    if (!res.ok) throw new Error(`login failed: ${res.status} ${(await res.json()).code}`)
    accessToken = (await res.json()).access_token
  }

  /** Trades the cookie for a new access token (and a new cookie). False when the session is over. */
  function refresh() {
    refreshing ??= (async () => {
      try {
        const res = await auth('/auth/refresh')
        accessToken = res.ok ? (await res.json()).access_token : null
        return res.ok
      } finally {
        refreshing = null
      }
    })()
    return refreshing
  }

  /** fetch() for the API behind the gateway: the bearer token, and one refresh and retry on 401. */
  async function call(path, init = {}) {
    const send = () =>
      fetch(`${gateway}${path}`, {
        ...init,
        headers: { ...init.headers, ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}) },
      })
    const res = await send()
    if (res.status !== 401 || !(await refresh())) return res
    return send()
  }

  /** Ends the session (the access token too, when there is one) and removes the cookie. */
  async function logout() {
    const res = await auth('/auth/logout', {}, accessToken ? { authorization: `Bearer ${accessToken}` } : {})
    accessToken = null
    return res.status
  }

  return {
    login,
    refresh,
    call,
    logout,
    get signedIn() {
      return accessToken !== null
    },
  }
}

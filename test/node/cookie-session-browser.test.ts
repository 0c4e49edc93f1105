/**
 * A browser session with the refresh token in the `__Host-rt` cookie, in real Chromium: the example app
 * (examples/spa, served by the same static server `npm run dev` uses, on its own origin) drives the deployable
 * bundle in Miniflare through examples/spa/session.js, and a page of another origin tries to use the cookie.
 *
 * Everything runs on http://127.0.0.1: Chromium counts loopback as a potentially trustworthy origin and stores
 * Secure (and so `__Host-`) cookies from it, which the first test checks rather than assumes. Cookies ignore
 * ports, and the two pages are the same site as the gateway (127.0.0.1), so `SameSite=Strict` does not keep
 * the cookie from the other page's requests: the gateway's Origin check does, which the last test exercises.
 */
import path from 'node:path'
import { convertV4MiniflareOptions, Miniflare } from 'miniflare'
import type { Browser, BrowserContext, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type EchoUpstream, startEchoUpstream } from '../../scripts/echo-upstream.ts'
import { generateEd25519Jwks } from '../../scripts/lib/keys.ts'
import { type StaticServer, startStaticServer } from '../../scripts/lib/static-server.ts'
import { hasChromium, launchChromium, requireChromium } from './support/chromium.ts'
import { type Backends, bundleWorker, cleanUp, migrate, ROOT, startBackends } from './support/worker.ts'

const EMAIL = 'cookie.browser@example.test'
const PASSWORD = 'violet-harbour-lantern-42'

let backends: Backends | undefined
let echo: EchoUpstream | undefined
let mf: Miniflare | undefined
let browser: Browser | undefined
let spa: StaticServer | undefined
let other: StaticServer | undefined
let gatewayUrl: string
/** Everything the worker logged. */
const workerLogs: string[] = []

beforeAll(async () => {
  if (!hasChromium()) return // each test fails in requireChromium()
  const root = path.join(ROOT, 'examples', 'spa')
  ;[backends, echo, spa, other] = await Promise.all([
    startBackends(),
    startEchoUpstream(),
    startStaticServer({ root }),
    startStaticServer({ root }),
  ])
  mf = new Miniflare(
    convertV4MiniflareOptions({
      cf: false,
      handleStructuredLogs: ({ message }) => void workerLogs.push(message),
      ...bundleWorker(backends.scriptPath, {
        name: 'edgeward',
        unsafeDirectSockets: [{ host: '127.0.0.1', port: 0 }],
        d1Databases: { DB: 'edgeward-cookie-session' },
        bindings: {
          ...backends.baseBindings(generateEd25519Jwks().privateJwk),
          UPSTREAM_URL: echo.url,
          CORS_ORIGINS: spa.url,
          CORS_ALLOW_CREDENTIALS: 'true',
          RATE_LIMIT_GLOBAL: 'off',
          RATE_LIMIT_USER: 'off',
          RATE_LIMIT_AUTH: 'off',
        },
      }),
    }),
  )
  await mf.ready
  await migrate(mf)
  gatewayUrl = (await mf.unsafeGetDirectURL('edgeward')).origin
  const registered = await fetch(`${gatewayUrl}/auth/register`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ email: EMAIL, password: PASSWORD }),
  })
  if (registered.status !== 202) throw new Error(`register answered ${registered.status}`)
  browser = await launchChromium()
}, 60_000)

afterAll(async () => {
  await cleanUp([
    () => browser?.close(),
    () => mf?.dispose(),
    () => echo?.close(),
    () => spa?.close(),
    () => other?.close(),
    () => backends?.stop(),
  ])
})

/** The gateway's cookies as the browser holds them. */
const gatewayCookies = (context: BrowserContext) => context.cookies(gatewayUrl)

/** Opens the example page of `origin` in `context`. */
async function openExample(context: BrowserContext, origin: string): Promise<Page> {
  const page = await context.newPage()
  await page.goto(`${origin}/?gateway=${gatewayUrl}`)
  return page
}

/**
 * Runs `body` (browser code, as text: vitest would rewrite a function's `import()`) in `page`, with the example's
 * `createSession`, `gateway`, `email` and `password` in scope; resolves with what it returns.
 */
function inPage<T>(page: Page, body: string): Promise<T> {
  const scope = JSON.stringify({ gateway: gatewayUrl, email: EMAIL, password: PASSWORD })
  return page.evaluate(`(async ({ gateway, email, password }) => {
    const { createSession } = await import('./session.js')
    ${body}
  })(${scope})`) as Promise<T>
}

describe('a browser session in the __Host- cookie (examples/spa)', () => {
  it('logs in, calls the API, refreshes, survives a reload, logs out: the cookie never visible to scripts', async () => {
    requireChromium()
    const context = await (browser as Browser).newContext()
    try {
      const page = await openExample(context, (spa as StaticServer).url)
      const seen = await inPage<Record<string, unknown> & { callBody: string }>(
        page,
        `const session = createSession(gateway)
        await session.login(email, password)
        const afterLogin = document.cookie
        const call = await session.call('/api/things')
        const callBody = await call.text()
        const refreshed = await session.refresh()
        return { afterLogin, call: call.status, callBody, refreshed, signedIn: session.signedIn }`,
      )
      expect(seen).toMatchObject({ afterLogin: '', call: 200, refreshed: true, signedIn: true })
      // The origin got the bearer's identity (API calls send no cookie: the example omits `credentials` there).
      const upstreamHeaders = JSON.parse(seen.callBody).headers as Record<string, string>
      expect(upstreamHeaders['x-gateway-user']).toMatch(/\S/)
      expect(upstreamHeaders).not.toHaveProperty('cookie')
      const [cookie] = await gatewayCookies(context)
      expect(cookie).toMatchObject({
        name: '__Host-rt',
        domain: '127.0.0.1',
        path: '/',
        httpOnly: true,
        secure: true,
        sameSite: 'Strict',
      })
      expect(cookie?.value).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(workerLogs.join('\n')).not.toContain(cookie?.value)

      // A reload loses the in-memory access token: the first call's 401 refreshes once through the cookie.
      await page.reload()
      const afterReload = await inPage(
        page,
        `const session = createSession(gateway)
        const call = await session.call('/api/things')
        const result = { call: call.status, signedIn: session.signedIn, cookie: document.cookie }
        const logout = await session.logout()
        const refreshedAfterLogout = await session.refresh()
        const callAfterLogout = (await session.call('/api/things')).status
        return { ...result, logout, refreshedAfterLogout, callAfterLogout }`,
      )
      expect(afterReload).toEqual({
        call: 200,
        signedIn: true,
        cookie: '',
        logout: 204,
        refreshedAfterLogout: false,
        callAfterLogout: 401,
      })
      expect(await gatewayCookies(context)).toEqual([])
    } finally {
      await context.close()
    }
  }, 30_000)

  it('refuses a page of another origin: 403 before the cookie is read, or the request never leaves the browser', async () => {
    requireChromium()
    const context = await (browser as Browser).newContext()
    try {
      const page = await openExample(context, (spa as StaticServer).url)
      await inPage(page, 'await createSession(gateway).login(email, password)')
      const [before] = await gatewayCookies(context)

      const evil = await openExample(context, (other as StaticServer).url)
      const logged = workerLogs.length
      const attempts = await evil.evaluate(async (gateway) => {
        const attempt = async (path: string, init: RequestInit) => {
          try {
            const res = await fetch(`${gateway}${path}`, { method: 'POST', credentials: 'include', ...init })
            return `${res.type}:${res.status}`
          } catch (error) {
            return (error as Error).name
          }
        }
        return [
          // Form-like simple requests: no preflight, so they reach the gateway, with the cookie.
          await attempt('/auth/refresh', { mode: 'no-cors', headers: { 'content-type': 'text/plain' } }),
          await attempt('/auth/logout', { mode: 'no-cors' }),
          // What the example app sends: the preflight is refused, so the request itself is never sent.
          await attempt('/auth/refresh', { headers: { 'content-type': 'application/json' }, body: '{}' }),
        ]
      }, gatewayUrl)
      // The page learns nothing: Chromium's opaque-response blocking fails even the no-cors fetches.
      expect(attempts).toEqual(['TypeError', 'TypeError', 'TypeError'])
      const records = workerLogs.slice(logged).map((l) => JSON.parse(l) as Record<string, unknown>)
      const refused = records.filter((r) => r.event === 'request_rejected')
      expect(refused).toEqual([
        expect.objectContaining({ request_uri: '/auth/refresh', status: 403, code: 'csrf_check_failed' }),
        expect.objectContaining({ request_uri: '/auth/logout', status: 403, code: 'csrf_check_failed' }),
      ])
      for (const record of refused) expect(record.reason).toBe('origin_not_allowed')
      expect(records.filter((r) => ['session_renewed', 'session_logout'].includes(String(r.event)))).toEqual([])

      // Nothing happened to the session: the same cookie, and it still refreshes from the allowed page.
      expect(await gatewayCookies(context)).toEqual([before])
      const refreshed = await inPage(page, 'return createSession(gateway).refresh()')
      expect(refreshed).toBe(true)
    } finally {
      await context.close()
    }
  }, 30_000)
})

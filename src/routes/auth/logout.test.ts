import { env, exports } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { httpControl } from '../../../test/conformance/upstash-cases'
import { loginUser, postJson, refreshWith, registerUser } from '../../test-support/accounts'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'
import { authHeader } from '../../test-support/tokens'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

const me = (accessToken: string) =>
  exports.default.fetch('https://gw.test/auth/me', { headers: authHeader(accessToken) })

function logout(headers: Record<string, string> = {}, body?: unknown) {
  return exports.default.fetch('https://gw.test/auth/logout', {
    method: 'POST',
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  })
}

async function liveFamilies(userId: string): Promise<number> {
  const row = await env.DB.prepare(
    'SELECT count(*) AS n FROM refresh_token_families WHERE user_id = ?1 AND revoked_at IS NULL',
  )
    .bind(userId)
    .first<{ n: number }>()
  return row?.n ?? -1
}

async function userIdOf(accessToken: string): Promise<string> {
  return ((await (await me(accessToken)).json()) as { sub: string }).sub
}

describe('POST /auth/logout', () => {
  it('with a bearer token: ends the access token, its session and its refresh family', async () => {
    logs = captureLogs()
    const { email } = await registerUser()
    const pair = await loginUser(email)
    const other = await loginUser(email)
    const userId = await userIdOf(pair.access_token)
    expect(await liveFamilies(userId)).toBe(2)

    const res = await logout(authHeader(pair.access_token))
    expect(res.status).toBe(204)
    expect(res.headers.get('cache-control')).toBe('no-store')
    await expectProblem(await me(pair.access_token), 401, 'invalid_token')
    await expectProblem(await refreshWith(pair.refresh_token), 401, 'invalid_refresh_token')
    // Another login of the same user is another session: untouched.
    expect(await liveFamilies(userId)).toBe(1)
    expect((await me(other.access_token)).status).toBe(200)
    expect((await refreshWith(other.refresh_token)).status).toBe(200)
    expect(logs.events('session_logout')[0]).toMatchObject({ userid: userId, sessions: 1 })
    expect(logs.lines.join('\n')).not.toContain(pair.refresh_token)
  })

  it('with only a refresh token (the access token expired): ends that family and its access tokens', async () => {
    const { email } = await registerUser()
    const pair = await loginUser(email)
    const userId = await userIdOf(pair.access_token)
    const res = await logout({}, { refresh_token: pair.refresh_token })
    expect(res.status).toBe(204)
    expect(await liveFamilies(userId)).toBe(0)
    await expectProblem(await refreshWith(pair.refresh_token), 401, 'invalid_refresh_token')
    await expectProblem(await me(pair.access_token), 401, 'invalid_token')
  })

  it('answers 204 for an unknown refresh token and changes nothing (no oracle)', async () => {
    const { email } = await registerUser()
    const pair = await loginUser(email)
    const userId = await userIdOf(pair.access_token)
    expect((await logout({}, { refresh_token: 'Q'.repeat(43) })).status).toBe(204)
    expect(await liveFamilies(userId)).toBe(1)
  })

  it("never ends another user's session through a refresh token in the body", async () => {
    const alice = await loginUser((await registerUser()).email)
    const bob = await loginUser((await registerUser()).email)
    const res = await logout(authHeader(alice.access_token), { refresh_token: bob.refresh_token })
    expect(res.status).toBe(204)
    expect((await refreshWith(bob.refresh_token)).status).toBe(200)
    await expectProblem(await me(alice.access_token), 401, 'invalid_token')
  })

  it('is 401 with neither a bearer token nor a refresh token, and 401 for a bad bearer even with a body', async () => {
    await expectProblem(await logout(), 401, 'unauthenticated')
    const pair = await loginUser((await registerUser()).email)
    const res = await logout({ authorization: 'Bearer not.a.token' }, { refresh_token: pair.refresh_token })
    await expectProblem(res, 401, 'invalid_token')
    expect((await refreshWith(pair.refresh_token)).status).toBe(200)
  })

  it('refuses an unknown body field with 400 and ends nothing', async () => {
    const pair = await loginUser((await registerUser()).email)
    const res = await logout(authHeader(pair.access_token), { refresh_token: pair.refresh_token, everywhere: true })
    await expectProblem(res, 400, 'validation_failed')
    expect((await me(pair.access_token)).status).toBe(200)
  })

  it('answers 503 while Upstash fails, and the same request succeeds once it is back', async () => {
    const pair = await loginUser((await registerUser()).email)
    const userId = await userIdOf(pair.access_token)
    const lane = `lane-${crypto.randomUUID()}`
    const control = httpControl(env.UPSTASH_REDIS_REST_URL, env.UPSTASH_REDIS_REST_TOKEN)
    const bindings = { ...env, UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`, UPSTASH_RETRIES: '0' }
    const app = testApp()
    const attempt = () =>
      app.fetch(
        new Request('https://gw.test/auth/logout', { method: 'POST', headers: authHeader(pair.access_token) }),
        bindings,
        ctx,
      )
    // The local Upstash fails reads and writes alike, so this 503 comes from the revocation read
    // (REVOCATION_FAILURE_MODE=closed). Either way the client must be able to retry with the same token.
    await control.setFault('error500', 10_000, lane)
    try {
      const res = await attempt()
      expect(res.status).toBe(503)
    } finally {
      await control.setFault('none', undefined, lane)
    }
    expect((await attempt()).status).toBe(204)
    expect(await liveFamilies(userId)).toBe(0)
    await expectProblem(await me(pair.access_token), 401, 'invalid_token')
  })
})

describe('POST /auth/logout-all', () => {
  it('ends every session of the user: all refresh families and every access token issued before now', async () => {
    logs = captureLogs()
    const { email } = await registerUser()
    const first = await loginUser(email)
    const second = await loginUser(email)
    const userId = await userIdOf(first.access_token)
    const bystander = await loginUser((await registerUser()).email)

    const res = await exports.default.fetch('https://gw.test/auth/logout-all', {
      method: 'POST',
      headers: authHeader(first.access_token),
    })
    expect(res.status).toBe(204)
    expect(await liveFamilies(userId)).toBe(0)
    for (const pair of [first, second]) {
      await expectProblem(await me(pair.access_token), 401, 'invalid_token')
      await expectProblem(await refreshWith(pair.refresh_token), 401, 'invalid_refresh_token')
    }
    expect((await me(bystander.access_token)).status).toBe(200)
    expect(logs.events('session_logout')[0]).toMatchObject({ userid: userId, sessions: 2, scope: 'all' })

    // A new login after the cutoff second works again.
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const again = await loginUser(email)
    expect((await me(again.access_token)).status).toBe(200)
  })

  it('requires a bearer token', async () => {
    const res = await postJson('/auth/logout-all', {})
    await expectProblem(res, 401, 'unauthenticated')
  })
})

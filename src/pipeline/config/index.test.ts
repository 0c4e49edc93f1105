import { env } from 'cloudflare:workers'
import { afterEach, describe, expect, it } from 'vitest'
import { testApp } from '../../test-support/app'
import { testExecutionContext as ctx } from '../../test-support/context'
import { captureLogs } from '../../test-support/logs'
import { expectProblem } from '../../test-support/problem'

let logs: ReturnType<typeof captureLogs> | undefined
afterEach(() => logs?.restore())

/** The test bindings say ENVIRONMENT=development; a bindings object of its own gets a configuration of its own. */
const development = () => ({ ...env, ENVIRONMENT: 'development' })

describe('config stage: a development configuration serves loopback and reserved test hosts only', () => {
  it.each([
    ['a public name', 'https://api.example.com/health', 'api.example.com'],
    ['a LAN address', 'http://192.168.1.20:8787/health', '192.168.1.20'],
  ])('answers %s with the generic 500 and logs the host once, with the fix', async (_, url, host) => {
    logs = captureLogs()
    const app = testApp()
    const bindings = development()
    for (let i = 0; i < 3; i++) {
      const res = await app.fetch(new Request(url), bindings, ctx)
      const text = await res.clone().text()
      await expectProblem(res, 500, 'internal_error')
      expect(text).not.toMatch(/ENVIRONMENT|development|loopback|192\.168|example\.com/i)
    }
    const records = logs.events('config_invalid')
    expect(records).toHaveLength(1)
    const [record] = records
    expect(record).toMatchObject({ level: 'critical', variables: ['ENVIRONMENT'], problems: [expect.any(String)] })
    const problem = String((record?.problems as string[] | undefined)?.[0])
    expect(problem).toContain(`host ${host},`)
    expect(problem).toMatch(/ENVIRONMENT=staging.*production/)
    expect(problem).toMatch(/localhost|127\.0\.0\.1/)
  })

  it.each([
    'http://127.0.0.1:8787',
    'http://127.3.4.5:8787',
    'http://localhost:8787',
    'http://app.localhost:8787',
    'http://[::1]:8787',
    'https://gw.test',
  ])('serves %s', async (origin) => {
    logs = captureLogs()
    const res = await testApp().fetch(new Request(`${origin}/health`), development(), ctx)
    expect(res.status).toBe(200)
    expect(await res.json()).toMatchObject({ status: 'ok' })
    expect(logs.events('config_invalid')).toEqual([])
  })
})

import { env, exports } from 'cloudflare:workers'
import fc from 'fast-check'
import { Hono } from 'hono'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import type { AppEnv } from '../env'
import { requestId } from '../pipeline/request-id'
import { asMiddleware } from '../pipeline/stage'
import { logRequest } from '../request-log'
import { captureLogs } from '../test-support/logs'
import { type LogRecord, log, maskEmail, redact, SECURITY_EVENTS } from './logger'

let logs: ReturnType<typeof captureLogs>
beforeEach(() => {
  logs = captureLogs()
})
afterEach(() => {
  vi.restoreAllMocks()
})

/** Every character some log reader treats as the end of a line (Python's str.splitlines, JS line terminators). */
// biome-ignore lint/suspicious/noControlCharactersInRegex: these control characters are exactly what is tested for
const LINE_BREAK = /[\n\r\v\f\x1c-\x1e\x85\u2028\u2029]/

/** A tiny app that logs `record` from a route, with the gateway's request id stage in front. */
function loggingApp(record: LogRecord, bindings: Record<string, unknown> = {}) {
  const app = new Hono<AppEnv>()
  app.use(asMiddleware(requestId()))
  app.get('/items/:id', (c) => {
    logRequest(c, record)
    return c.text('ok')
  })
  return (path: string, headers: Record<string, string> = {}) =>
    app.request(path, { headers }, bindings as unknown as Env)
}

describe('redact', () => {
  it('replaces credentials at any depth, in objects and arrays', () => {
    const value = {
      a: { b: { c: { Authorization: 'Bearer abc', list: [{ refresh_token: 'r' }, { cookie: 'k' }] } } },
      headers: { 'x-api-key': 'key', 'set-cookie': 'sid=1' },
      password: 'hunter2',
      JWT_SECRET: 's',
      privateJwk: { d: 'dd' },
      upstashToken: 't',
      kept: 'visible',
    }
    const out = JSON.stringify(redact(value))
    for (const secret of ['Bearer abc', '"r"', '"k"', '"key"', 'sid=1', 'hunter2', '"s"', '"dd"', '"t"']) {
      expect(out).not.toContain(secret)
    }
    expect(out).toContain('visible')
    expect(redact(value)).toMatchObject({ a: { b: { c: { Authorization: '[redacted]' } } }, password: '[redacted]' })
  })

  it('cuts off deep nesting and long strings', () => {
    const deep = { l1: { l2: { l3: { l4: { l5: { l6: { l7: 'x' } } } } } } }
    expect(JSON.stringify(redact(deep))).toContain('[truncated]')
    expect(JSON.stringify(redact(deep))).not.toContain('l7')
    const long = redact('y'.repeat(5_000)) as string
    expect(long.length).toBeLessThanOrEqual(1_025)
  })

  it('strips the "command was:" tail the Upstash client appends to errors, in causes too', () => {
    const upstash = new Error('WRONGTYPE Operation against a key, command was: ["set","rv:jti:abc","stored-secret"]')
    const wrapped = new Error('outer', { cause: upstash })
    const out = JSON.stringify(redact({ cause: wrapped }))
    expect(out).not.toContain('stored-secret')
    expect(out).not.toContain('command was')
    expect(out).toContain('WRONGTYPE Operation against a key')
  })
})

describe('log records', () => {
  it('carry datetime (ISO 8601 UTC), appid, event and level, which a record cannot override', () => {
    log({ event: 'custom_event', level: 'info', datetime: 'forged', appid: 'forged' })
    const [record] = logs.records()
    expect(record).toMatchObject({ appid: 'edgeward', event: 'custom_event', level: 'info' })
    expect(record?.datetime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/)
  })

  it('give every security event an outcome and a description unless the record sets them', () => {
    log({ event: 'authn_token_invalid', level: 'warn' })
    log({ event: 'authz_fail', level: 'warn', outcome: 'denied', description: 'own text' })
    log({ event: 'not_security', level: 'debug' })
    const [invalid, authz, other] = logs.records()
    expect(invalid).toMatchObject({ outcome: 'denied', description: SECURITY_EVENTS.authn_token_invalid?.description })
    expect(authz).toMatchObject({ outcome: 'denied', description: 'own text' })
    expect(other).not.toHaveProperty('outcome')
  })

  it('send error and critical to console.error, the rest to console.log', () => {
    const error = vi.spyOn(console, 'error').mockImplementation(() => {})
    const info = vi.spyOn(console, 'log').mockImplementation(() => {})
    log({ event: 'a', level: 'critical' })
    log({ event: 'b', level: 'error' })
    log({ event: 'c', level: 'warn' })
    expect(error).toHaveBeenCalledTimes(2)
    expect(info).toHaveBeenCalledTimes(1)
  })

  it('about a request carry request_id, cf_ray, source_ip, useragent, method and the path without its query', async () => {
    const send = loggingApp({ event: 'authz_fail', level: 'warn' })
    await send('/items/42?email=a@b.example&token=secret', {
      'cf-ray': '8f0a1b2c3d4e5f60-LHR',
      'cf-connecting-ip': '203.0.113.9',
      'x-forwarded-for': '198.51.100.1',
      'user-agent': 'curl/8.9',
      'x-request-id': 'req-12345678',
    })
    const [record] = logs.records()
    expect(record).toMatchObject({
      request_id: 'req-12345678',
      cf_ray: '8f0a1b2c3d4e5f60-LHR',
      source_ip: '203.0.113.9',
      useragent: 'curl/8.9',
      request_method: 'GET',
      request_uri: '/items/42',
      outcome: 'denied',
    })
    expect(logs.lines.join('\n')).not.toMatch(/secret|a@b\.example|198\.51\.100\.1/)
  })

  it('about a request carry userid once a principal is known', async () => {
    const app = new Hono<AppEnv>()
    app.use(asMiddleware(requestId()))
    app.get('/', (c) => {
      c.set('principal', { sub: 'user-7', sid: 's', jti: 'j', scopes: [], iat: 0, exp: 0 })
      logRequest(c, { event: 'session_logout', level: 'info' })
      return c.text('ok')
    })
    await app.request('/')
    expect(logs.records()[0]).toMatchObject({ userid: 'user-7', outcome: 'success' })
  })
})

describe('log injection (R-LOG-5)', () => {
  const forged = 'a\n{"event":"authn_login_success","level":"info"}'

  it('keeps CR/LF and JSON in a field inside one record', () => {
    log({ event: 'input_validation_fail', level: 'info', username: forged, other: 'x\r\ny\u2028z\u0085w' })
    expect(logs.lines).toHaveLength(1)
    expect(logs.lines[0]).not.toMatch(LINE_BREAK)
    expect(logs.records()[0]).toMatchObject({ event: 'input_validation_fail', username: forged })
  })

  it('a User-Agent cannot carry CR/LF at all: the Fetch API refuses to build such a request', () => {
    expect(() => new Request('https://gw.test/auth/me', { headers: { 'user-agent': forged } })).toThrow(TypeError)
  })

  it.each([
    ['JSON quotes', 'a","event":"authn_login_success","x":"'],
    ['NEL, a line break for some readers', 'a\x85{"event":"authn_login_success"}'],
    ['a closing brace and a newline escape', 'a"}\\n{"event":"authn_login_success"}'],
  ])('a User-Agent with %s yields exactly one record, through the whole gateway', async (_, userAgent) => {
    const res = await exports.default.fetch('https://gw.test/auth/me', {
      headers: { 'user-agent': userAgent, authorization: 'Basic Zm9vOmJhcg==' },
    })
    expect(res.status).toBe(401)
    expect(logs.lines).toHaveLength(1)
    expect(logs.lines[0]).not.toMatch(LINE_BREAK)
    const [record] = logs.records()
    expect(record).toMatchObject({ event: 'authn_token_invalid', useragent: userAgent })
    expect(logs.events('authn_login_success')).toEqual([])
  })

  it('any string in any field stays in one line and reads back unchanged (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), fc.string({ maxLength: 20 }), (value, key) => {
        logs.lines.length = 0
        log({ event: 'input_validation_fail', level: 'info', field: value, nested: { [`k${key}`]: value } })
        expect(logs.lines).toHaveLength(1)
        expect(logs.lines[0]).not.toMatch(LINE_BREAK)
        const record = JSON.parse(logs.lines[0] ?? '') as Record<string, unknown>
        expect(record.field).toBe(value)
        expect(record.event).toBe('input_validation_fail')
      }),
    )
  })
})

describe('maskEmail', () => {
  it.each([
    ['alice@example.com', 'a***@example.com'],
    ['Alice.Smith@Example.COM', 'A***@example.com'],
    ['  bob@example.org ', 'b***@example.org'],
    ['"odd@local"@example.net', '"***@example.net'],
    ['😀x@example.com', '😀***@example.com'],
    ['x@example.com', 'x***@example.com'],
    ['no-at-sign', '***'],
    ['@example.com', '***'],
    ['user@', '***'],
    ['user@exa mple.com', '***'],
    ['', '***'],
  ])('%j → %j', (email, masked) => {
    expect(maskEmail(email)).toBe(masked)
  })

  it('never reveals more of the local part than its first character (property)', () => {
    fc.assert(
      fc.property(fc.emailAddress(), (email) => {
        const masked = maskEmail(email)
        const at = email.lastIndexOf('@')
        const local = email.slice(0, at)
        expect(masked).toBe(`${Array.from(local)[0]}***@${email.slice(at + 1).toLowerCase()}`)
        if (local.length > 3) expect(masked).not.toContain(local)
      }),
    )
  })
})

describe('Analytics Engine export', () => {
  function dataset() {
    return { writeDataPoint: vi.fn<(point?: AnalyticsEngineDataPoint) => void>() }
  }

  it('writes each security event once: [event, outcome, route, reason, environment, method], [1, 0, 0], [event]', async () => {
    const EVENTS = dataset()
    await loggingApp({ event: 'authz_fail', level: 'warn', reason: 'rewrite_target' }, { EVENTS })('/items/1')
    expect(EVENTS.writeDataPoint).toHaveBeenCalledTimes(1)
    expect(EVENTS.writeDataPoint).toHaveBeenCalledWith({
      blobs: ['authz_fail', 'denied', '/items/:id', 'rewrite_target', '', 'GET'],
      doubles: [1, 0, 0],
      indexes: ['authz_fail'],
    })
  })

  it('does not export events outside the security vocabulary', async () => {
    const EVENTS = dataset()
    await loggingApp({ event: 'debug_note', level: 'debug' }, { EVENTS })('/items/1')
    expect(EVENTS.writeDataPoint).not.toHaveBeenCalled()
  })

  it('never fails the request when the dataset throws, and logs that it did', async () => {
    const EVENTS = {
      writeDataPoint: () => {
        throw new Error('quota')
      },
    }
    const res = await loggingApp({ event: 'authz_fail', level: 'warn' }, { EVENTS })('/items/1')
    expect(res.status).toBe(200)
    expect(logs.events('analytics_write_failed')).toHaveLength(1)
  })

  it('is skipped when no EVENTS binding exists', async () => {
    const res = await loggingApp({ event: 'authz_fail', level: 'warn' }, {})('/items/1')
    expect(res.status).toBe(200)
    expect(logs.events('analytics_write_failed')).toHaveLength(0)
  })

  it('is bound from wrangler.toml (Miniflare runs a local dataset, whose writes cannot be read back)', () => {
    expect(typeof env.EVENTS.writeDataPoint).toBe('function')
  })
})

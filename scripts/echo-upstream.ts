/**
 * Demo origin for local development and gateway tests: answers every method and path with a JSON description of
 * the request it received. Dev and test only; nothing here runs in the Worker.
 *
 *   node scripts/echo-upstream.ts --port 9000
 */

import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { createFaults } from './lib/echo-faults.ts'
import { leakyFields, SET_COOKIE_FIELDS } from './lib/echo-fields.ts'

/** One request as the echo server saw it; also the JSON body of every echo answer. */
export type EchoRecord = {
  method: string
  /** Path including the query string, exactly as received (`/a/b?x=1`). */
  path: string
  /** Node's view of the headers: lower-case names, repeated headers joined with `, ` (cookies with `; `). */
  headers: Record<string, string>
  /** Every header line in arrival order, names as sent: shows duplicates the joined view hides. */
  rawHeaders: [string, string][]
  /** The body as utf-8 text, or base64 when it is not valid utf-8 (see `bodyEncoding`). */
  body: string
  bodyEncoding: 'utf8' | 'base64'
  bodyBytes: number
  /** Hex SHA-256 of the body bytes, to check large bodies without comparing them. */
  bodySha256: string
  /** Set on log entries whose body was dropped to bound memory (`LOG_BODY_MAX_BYTES`). */
  bodyOmitted?: true
  /** Set when an armed fault answered this request with that status instead of the echo. */
  fault?: number
  /** Milliseconds since the epoch when the request head arrived. */
  receivedAt: number
}

export type EchoUpstreamOptions = {
  /** @default '127.0.0.1' */
  host?: string
  /** `0` picks a free port. @default 0 */
  port?: number
  /** How many requests `requests()` and `GET /__echo/log` keep. @default 1000 */
  logLimit?: number
  /** Sees each echoed request before it is answered (`npm run dev` prints account events with it). */
  onRequest?: (record: EchoRecord) => void | Promise<void>
}

export type EchoUpstream = {
  /** `http://host:port`, no trailing slash. */
  url: string
  /** Stops listening and drops open (keep-alive) connections. */
  close(): Promise<void>
  /** The last `logLimit` echoed requests, oldest first (a copy). */
  requests(): EchoRecord[]
}

/** Bodies above this are refused with 413 (the gateway's limits are far lower). */
export const MAX_BODY_BYTES = 64 * 1024 * 1024
/** Log entries keep bodies up to this size; larger ones are logged with `bodyOmitted`. */
export const LOG_BODY_MAX_BYTES = 64 * 1024
/** Upper bound for `/__echo/slow/:ms`. */
export const MAX_SLOW_MS = 120_000

const STATUS_PATH = /^\/__echo\/status\/(\d{3})(?:\/|$)/
const SLOW_PATH = /^\/__echo\/slow\/(\d{1,9})(?:\/|$)/
const SET_COOKIE_PATH = /^\/__echo\/set-cookie(?:\/|$)/
const LEAKY_PATH = /^\/__echo\/leaky(?:\/|$)/
// Anywhere in the path, so a test can reach it under any route prefix (`/api/public/__echo/redirect/302`).
const REDIRECT_PATH = /\/__echo\/redirect\/(30[1-8])(?:\/|$)/

/**
 * Starts the echo upstream. Every request gets `200 application/json` with an {@link EchoRecord}, except:
 * - `/__echo/status/:code` answers with that status (200–999: 600 and above are outside what a Response may carry,
 *   as a misbehaving origin may send; others get 400);
 * - `/__echo/slow/:ms` reads the body, then waits `ms` (≤ {@link MAX_SLOW_MS}) before answering;
 * - `/__echo/set-cookie` adds `Set-Cookie`, `Server`, `X-Powered-By`, weak `X-Frame-Options` and CSP, and
 *   permissive `Access-Control-*` fields (headers a gateway should strip, vet or replace);
 * - `/__echo/leaky` answers the request's `X-Gateway-*` and `X-Forwarded-*` fields back as its own, with `Via`,
 *   `Forwarded`, `Alt-Svc`, `NEL`, `Report-To`, `Service-Worker-Allowed` and `Clear-Site-Data` (fields about the
 *   hop, or policies for the whole host, that a gateway should not pass on), and `Reporting-Endpoints` (one
 *   document's, which it should);
 * - `/__echo/redirect/:code?to=URL` answers that 3xx with `Location: URL` (an open redirect, as origins have);
 * - `POST /__echo/faults` with `{match, times, status}` makes the next `times` requests whose body contains `match`
 *   get `status` (500–599) instead of the echo;
 * - `GET /__echo/log` returns the request log, `POST /__echo/log/reset` empties it and clears the faults (neither
 *   is logged).
 *
 * @example
 * const echo = await startEchoUpstream()
 * await fetch(`${echo.url}/x?y=1`, { method: 'POST', body: 'hi' })
 * echo.requests()[0].body // 'hi'
 * await echo.close()
 */
export async function startEchoUpstream({
  host = '127.0.0.1',
  port = 0,
  logLimit = 1000,
  onRequest,
}: EchoUpstreamOptions = {}): Promise<EchoUpstream> {
  let log: EchoRecord[] = []
  const faults = createFaults()

  const server = http.createServer(function echoRequest(req, res) {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) sendJson(res, 500, { error: 'echo_failed', message: String(err) })
      else res.destroy()
    })
  })

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const receivedAt = Date.now()
    const rawPath = req.url ?? '/'
    const pathname = rawPath.split('?', 1)[0] ?? '/'

    if (pathname === '/__echo/log' && req.method === 'GET') {
      req.resume()
      return sendJson(res, 200, log)
    }
    if (pathname === '/__echo/log/reset' && req.method === 'POST') {
      req.resume()
      log = []
      faults.clear()
      return sendJson(res, 200, { reset: true })
    }
    if (pathname === '/__echo/faults' && req.method === 'POST') {
      const text = await readBody(req)
      const refused = text === 'too_large' ? 'too large' : faults.arm(text.toString('utf8'))
      return sendJson(res, refused ? 400 : 200, refused ? { error: 'bad_fault', message: refused } : { armed: true })
    }

    const body = await readBody(req)
    if (body === 'too_large') {
      return sendJson(res, 413, { error: 'payload_too_large', maxBytes: MAX_BODY_BYTES }, { connection: 'close' })
    }

    const utf8 = isUtf8(body)
    const fault = faults.take(body)
    const record: EchoRecord = {
      method: req.method ?? 'GET',
      path: rawPath,
      headers: joinHeaders(req.headers),
      rawHeaders: pairs(req.rawHeaders),
      body: body.toString(utf8 ? 'utf8' : 'base64'),
      bodyEncoding: utf8 ? 'utf8' : 'base64',
      bodyBytes: body.length,
      bodySha256: createHash('sha256').update(body).digest('hex'),
      receivedAt,
      ...(fault === undefined ? {} : { fault }),
    }
    log.push(body.length > LOG_BODY_MAX_BYTES ? { ...record, body: '', bodyOmitted: true } : record)
    if (log.length > logLimit) log.splice(0, log.length - logLimit)
    await (async () => onRequest?.(record))().catch(() => {}) // an observer's failure is not the client's
    if (fault !== undefined) return sendJson(res, fault, { error: 'injected_fault' })

    let status = 200
    const extra: Record<string, string | string[]> = {}
    const statusMatch = STATUS_PATH.exec(pathname)
    const slowMatch = SLOW_PATH.exec(pathname)
    const redirectMatch = REDIRECT_PATH.exec(pathname)
    if (redirectMatch) {
      const to = new URLSearchParams(rawPath.slice(pathname.length)).get('to')
      if (to === null) return sendJson(res, 400, { error: 'missing_to', message: 'add ?to=<location>' })
      status = Number(redirectMatch[1])
      extra.location = to
    } else if (statusMatch) {
      status = Number(statusMatch[1])
      if (status < 200 || status > 999) {
        return sendJson(res, 400, { error: 'bad_status', message: 'use a status from 200 to 999' })
      }
    } else if (slowMatch) {
      const ms = Number(slowMatch[1])
      if (ms > MAX_SLOW_MS) {
        return sendJson(res, 400, { error: 'too_slow', message: `at most ${MAX_SLOW_MS} ms` })
      }
      const closed = await sleepUnlessClosed(ms, res)
      if (closed) return
    } else if (SET_COOKIE_PATH.test(pathname)) {
      Object.assign(extra, SET_COOKIE_FIELDS)
    } else if (LEAKY_PATH.test(pathname)) {
      Object.assign(extra, leakyFields(req.headers))
    }
    sendJson(res, status, record, extra)
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const bound = (server.address() as AddressInfo).port
  const urlHost = host.includes(':') ? `[${host}]` : host

  return {
    url: `http://${urlHost}:${bound}`,
    requests: () => log.slice(),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()))
        server.closeAllConnections()
      }),
  }
}

async function readBody(req: http.IncomingMessage): Promise<Buffer | 'too_large'> {
  const chunks: Buffer[] = []
  let total = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    total += chunk.length
    if (total > MAX_BODY_BYTES) {
      req.resume()
      return 'too_large'
    }
    chunks.push(chunk)
  }
  return Buffer.concat(chunks, total)
}

/** Resolves true if the client went away during the wait (nothing left to answer). */
function sleepUnlessClosed(ms: number, res: http.ServerResponse): Promise<boolean> {
  return new Promise((resolve) => {
    const onClose = () => {
      clearTimeout(timer)
      resolve(true)
    }
    const timer = setTimeout(() => {
      res.off('close', onClose)
      resolve(false)
    }, ms)
    res.once('close', onClose)
  })
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  value: unknown,
  extra: Record<string, string | string[]> = {},
): void {
  if (status === 204 || status === 304) {
    // No body and no Content-Length on these (RFC 9110 §8.6, §15.3.5).
    res.writeHead(status, { ...extra, 'cache-control': 'no-store' })
    res.end()
    return
  }
  const text = JSON.stringify(value)
  res.writeHead(status, {
    ...extra,
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  })
  res.end(text)
}

function joinHeaders(headers: http.IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {}
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined) out[name] = Array.isArray(value) ? value.join(', ') : value
  }
  return out
}

function pairs(raw: string[]): [string, string][] {
  const out: [string, string][] = []
  for (let i = 0; i + 1 < raw.length; i += 2) out.push([raw[i] as string, raw[i + 1] as string])
  return out
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { port: { type: 'string', default: '0' }, host: { type: 'string', default: '127.0.0.1' } },
  })
  const port = Number(values.port)
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`--port must be an integer from 0 to 65535, got ${values.port}`)
  }
  const echo = await startEchoUpstream({ host: values.host, port })
  console.log(`echo upstream listening on ${echo.url}`)
  const stop = () => {
    echo.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => {
    console.error(`echo upstream: ${err instanceof Error ? err.message : String(err)}`)
    process.exit(1)
  })
}

// The HTTP plumbing of upstash-local: bearer-token check, body reading with a size cap, JSON answers in the
// shape Upstash REST uses, and listening on a port. Nothing here knows Redis or faults.
import { createHash, timingSafeEqual } from 'node:crypto'
import type http from 'node:http'

export type JsonBody = { ok: true; value: unknown } | { ok: false; status: number; error: string }

const MAX_BODY_BYTES = 10 * 1024 * 1024

export function isAuthorized(req: http.IncomingMessage, token: string): boolean {
  const presented = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.headers.authorization ?? '')?.[1]
  if (presented === undefined) return false
  const digest = (value: string) => createHash('sha256').update(value).digest()
  return timingSafeEqual(digest(presented), digest(token))
}

export function wantsBase64(req: http.IncomingMessage): boolean {
  const value = req.headers['upstash-encoding']
  return typeof value === 'string' && value.trim().toLowerCase() === 'base64'
}

export async function readJsonBody(req: http.IncomingMessage): Promise<JsonBody> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length
    if (size <= MAX_BODY_BYTES) chunks.push(chunk)
  }
  if (size > MAX_BODY_BYTES)
    return { ok: false, status: 413, error: `ERR request body larger than ${MAX_BODY_BYTES} bytes` }
  try {
    return { ok: true, value: JSON.parse(Buffer.concat(chunks).toString('utf8')) }
  } catch {
    return { ok: false, status: 400, error: 'ERR failed to parse the request body as JSON' }
  }
}

export function sendJson(
  res: http.ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': String(Buffer.byteLength(text)),
    ...headers,
  })
  res.end(text)
}

export function sendUnauthorized(res: http.ServerResponse): void {
  sendJson(res, 401, { error: 'WRONGPASS invalid or missing auth token' }, { 'www-authenticate': 'Bearer' })
}

export function listen(server: http.Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.removeListener('error', reject)
      const address = server.address()
      if (address === null || typeof address === 'string') return reject(new Error('upstash-local: no TCP address'))
      resolve({ host, port: address.port })
    })
  })
}

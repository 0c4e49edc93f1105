/**
 * A tiny static file server for the example pages (`npm run dev` serves examples/spa on its own origin, and the
 * browser test loads it from there). Development only: GET and HEAD, files directly in `root` (no directories,
 * no dot files), on a loopback address.
 */
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
}
/** A file name this server may answer: letters, digits, `-`, `_` and one extension it knows. */
const FILE_NAME = /^[A-Za-z0-9_-]+\.(html|js|css)$/

export interface StaticServer {
  /** `http://host:port`, the page's origin. */
  url: string
  close(): Promise<void>
}

/**
 * Serves the files of `root` (`/` is `index.html`) on `host:port` (0: any free port).
 * @example const spa = await startStaticServer({ root: 'examples/spa', port: 8790 })
 */
export async function startStaticServer({
  root,
  host = '127.0.0.1',
  port = 0,
}: {
  root: string
  host?: string
  port?: number
}): Promise<StaticServer> {
  const server = http.createServer((req, res) => {
    const name = (req.url ?? '/').split('?', 1)[0]?.slice(1) || 'index.html'
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end()
      return
    }
    if (!FILE_NAME.test(name)) {
      res.writeHead(404).end()
      return
    }
    readFile(path.join(root, name)).then(
      (body) => {
        const type = TYPES[path.extname(name)] ?? 'application/octet-stream'
        res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' })
        res.end(req.method === 'HEAD' ? undefined : body)
      },
      () => res.writeHead(404).end(),
    )
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, resolve)
  })
  const address = server.address() as AddressInfo
  return {
    url: `http://${host}:${address.port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  }
}

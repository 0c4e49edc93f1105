// Port helpers for the local test services. Loopback only; nothing here reaches the network.
import net from 'node:net'

const RETRY_DELAY_MS = 25

/** Asks the OS for a currently unused TCP port on `host`. Another process may still take it before you bind. */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.unref()
    server.once('error', reject)
    server.listen(0, host, () => {
      const { port } = server.address() as net.AddressInfo
      server.close(() => resolve(port))
    })
  })
}

/** Resolves once a TCP connection to `host:port` succeeds; rejects after `timeoutMs`. */
export async function waitForPort(port: number, host = '127.0.0.1', timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await canConnect(port, host))) {
    if (Date.now() >= deadline) throw new Error(`nothing is listening on ${host}:${port} after ${timeoutMs} ms`)
    await sleep(RETRY_DELAY_MS)
  }
}

function canConnect(port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms))
}

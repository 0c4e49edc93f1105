// The test-only side of upstash-local: the `/__control/*` endpoints (faults, stats, script flush), behind the same
// bearer token and only when fault control is on, and what an injected fault does to a request.
import type http from 'node:http'
import { FAULT_MODES, type FaultMode, normalizePrefix, readStats, resetStats, setFault } from './upstash-faults.ts'
import type { ServerState } from './upstash-handler.ts'
import { isAuthorized, readJsonBody, sendJson, sendUnauthorized } from './upstash-http.ts'
import { execute } from './upstash-redis.ts'

const CONTROL_ACTIONS = new Set(['fault', 'stats', 'stats/reset', 'scripts/flush'])

/** What an active fault does to a request: drop its connection, answer 500, or hold it until the fault clears. */
export function applyFault(
  state: ServerState,
  fault: { mode: Exclude<FaultMode, 'none' | 'slow'>; scope: string },
  req: http.IncomingMessage,
  res: http.ServerResponse,
): void {
  if (fault.mode === 'refuse') {
    req.socket.destroy()
  } else if (fault.mode === 'error500') {
    sendJson(res, 500, { error: 'injected fault' })
  } else {
    const hung = state.hung.get(fault.scope) ?? new Set()
    state.hung.set(fault.scope, hung)
    hung.add(res)
    res.once('close', () => hung.delete(res))
  }
}

/** `/__control/<action>`: the token first, then fault control must be on and the action known. */
export async function handleControl(
  state: ServerState,
  action: string,
  url: URL,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  // The token comes first, so a caller without it learns nothing, not even whether fault control is on.
  if (!isAuthorized(req, state.token)) return sendUnauthorized(res)
  if (!state.faultControl || !CONTROL_ACTIONS.has(action)) {
    return sendJson(res, 404, { error: `ERR unknown control endpoint ${url.pathname}` })
  }
  const prefix = url.searchParams.get('prefix') ?? undefined
  try {
    if (action === 'stats' && req.method === 'GET') return sendJson(res, 200, readStats(state, prefix))
    if (action === 'stats/reset' && req.method === 'POST') {
      resetStats(state, prefix)
      return sendJson(res, 200, readStats(state, prefix))
    }
    if (action === 'fault' && req.method === 'POST') return await controlFault(state, req, res)
    if (action === 'scripts/flush' && req.method === 'POST') {
      await flushScripts(state)
      return sendJson(res, 200, { flushed: true })
    }
  } catch (err) {
    if (err instanceof TypeError) return sendJson(res, 400, { error: `ERR ${err.message}` })
    throw err
  }
  return sendJson(res, 405, { error: 'ERR method not allowed' }, { allow: action === 'stats' ? 'GET' : 'POST' })
}

/** SCRIPT FLUSH on the shared connection: clients may not send it themselves. */
export async function flushScripts(state: ServerState): Promise<void> {
  const outcome = await execute(state.shared, { name: 'SCRIPT', args: ['FLUSH'] })
  if ('error' in outcome) throw new Error(`upstash-local: SCRIPT FLUSH failed: ${outcome.error}`)
}

async function controlFault(state: ServerState, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const body = await readJsonBody(req)
  if (!body.ok) return sendJson(res, body.status, { error: body.error })
  const { mode, durationMs, prefix } = (body.value ?? {}) as { mode?: unknown; durationMs?: unknown; prefix?: unknown }
  if (typeof mode !== 'string' || !FAULT_MODES.includes(mode as FaultMode)) {
    return sendJson(res, 400, { error: `ERR mode must be one of ${FAULT_MODES.join(', ')}` })
  }
  if (durationMs !== undefined && typeof durationMs !== 'number')
    return sendJson(res, 400, { error: 'ERR durationMs must be a number' })
  if (prefix !== undefined && typeof prefix !== 'string')
    return sendJson(res, 400, { error: 'ERR prefix must be a string' })
  setFault(state, mode as FaultMode, durationMs, prefix)
  return sendJson(res, 200, { mode, durationMs: durationMs ?? null, prefix: normalizePrefix(prefix) })
}

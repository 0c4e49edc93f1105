// What upstash-local does with one request: route it by path (a lane prefix, then `/`, `/pipeline` or
// `/multi-exec`), apply a lane's fault, check the token, and run the command or batch on Redis.
import type http from 'node:http'
import { asCommand, asCommandList, type Executable, prepareCommand, type ScriptRegistry } from './upstash-commands.ts'
import { applyFault, handleControl } from './upstash-control.ts'
import { activeFault, count, type FaultState } from './upstash-faults.ts'
import { isAuthorized, readJsonBody, sendJson, sendUnauthorized, wantsBase64 } from './upstash-http.ts'
import {
  execute,
  outcomeToJson,
  type RedisConnection,
  RedisUnavailableError,
  runPipeline,
  runTransaction,
  toJson,
} from './upstash-redis.ts'

/** One server's state: its Redis connections, the scripts it has seen, its token, faults and counters. */
export interface ServerState extends FaultState {
  scripts: ScriptRegistry
  shared: RedisConnection
  transactions: RedisConnection
  token: string
  faultControl: boolean
  /** The last `upstash-sync-token` sent: a counter. */
  syncTokens: number
}

type Endpoint = 'single' | 'pipeline' | 'multi-exec'
type Route = { kind: Endpoint | 'unknown'; lane: string } | { kind: 'control'; action: string }

/** Answers one request; an error it throws is the caller's to turn into a 500. */
export async function handleRequest(
  state: ServerState,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const url = new URL(req.url ?? '/', 'http://upstash-local')
  const route = parseRoute(url.pathname)
  if (route.kind === 'control') return handleControl(state, route.action, url, req, res)

  count(state, route.lane, 'requests', 1)
  const fault = activeFault(state, route.lane)
  if (fault?.mode === 'slow') await new Promise((resolve) => setTimeout(resolve, state.slowLatencyMs))
  else if (fault) return applyFault(state, { mode: fault.mode, scope: fault.scope }, req, res)
  if (route.kind === 'unknown') return sendJson(res, 404, { error: `ERR unknown endpoint ${url.pathname}` })
  if (req.method !== 'POST') return sendJson(res, 405, { error: 'ERR method not allowed, use POST' }, { allow: 'POST' })
  if (!isAuthorized(req, state.token)) return sendUnauthorized(res)

  const body = await readJsonBody(req)
  if (!body.ok) return sendJson(res, body.status, { error: body.error })
  const base64 = wantsBase64(req)
  try {
    if (route.kind === 'single') return await runSingle(state, route.lane, body.value, base64, res)
    return await runBatch(state, route.lane, route.kind, body.value, base64, res)
  } catch (err) {
    if (!(err instanceof RedisUnavailableError)) throw err
    return sendJson(res, 503, { error: `ERR upstash-local cannot reach Redis: ${err.message}` })
  }
}

/**
 * The `upstash-sync-token` of a 200 answer. Upstash sends one with each write's answer, for read-your-writes; a
 * fresh one with every answer here, so clients exercise the exchange locally (a single Redis has nothing to wait
 * for, and the token a request carries is ignored).
 */
function synced(state: ServerState): Record<string, string> {
  state.syncTokens += 1
  return { 'upstash-sync-token': `local-${state.syncTokens}` }
}

function parseRoute(pathname: string): Route {
  const segments = pathname.split('/').filter(Boolean)
  if (segments[0] === '__control') return { kind: 'control', action: segments.slice(1).join('/') }
  const endpoint = (segment: string | undefined): Endpoint | undefined =>
    segment === 'pipeline' || segment === 'multi-exec' ? segment : undefined
  // A base URL may carry one path segment as a prefix (`http://host/prefix`); the client appends `/pipeline`.
  if (segments.length === 0) return { kind: 'single', lane: '' }
  if (segments.length === 1) {
    const kind = endpoint(segments[0])
    return kind ? { kind, lane: '' } : { kind: 'single', lane: `/${segments[0]}` }
  }
  const lane = `/${segments[0]}`
  return segments.length === 2 ? { kind: endpoint(segments[1]) ?? 'unknown', lane } : { kind: 'unknown', lane }
}

async function runSingle(state: ServerState, lane: string, value: unknown, base64: boolean, res: http.ServerResponse) {
  const command = asCommand(value)
  if (typeof command === 'string') return sendJson(res, 400, { error: command })
  const prepared = prepareCommand(command, state.scripts)
  if ('rejected' in prepared) return sendJson(res, 400, { error: prepared.rejected })
  count(state, lane, 'commands', 1)
  const outcome = await execute(state.shared, prepared)
  if ('error' in outcome) return sendJson(res, 400, { error: outcome.error })
  return sendJson(res, 200, { result: toJson(outcome.result, base64) }, synced(state))
}

async function runBatch(
  state: ServerState,
  lane: string,
  kind: 'pipeline' | 'multi-exec',
  value: unknown,
  base64: boolean,
  res: http.ServerResponse,
) {
  const commands = asCommandList(value)
  if (typeof commands === 'string') return sendJson(res, 400, { error: commands })
  const prepared = commands.map((command) => prepareCommand(command, state.scripts))
  const executable = prepared.filter((p): p is Executable => !('rejected' in p))
  if (kind === 'multi-exec' && executable.length < prepared.length) {
    return sendJson(res, 400, { error: (prepared.find((p) => 'rejected' in p) as { rejected: string }).rejected })
  }
  count(state, lane, 'commands', executable.length)
  const outcomes =
    kind === 'pipeline'
      ? await runPipeline(state.shared, prepared)
      : await runTransaction(state.transactions, executable)
  if (!Array.isArray(outcomes)) return sendJson(res, 400, outcomes)
  return sendJson(
    res,
    200,
    outcomes.map((outcome) => outcomeToJson(outcome, base64)),
    synced(state),
  )
}

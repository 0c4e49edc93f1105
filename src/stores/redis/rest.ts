/**
 * A thin client for the Upstash Redis REST API: only the commands the worker sends, as plain JSON over `fetch`.
 * It stands in for @upstash/redis in the worker (README "Security model" says why): the same call signatures for
 * these commands, replies not deserialized (strings stay strings, integers numbers, nil `null`), one request per
 * call (no auto-pipelining), and a call fails in one of three ways only: a network error that outlived its
 * retries, the timeout, or an `UpstashError` that carries Redis's own text (`NOSCRIPT …`, `ERR …`).
 *
 * Wire format (https://upstash.com/docs/redis/features/restapi): `POST {url}` with `["cmd", arg, …]` answers
 * `{"result": …}` or `{"error": …}`; `POST {url}/pipeline` with `[[…], …]` answers one of those per command, in
 * order. No `Upstash-Encoding: base64`: every value the worker stores or reads is ASCII (hex keys, digits,
 * `PONG`, `OK`), so JSON carries it exactly and there is nothing to decode.
 */

export interface UpstashRestOptions {
  /** The REST URL (`https://<db>.upstash.io`); a path such as `/lane-1` is kept. */
  url: string
  token: string
  /** One timer per call, covering every retry of it: a dead Upstash costs at most this. */
  timeoutMs: number
  /** Further attempts after a network error (never after an answer, whatever its status). */
  retries: number
}

/** SET's options the worker uses, spelled as @upstash/redis spells them. */
export interface SetOptions {
  /** Expire after this many seconds. */
  ex?: number
}

export interface UpstashRestPipeline {
  set<TData>(key: string, value: TData, opts?: SetOptions): UpstashRestPipeline
  /** Sends the queued commands as one request; rejects if any of them failed. */
  exec<TResult extends unknown[] = unknown[]>(): Promise<TResult>
}

/**
 * The @upstash/redis methods the worker calls, with their signatures, so stores need no change but the type.
 * `get`, `mget` and `del` are not on the request path: tests and tooling use them to read and reset keys.
 */
export interface UpstashRest {
  ping(): Promise<string>
  get<TData>(key: string): Promise<TData | null>
  mget<TData extends unknown[]>(...keys: string[]): Promise<TData>
  set<TData>(key: string, value: TData, opts?: SetOptions): Promise<'OK' | TData | null>
  del(...keys: string[]): Promise<number>
  eval<TArgs extends unknown[], TData = unknown>(script: string, keys: string[], args: TArgs): Promise<TData>
  evalsha<TArgs extends unknown[], TData = unknown>(sha1: string, keys: string[], args: TArgs): Promise<TData>
  pipeline(): UpstashRestPipeline
}

/** Upstash answered, with an error: the message holds Redis's text (`NOSCRIPT …`), never the token. */
export class UpstashError extends Error {
  override name = 'UpstashError'
}

type Arg = string | number | boolean
type Command = [name: string, ...args: Arg[]]

/** Backoff between attempts, in ms: short, because the whole call shares one timeout. */
const RETRY_BACKOFF_MS = 25

/**
 * Commands Upstash runs on the primary region, which has every write: writes, and scripts (only their read-only
 * forms, `EVAL_RO` and `EVALSHA_RO`, may be answered by a replica:
 * https://upstash.com/docs/redis/commands/scripting/evalsha-ro). A sync token only makes a replica wait until it
 * has caught up, so these are sent without one, which spares each call a copy of its headers (the admission script,
 * on every request that asks Upstash, among them). A command not listed here carries the token.
 */
const ON_PRIMARY: ReadonlySet<string> = new Set(['set', 'del', 'eval', 'evalsha'])

/** How much of an unparseable reply an error quotes. */
const QUOTED_REPLY_CHARS = 200

/** As @upstash/redis serializes an argument: strings, numbers and booleans as they are, anything else as JSON. */
function arg(value: unknown): Arg {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean'
    ? value
    : (JSON.stringify(value) as string)
}

function setCommand(key: string, value: unknown, opts: SetOptions | undefined): Command {
  const command: Command = ['set', key, arg(value)]
  if (opts?.ex !== undefined) command.push('ex', opts.ex)
  return command
}

function scriptCommand(name: 'eval' | 'evalsha', body: string, keys: string[], args: unknown[]): Command {
  return [name, body, keys.length, ...keys, ...args.map(arg)]
}

interface Reply {
  result?: unknown
  error?: unknown
}

/**
 * @example
 * const redis = createUpstashRest({ url, token, timeoutMs: 1_000, retries: 1 })
 * const [a, b] = await redis.mget<(string | null)[]>('k1', 'k2')
 */
export function createUpstashRest(options: UpstashRestOptions): UpstashRest {
  const base = options.url.replace(/\/$/, '')
  const authorization = `Bearer ${options.token}`
  // Read-your-writes, as @upstash/redis keeps it: echo the newest sync token Upstash sent, so a read after a
  // write through this client is not answered by a replica that has not seen the write yet. Only reads carry it
  // (ON_PRIMARY); every answer updates it.
  let syncToken = ''

  const fail = (name: string, text: string): never => {
    const safe = options.token === '' ? text : text.replaceAll(options.token, '<token>')
    throw new UpstashError(`Upstash ${name}: ${safe}`)
  }

  // Built once, by the first call: a request copies the Headers it is given, which the runtime does for less than
  // it converts a record. Built in a call, so a token the Headers API refuses (a line break in it) fails the
  // Upstash calls, each with its documented failure mode, rather than the gateway's construction.
  let fixedHeaders: Headers | undefined

  /**
   * POSTs `body` and returns the parsed reply; retries network errors only, all under one timeout. `onPrimary`:
   * every command of it runs on the primary (ON_PRIMARY), so it goes without the sync token.
   */
  const send = async (path: string, body: unknown, name: string, onPrimary: boolean): Promise<unknown> => {
    fixedHeaders ??= new Headers({ authorization, 'content-type': 'application/json' })
    const signal = AbortSignal.timeout(options.timeoutMs)
    let headers = fixedHeaders
    if (syncToken !== '' && !onPrimary) {
      headers = new Headers(fixedHeaders)
      headers.set('upstash-sync-token', syncToken)
    }
    const init: RequestInit = { method: 'POST', headers, body: JSON.stringify(body), signal }
    let response: Response
    for (let attempt = 0; ; attempt++) {
      try {
        response = await fetch(base + path, init)
        break
      } catch (error) {
        // An abort is the timeout: final. Anything else from fetch is the network: try again while allowed.
        if (signal.aborted || attempt >= options.retries) throw error
        await new Promise((resolve) => setTimeout(resolve, RETRY_BACKOFF_MS))
        signal.throwIfAborted()
      }
    }
    const text = await response.text()
    let reply: unknown
    try {
      reply = JSON.parse(text)
    } catch {
      return fail(name, `HTTP ${response.status}, not JSON: ${text.slice(0, QUOTED_REPLY_CHARS)}`)
    }
    const error = (reply as Reply | null)?.error
    if (!response.ok || error !== undefined) {
      return fail(name, error === undefined ? `HTTP ${response.status}` : String(error))
    }
    syncToken = response.headers.get('upstash-sync-token') ?? syncToken
    return reply
  }

  const command = async <T>(cmd: Command): Promise<T> => {
    const reply = (await send('', cmd, cmd[0], ON_PRIMARY.has(cmd[0]))) as Reply | null
    if (reply === null || typeof reply !== 'object' || !('result' in reply)) return fail(cmd[0], 'reply without result')
    return reply.result as T
  }

  return {
    ping: () => command(['ping']),
    get: (key) => command(['get', key]),
    mget: (...keys) => command(['mget', ...keys]),
    set: (key, value, opts) => command(setCommand(key, value, opts)),
    del: (...keys) => command(['del', ...keys]),
    eval: (script, keys, args) => command(scriptCommand('eval', script, keys, args)),
    evalsha: (sha1, keys, args) => command(scriptCommand('evalsha', sha1, keys, args)),
    pipeline() {
      const commands: Command[] = []
      const pipeline: UpstashRestPipeline = {
        set(key, value, opts) {
          commands.push(setCommand(key, value, opts))
          return pipeline
        },
        async exec<TResult extends unknown[]>() {
          if (commands.length === 0) throw new TypeError('Upstash pipeline: no commands')
          const onPrimary = commands.every(([name]) => ON_PRIMARY.has(name))
          const replies = await send('/pipeline', commands, 'pipeline', onPrimary)
          if (!Array.isArray(replies) || replies.length !== commands.length) {
            return fail('pipeline', 'reply does not match the commands')
          }
          return replies.map((reply: Reply | null, i) => {
            if (reply?.error !== undefined)
              return fail(`pipeline command ${i} (${commands[i]?.[0]})`, String(reply.error))
            return reply?.result
          }) as TResult
        },
      }
      return pipeline
    },
  }
}

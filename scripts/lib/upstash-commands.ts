// What a REST request may ask of Redis: the JSON body checked and turned into one Redis command, with the Lua
// script rewrite that lets @upstash/ratelimit's Upstash-only script flag run on a stock redis-server.
import { createHash } from 'node:crypto'

export type Scalar = string | number | boolean | null
export type Command = Scalar[]
export type Executable = {
  name: string
  args: string[]
  finish?: (reply: unknown) => unknown
  /** What to run instead when Redis answers NOSCRIPT (its script cache was flushed or it restarted). */
  fallback?: Executable
}
export type Prepared = Executable | { rejected: string }
/** Client SHA-1 of a script as sent → the body Redis accepts and its SHA-1. */
export type ScriptRegistry = Map<string, { serverSha: string; body: string }>

const ALLOW_KEY_LOCKING = 'allow-key-locking'
// The only commands forwarded, as `NAME` (any form) or `NAME SUBCOMMAND` (that one only): whatever the gateway, its
// libraries and its tests send. Anything else could wipe, reconfigure, stop or block the Redis behind every test and
// dev session, so it is refused before it reaches Redis. Lua scripts still call what they like: this is no sandbox.
const ALLOWED_COMMANDS = allowList([
  // The gateway: health probe, revocation check and writes, lockout/revocation/admission scripts, limit reset.
  ['PING', 'MGET', 'SET', 'DEL', 'EVAL', 'EVALSHA'],
  // @upstash/ratelimit as the gateway configures it (one region, no deny list, analytics or dynamic limits).
  ['EVALSHA', 'EVAL'],
  // @upstash/redis script helpers (scriptLoad, scriptExists, evalRo, evalshaRo) that the conformance suite checks.
  ['SCRIPT LOAD', 'SCRIPT EXISTS', 'EVAL_RO', 'EVALSHA_RO'],
  // Tests that seed or inspect Redis behind the gateway's back.
  ['GET', 'EXISTS', 'TTL', 'PTTL', 'ZCARD', 'KEYS', 'INCR', 'INCRBY', 'EXPIRE', 'STRLEN'],
])

export function asCommand(value: unknown): Command | string {
  if (!Array.isArray(value)) return 'ERR the request body must be a JSON array: ["command", ...args]'
  if (value.length === 0) return 'ERR empty command'
  if (typeof value[0] !== 'string' || value[0] === '') return 'ERR the command name must be a non-empty string'
  if (!value.every(isScalar)) return 'ERR command arguments must be strings, numbers, booleans or null'
  return value
}

export function asCommandList(value: unknown): Command[] | string {
  if (!Array.isArray(value) || value.length === 0)
    return 'ERR the request body must be a non-empty JSON array of commands'
  const commands: Command[] = []
  for (const item of value) {
    const command = asCommand(item)
    if (typeof command === 'string') return command
    commands.push(command)
  }
  return commands
}

function isScalar(value: unknown): value is Scalar {
  return value === null || ['string', 'number', 'boolean'].includes(typeof value)
}

// Upstash REST argument conversion: numbers in decimal, booleans as words, JSON null as "".
function toRedisArg(value: Scalar): string {
  return value === null ? '' : String(value)
}

export function prepareCommand(command: Command, scripts: ScriptRegistry): Prepared {
  const name = String(command[0]).toUpperCase()
  const args = command.slice(1).map(toRedisArg)
  const refused = refusal(name, args)
  if (refused !== undefined) return { rejected: refused }
  if (name === 'EVAL' || name === 'EVAL_RO') return prepareEval(name, args, scripts)
  if (name === 'EVALSHA' || name === 'EVALSHA_RO') return prepareEvalsha(name, args, scripts)
  if (name === 'SCRIPT') return prepareScript(args, scripts)
  // Upper case also keeps ioredis's reply transformers (keyed by lower-case names, e.g. hgetall) out of the way.
  return { name, args }
}

/** The error for a command outside the allow-list (`name` upper case), or undefined if it may run. */
function refusal(name: string, args: string[]): string | undefined {
  const allowed = ALLOWED_COMMANDS.get(name)
  const subcommand = args[0]?.toUpperCase()
  if (allowed === 'any' || (subcommand !== undefined && allowed?.has(subcommand))) return undefined
  const refused = allowed === undefined || subcommand === undefined ? name : `${name} ${subcommand}`
  return `ERR command '${refused.toLowerCase()}' is not supported by upstash-local`
}

function allowList(groups: string[][]): ReadonlyMap<string, 'any' | ReadonlySet<string>> {
  const allowed = new Map<string, 'any' | Set<string>>()
  for (const [name = '', subcommand] of groups.flat().map((entry) => entry.split(' '))) {
    const known = allowed.get(name)
    if (subcommand === undefined) allowed.set(name, 'any')
    else if (known !== 'any') allowed.set(name, (known ?? new Set()).add(subcommand))
  }
  return allowed
}

// ---------------------------------------------------------------- Lua scripts

function prepareEval(name: string, args: string[], scripts: ScriptRegistry): Prepared {
  const [script, ...rest] = args
  const rewritten = script === undefined ? undefined : registerScript(script, scripts)
  return { name, args: rewritten === undefined ? args : [rewritten, ...rest] }
}

// A known client SHA becomes EVALSHA of the rewritten script's SHA, as Upstash runs it: by hash, without the body
// crossing to Redis and being hashed again on every call. When Redis no longer has it (SCRIPT FLUSH, a restart),
// EVAL of the stored body runs instead, so the client never sees a NOSCRIPT its Upstash would not send.
function prepareEvalsha(name: string, args: string[], scripts: ScriptRegistry): Prepared {
  const [sha, ...rest] = args
  const known = sha === undefined ? undefined : scripts.get(sha.toLowerCase())
  if (!known) return { name, args }
  const fallback = { name: name === 'EVALSHA' ? 'EVAL' : 'EVAL_RO', args: [known.body, ...rest] }
  return { name, args: [known.serverSha, ...rest], fallback }
}

function prepareScript(args: string[], scripts: ScriptRegistry): Prepared {
  const [subcommand = '', original, ...others] = args
  if (subcommand.toUpperCase() === 'LOAD' && original !== undefined && others.length === 0) {
    const rewritten = registerScript(original, scripts)
    if (rewritten === undefined) return { name: 'SCRIPT', args }
    const clientSha = sha1(original)
    const finish = (reply: unknown) => (Buffer.isBuffer(reply) ? Buffer.from(clientSha) : reply)
    return { name: 'SCRIPT', args: ['LOAD', rewritten], finish }
  }
  if (subcommand.toUpperCase() === 'EXISTS') {
    const shas = args.slice(1).map((sha) => scripts.get(sha.toLowerCase())?.serverSha ?? sha)
    return { name: 'SCRIPT', args: [subcommand, ...shas] }
  }
  return { name: 'SCRIPT', args }
}

/** Returns the script Redis will accept, remembering it under the client's SHA, or undefined if unchanged. */
function registerScript(script: string, scripts: ScriptRegistry): string | undefined {
  const unflagged = withoutAllowKeyLocking(script)
  if (unflagged === undefined) return undefined
  const rewritten = withDeclaredKeysOnly(unflagged)
  scripts.set(sha1(script), { serverSha: sha1(rewritten), body: rewritten })
  return rewritten
}

// With `allow-key-locking`, Upstash locks the keys a script declares in KEYS and requires that it touch no other
// key. redis-server does not check that, so a script that reads or writes an undeclared key would pass every local
// test and fail on Upstash. This prelude shadows `redis` for the script with a `call` that refuses such a key:
// commands whose first argument is a key are checked on it, MGET/DEL/EXISTS/UNLINK on every argument, TIME and
// PING on none. It goes at the start of line 2, so line numbers in Redis's error messages stay the same.
const KEY_GUARD =
  'local redis = (function(r) local declared = {} for _, k in ipairs(KEYS) do declared[k] = true end ' +
  'local keyless = { TIME = true, PING = true } local every = { MGET = true, DEL = true, EXISTS = true, UNLINK = true } ' +
  'local function check(cmd, ...) local name = string.upper(cmd) if keyless[name] then return end ' +
  'local args = { ... } local keys = every[name] and args or { args[1] } for _, k in ipairs(keys) do ' +
  "if not declared[k] then error('upstash-local: ' .. name .. ' on key ' .. tostring(k) .. ' not declared in KEYS " +
  "(allow-key-locking)') end end end " +
  'return setmetatable({ call = function(cmd, ...) check(cmd, ...) return r.call(cmd, ...) end, ' +
  'pcall = function(cmd, ...) check(cmd, ...) return r.pcall(cmd, ...) end }, { __index = r }) end)(redis) '

/** `script` (its shebang already without the flag) with the undeclared-key guard at the start of line 2. */
export function withDeclaredKeysOnly(script: string): string {
  const end = script.indexOf('\n')
  return end === -1 ? `${script}\n${KEY_GUARD}` : `${script.slice(0, end + 1)}${KEY_GUARD}${script.slice(end + 1)}`
}

// `allow-key-locking` exists only on Upstash; redis-server 7 rejects the whole script because of it.
// Only the flag is removed, so line numbers and the rest of the body stay byte-for-byte the same.
export function withoutAllowKeyLocking(script: string): string | undefined {
  if (!script.startsWith('#!lua')) return undefined
  const end = script.indexOf('\n')
  const firstLine = end === -1 ? script : script.slice(0, end)
  const rewrittenLine = firstLine.replace(/([ \t]+)flags=(\S*)/, (_match, space: string, list: string) => {
    const kept = list.split(',').filter((flag) => flag !== ALLOW_KEY_LOCKING)
    return kept.length > 0 ? `${space}flags=${kept.join(',')}` : ''
  })
  if (rewrittenLine === firstLine) return undefined
  return rewrittenLine + (end === -1 ? '' : script.slice(end))
}

function sha1(text: string): string {
  return createHash('sha1').update(text, 'utf8').digest('hex')
}

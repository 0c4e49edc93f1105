/**
 * workerd logs some failures as "uncaught exception" even when the worker handled them (a fetch to a closed port
 * that the caller catches, the request-body pump of an upload the gateway aborted), and the vitest plugin prints
 * every runtime log to stdout with no way to configure it. A passing run printed dozens of these, hiding real
 * failures. This drops exactly those known lines, whole, and counts them; anything else passes through.
 */

interface ExpectedRuntimeLog {
  /** Why a passing run prints it. */
  why: string
  /** Matched against the whole log entry (one write, trailing newline removed). */
  pattern: RegExp
}

/** workerd's unsymbolized native stack, on the line after a native exception. */
const NATIVE_STACK = String.raw`\nstack:(?: [^\s]+@[0-9a-f]+)+`
/** One JS frame in a file of the repository: `    at Object.pull (/…/src/upstream/limit-body.ts:60:19)`. */
const pullFrameIn = (file: string) =>
  String.raw`\n    at Object\.pull \([^()\n]*/${file.replaceAll('.', '\\.')}:\d+:\d+\)`
/** workerd's prefix for a rejection it saw no handler for. */
const UNCAUGHT = String.raw`uncaught exception; source = Uncaught \(in promise\); stack = `
/** A native `disconnected` exception from `place` with `message`, and its stack. */
const disconnected = (place: string, message: string) =>
  String.raw`exception = ${place}:\d+: disconnected: ${message}${NATIVE_STACK}`
/** Node's stream code turning a zlib failure into a TypeError, then only node-internal frames. */
const ZLIB_FAILURE_FRAMES =
  String.raw`\n    at handleKnownInternalErrors \(node-internal:streams_util:\d+:\d+\)` +
  String.raw`(?:\n    at [^\n]*node-internal:[^\n]*)+`
/** The whole entry, nothing before or after. */
const exact = (source: string) => new RegExp(`^${source}$`)

export const EXPECTED_RUNTIME_LOGS: readonly ExpectedRuntimeLog[] = [
  {
    why: 'a subrequest failed to connect (tests against a closed port); the caller catches the rejection',
    pattern: exact(disconnected(String.raw`rust/worker/ffi\.rs`, String.raw`Connection refused \(os error 111\)`)),
  },
  {
    why: 'an upload the gateway aborted mid-body (body over the limit, client gone); the caller catches it',
    pattern: exact(disconnected(String.raw`rust/worker/ffi\.rs`, String.raw`client error \(SendRequest\)`)),
  },
  {
    why: 'the request-body pipe of an aborted upload',
    pattern: exact(disconnected(String.raw`kj/async-io\.c\+\+`, 'read end of pipe was aborted')),
  },
  {
    why: "workerd's report of the same failed subrequest (no JS frame: the runtime's own promise)",
    pattern: exact(String.raw`${UNCAUGHT}Error: Network connection lost\.`),
  },
  {
    why: "workerd's report of the same failed subrequest, native side",
    pattern: exact(
      `uncaught exception; ${disconnected(String.raw`workerd/jsg/value\.h`, String.raw`jsg\.Error: Network connection lost\.`)}`,
    ),
  },
  {
    why: 'limitBodyStream erroring a body over the limit: the upload was aborted first, and forward() answers 413',
    pattern: exact(
      String.raw`${UNCAUGHT}BodyLimitExceededError: request body exceeds \d+ bytes${pullFrameIn('src/upstream/limit-body.ts')}`,
    ),
  },
  {
    why: 'watchTopLevelMembers erroring a JSON body that names `_method`: the upload was aborted first, and forward() answers 400',
    pattern: exact(
      `${UNCAUGHT}RefusedMemberError: the body names a refused top-level member${pullFrameIn('src/upstream/json-members.ts')}`,
    ),
  },
  {
    why: 'inflate() erroring an upload with bytes after its compressed stream: the upload was aborted, forward() answers 400',
    pattern: exact(
      `${UNCAUGHT}TrailingDataError: data after the end of the compressed stream${pullFrameIn('src/upstream/content-coding.ts')}`,
    ),
  },
  {
    why: "forward.test.ts's fault injection: a client body that fails mid-stream (forward() answers 400)",
    pattern: exact(`${UNCAUGHT}TypeError: client went away${pullFrameIn('src/upstream/forward.test.ts')}`),
  },
  {
    why: 'node:zlib refusing a corrupt compressed body (forward() answers 400); every frame is node-internal',
    pattern: exact(`${UNCAUGHT}TypeError: ${ZLIB_FAILURE_FRAMES}`),
  },
]

/** True when `entry` (one runtime log write) is one of the known lines, as a whole. */
export function isExpectedRuntimeLog(entry: string): boolean {
  const text = entry.endsWith('\n') ? entry.slice(0, -1) : entry
  return EXPECTED_RUNTIME_LOGS.some(({ pattern }) => pattern.test(text))
}

type Write = NodeJS.WriteStream['write']

/**
 * Wraps `stream.write` so that known runtime log lines are dropped; returns how many were. Install once, in the
 * Vitest configuration (the main process, where the plugin writes runtime logs).
 *
 * @example
 * const hidden = hideExpectedRuntimeLogs(process.stdout)
 * process.on('exit', () => console.log(`${hidden()} expected workerd log lines hidden`))
 */
export function hideExpectedRuntimeLogs(stream: Pick<NodeJS.WriteStream, 'write'>): () => number {
  const write = stream.write.bind(stream) as (...args: unknown[]) => boolean
  let hidden = 0
  stream.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && isExpectedRuntimeLog(chunk)) {
      hidden++
      const done = rest.find((arg) => typeof arg === 'function') as (() => void) | undefined
      done?.()
      return true
    }
    return write(chunk, ...rest)
  }) as Write
  return () => hidden
}

const INSTALLED = Symbol.for('edgeward.hideExpectedRuntimeLogs')

/**
 * Hides the known lines on stdout and stderr of this process, once however often the configuration is loaded,
 * and says at exit how many it hid, so the filter is never silent.
 */
export function installRuntimeLogFilter(): void {
  const registry = globalThis as { [INSTALLED]?: true }
  if (registry[INSTALLED]) return
  registry[INSTALLED] = true
  const counts = [hideExpectedRuntimeLogs(process.stdout), hideExpectedRuntimeLogs(process.stderr)]
  process.once('exit', () => {
    const hidden = counts.reduce((sum, count) => sum + count(), 0)
    if (hidden > 0) {
      process.stdout.write(
        `${hidden} expected workerd log lines hidden (known, handled failures: test/runtime-logs.ts)\n`,
      )
    }
  })
}

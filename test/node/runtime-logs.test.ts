/**
 * The runtime-log filter of the Vitest configuration hides only the known lines of a passing run. The samples are
 * real workerd output (paths shortened); every near miss below is an error that must still be printed.
 */
import { describe, expect, it } from 'vitest'
import { EXPECTED_RUNTIME_LOGS, hideExpectedRuntimeLogs, isExpectedRuntimeLog } from '../runtime-logs.ts'

const UNCAUGHT = 'uncaught exception; source = Uncaught (in promise); stack = '
const NATIVE =
  '\nstack: /repo/node_modules/@cloudflare/workerd-linux-64/bin/workerd@28a3c60 /repo/bin/workerd@3ac7580\n'
const GUNZIP_FRAMES = [
  'at handleKnownInternalErrors (node-internal:streams_util:303:27)',
  'at Gunzip.<anonymous> (node-internal:streams_readable:2429:13)',
  'at Gunzip.<anonymous> (node-internal:internal_http_util:9:32)',
  'at Gunzip.onerror (node-internal:streams_end_of_stream:122:19)',
  'at Gunzip.emit (node-internal:events:323:41)',
  'at emitErrorNT (node-internal:streams_destroy:144:10)',
  'at emitErrorCloseNT (node-internal:streams_destroy:114:5)',
  'at node-internal:internal_process:17:9',
]

const EXPECTED: [string, string][] = [
  [
    'a refused subrequest',
    `exception = rust/worker/ffi.rs:110: disconnected: Connection refused (os error 111)${NATIVE}`,
  ],
  ['an aborted upload', `exception = rust/worker/ffi.rs:110: disconnected: client error (SendRequest)${NATIVE}`],
  [
    'the pipe of an aborted upload',
    `exception = kj/async-io.c++:763: disconnected: read end of pipe was aborted${NATIVE}`,
  ],
  ['the runtime promise of a failed subrequest', `${UNCAUGHT}Error: Network connection lost.\n`],
  [
    'the native side of a failed subrequest',
    `uncaught exception; exception = workerd/jsg/value.h:1535: disconnected: jsg.Error: Network connection lost.${NATIVE}`,
  ],
  [
    'a streamed body over the limit',
    `${UNCAUGHT}BodyLimitExceededError: request body exceeds 1048576 bytes\n    at Object.pull (/repo/src/upstream/limit-body.ts:60:19)\n`,
  ],
  [
    'a JSON body naming _method, refused by the watch',
    `${UNCAUGHT}RefusedMemberError: the body names a refused top-level member\n    at Object.pull (/repo/src/upstream/json-members.ts:123:29)\n`,
  ],
  [
    'bytes after the end of a compressed body',
    `${UNCAUGHT}TrailingDataError: data after the end of the compressed stream\n    at Object.pull (/repo/src/upstream/content-coding.ts:108:51)\n`,
  ],
  [
    "forward.test.ts's failing client body",
    `${UNCAUGHT}TypeError: client went away\n    at Object.pull (/repo/src/upstream/forward.test.ts:203:46)\n`,
  ],
  ['a corrupt gzip body', `${UNCAUGHT}TypeError: \n${GUNZIP_FRAMES.map((f) => `    ${f}`).join('\n')}\n`],
]

const MUST_SHOW: [string, string][] = [
  ['an unhandled rejection of any other error', `${UNCAUGHT}Error: an unexpected failure nobody handles\n`],
  [
    'a "Network connection lost." thrown from the repository',
    `${UNCAUGHT}Error: Network connection lost.\n    at forward (/repo/src/upstream/forward.ts:120:11)\n`,
  ],
  [
    'BodyLimitExceededError from anywhere but limitBodyStream',
    `${UNCAUGHT}BodyLimitExceededError: request body exceeds 1048576 bytes\n    at Object.pull (/repo/src/routes/proxy.ts:60:19)\n`,
  ],
  [
    'a BodyLimitExceededError with a further frame',
    `${UNCAUGHT}BodyLimitExceededError: request body exceeds 10 bytes\n    at Object.pull (/repo/src/upstream/limit-body.ts:60:19)\n    at run (/repo/src/app.ts:1:1)\n`,
  ],
  [
    '"client went away" from any other file',
    `${UNCAUGHT}TypeError: client went away\n    at Object.pull (/repo/src/routes/proxy.ts:203:46)\n`,
  ],
  [
    'a TypeError with a repository frame after the zlib ones',
    `${UNCAUGHT}TypeError: \n    ${GUNZIP_FRAMES[0]}\n    at inflate (/repo/src/upstream/content-coding.ts:50:3)\n`,
  ],
  [
    'RefusedMemberError from anywhere but the watch',
    `${UNCAUGHT}RefusedMemberError: the body names a refused top-level member\n    at Object.pull (/repo/src/routes/proxy.ts:1:1)\n`,
  ],
  [
    'a TrailingDataError with a further frame',
    `${UNCAUGHT}TrailingDataError: data after the end of the compressed stream\n    at Object.pull (/repo/src/upstream/content-coding.ts:108:51)\n    at run (/repo/src/app.ts:1:1)\n`,
  ],
  ['a TypeError with a message', `${UNCAUGHT}TypeError: Cannot read properties of undefined (reading 'body')\n`],
  [
    'another disconnect',
    `exception = rust/worker/ffi.rs:110: disconnected: Connection reset by peer (os error 104)${NATIVE}`,
  ],
  ['a known line followed by an unknown one', `${UNCAUGHT}Error: Network connection lost.\n${UNCAUGHT}Error: boom\n`],
  ['a test failure line', ' FAIL  src/routes/proxy.test.ts > proxy > answers 502 bad_gateway\n'],
]

describe('the runtime-log filter', () => {
  it.each(EXPECTED)('hides %s', (_, entry) => {
    expect(isExpectedRuntimeLog(entry)).toBe(true)
  })

  it.each(MUST_SHOW)('shows %s', (_, entry) => {
    expect(isExpectedRuntimeLog(entry)).toBe(false)
  })

  it('has one sample per pattern, and every pattern is anchored at both ends', () => {
    for (const { pattern } of EXPECTED_RUNTIME_LOGS) {
      expect(pattern.source.startsWith('^') && pattern.source.endsWith('$'), pattern.source).toBe(true)
      expect(
        EXPECTED.filter(([, entry]) => pattern.test(entry.slice(0, -1))),
        pattern.source,
      ).not.toHaveLength(0)
    }
  })

  it('drops hidden writes, passes every other write through unchanged, and counts what it hid', () => {
    const written: unknown[] = []
    const stream = { write: (chunk: unknown) => written.push(chunk) > 0 } as unknown as Pick<
      NodeJS.WriteStream,
      'write'
    >
    const hidden = hideExpectedRuntimeLogs(stream)
    for (const [, entry] of [...EXPECTED, ...MUST_SHOW]) stream.write(entry)
    const bytes = new Uint8Array([1, 2, 3])
    stream.write(bytes)
    expect(written).toEqual([...MUST_SHOW.map(([, entry]) => entry), bytes])
    expect(hidden()).toBe(EXPECTED.length)
  })
})

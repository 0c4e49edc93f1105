/**
 * Watches a streamed JSON body for a top-level member name, without buffering it: the bytes flow on as they arrive,
 * and the stream errors on the chunk that completes a refused name (that chunk is not delivered). For a body an
 * origin framework reads a member of, such as Laravel's `_method`, on a route that must not buffer it.
 *
 * It tokenizes only as far as names need: strings (with their escapes, so `"\u005fmethod"` is `_method`), nesting,
 * and which strings are names of the outermost object. It does not validate: text that is not JSON cannot be read
 * by the origin's parser either, so at worst it refuses a name in a body the origin would have refused anyway. A
 * body whose first byte past whitespace and a byte order mark does not open an object has no members: it is passed
 * on unread from there. Inside a value's string only quotes and backslashes are looked for (natively, with
 * indexOf), so long strings cost little; names and numbers are read byte by byte.
 */

/** The stream errors with this once a refused name is seen. */
export class RefusedMemberError extends Error {
  override name = 'RefusedMemberError'
  constructor() {
    super('the body names a refused top-level member')
  }
}

export interface WatchedBody {
  /** The same bytes, until a chunk completes a refused name: then an error, and nothing more. */
  stream: ReadableStream<Uint8Array>
  /** True once a refused name was seen. */
  refused(): boolean
}

/** Names longer than this are not decoded further: none of those this is used for is that long. */
const MAX_NAME_CHARS = 32

const SIMPLE_ESCAPES: Record<string, string> = { b: '\b', f: '\f', n: '\n', r: '\r', t: '\t' }

/**
 * @param isRefused decides on each top-level member name, decoded.
 * @param onRefused runs just before the stream errors: give it the upload's abort, as for limitBodyStream, so the
 * origin never receives the truncated body as a complete request.
 */
export function watchTopLevelMembers(
  source: ReadableStream<Uint8Array>,
  isRefused: (name: string) => boolean,
  onRefused?: () => void,
): WatchedBody {
  let depth = 0
  let topIsObject = false
  let expectName = false
  let inString = false
  let inName = false
  let escaping = 0 // 0: none; 1: after a backslash; 2-5: reading the hex digits of \uXXXX
  let hex = ''
  let name = ''
  let refused = false
  // Until the first byte that is not whitespace (or a UTF-8 byte order mark, which body-parser skips): only a body
  // that starts an object has members; any other body is passed on unread from there.
  let started = false
  let passThrough = false

  const append = (char: string) => {
    if (name.length <= MAX_NAME_CHARS) name += char
  }

  /** Reads one chunk; true when it completes a refused name. */
  const scan = (chunk: Uint8Array): boolean => {
    for (let i = 0; i < chunk.length; i++) {
      if (passThrough) return false
      if (inString && !inName && escaping === 0) {
        // Inside a value's string only a quote or a backslash matters: skip to the next one natively.
        const quote = chunk.indexOf(0x22, i)
        const backslash = chunk.indexOf(0x5c, i)
        const next = quote === -1 ? backslash : backslash === -1 ? quote : Math.min(quote, backslash)
        if (next === -1) return false
        i = next
      }
      const byte = chunk[i] as number
      if (!started) {
        if (
          byte === 0x20 ||
          byte === 0x09 ||
          byte === 0x0a ||
          byte === 0x0d ||
          byte === 0xef ||
          byte === 0xbb ||
          byte === 0xbf
        )
          continue
        started = true
        if (byte !== 0x7b /* { */) {
          passThrough = true
          return false
        }
      }
      if (inString) {
        if (escaping === 1) {
          if (byte === 0x75 /* u */) {
            escaping = 2
            hex = ''
          } else {
            if (inName) append(SIMPLE_ESCAPES[String.fromCharCode(byte)] ?? String.fromCharCode(byte))
            escaping = 0
          }
        } else if (escaping >= 2) {
          hex += String.fromCharCode(byte)
          if (hex.length === 4) {
            if (inName) append(String.fromCharCode(Number.parseInt(hex, 16)))
            escaping = 0
          }
        } else if (byte === 0x5c /* \ */) {
          escaping = 1
        } else if (byte === 0x22 /* " */) {
          inString = false
          if (inName) {
            inName = false
            if (name.length <= MAX_NAME_CHARS && isRefused(name)) return true
          }
        } else if (inName) {
          // A byte of a multi-byte character is never one of a refused ASCII name's.
          append(byte < 0x80 ? String.fromCharCode(byte) : '\uFFFD')
        }
        continue
      }
      switch (byte) {
        case 0x22: // "
          inString = true
          inName = depth === 1 && topIsObject && expectName
          name = ''
          expectName = false
          break
        case 0x7b: // {
          if (depth === 0) topIsObject = true
          depth++
          if (depth === 1) expectName = true
          break
        case 0x5b: // [
          if (depth === 0) topIsObject = false
          depth++
          break
        case 0x7d: // }
        case 0x5d: // ]
          if (depth > 0) depth--
          break
        case 0x2c: // ,
          if (depth === 1 && topIsObject) expectName = true
          break
        default:
          break
      }
    }
    return false
  }

  const reader = source.getReader()
  const stream = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const { done, value } = await reader.read()
      if (done) return controller.close()
      if (scan(value)) {
        refused = true
        onRefused?.()
        await reader.cancel().catch(() => {})
        return controller.error(new RefusedMemberError())
      }
      controller.enqueue(value)
    },
    cancel: (reason) => reader.cancel(reason),
  })
  return { stream, refused: () => refused }
}

/**
 * Watches a streamed JSON body for a top-level member name, without buffering it: the bytes flow on as they arrive,
 * and the stream errors on the chunk that completes a refused name (that chunk is not delivered). For a body an
 * origin framework reads a member of, such as Laravel's `_method`, on a route that must not buffer it.
 *
 * It tokenizes only as far as names need: strings (with their escapes, so `"\u005fmethod"` is `_method`), nesting,
 * and which strings are names of the outermost object. It does not validate: text that is not JSON cannot be read
 * by the origin's parser either, so at worst it refuses a name in a body the origin would have refused anyway. A
 * body whose first byte past whitespace and a byte order mark does not open an object has no members: it is passed
 * on unread from there. Inside a string only quotes and backslashes are looked for (natively, with indexOf), and
 * outside strings only quotes, brackets, braces and commas (a table lookup per byte): each byte of a chunk is looked
 * at a bounded number of times, so the work is linear in the body, whatever its shape.
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

/** The bytes that matter outside strings: `"`, `{`, `}`, `[`, `]`, `,`. Whitespace, numbers and literals do not. */
const STRUCTURAL = new Uint8Array(256)
for (const byte of [0x22, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c]) STRUCTURAL[byte] = 1

/** Hex digit values; anything else counts as 0 (such a body is not JSON, and its origin refuses it too). */
const HEX = new Uint8Array(256)
for (let digit = 0; digit < 16; digit++) {
  const char = digit.toString(16)
  HEX[char.charCodeAt(0)] = digit
  HEX[char.toUpperCase().charCodeAt(0)] = digit
}

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
  let code = 0 // the \uXXXX code unit so far
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
    const end = chunk.length
    // The chunk's next quote and backslash, each searched for again only once passed, so that each search covers
    // the chunk once: searching afresh from every string's start would be quadratic in the chunk's length (a
    // megabyte of short strings took seconds). -2: not searched yet; -1: none left in this chunk.
    let quote = -2
    let backslash = -2
    for (let i = 0; i < end; i++) {
      if (passThrough) return false
      if (inString && escaping === 0) {
        // Inside a string only a quote or a backslash changes the state.
        let next = -1
        if (inName) {
          // A name is decoded as it is scanned, up to one character past the longest decoded; a byte of a
          // multi-byte character is never one of a refused ASCII name's.
          for (; i < end && name.length <= MAX_NAME_CHARS; i++) {
            const byte = chunk[i] as number
            if (byte === 0x22 || byte === 0x5c) {
              next = i
              break
            }
            name += byte < 0x80 ? String.fromCharCode(byte) : '\uFFFD'
          }
          if (i === end) return false
        } else {
          // Most value strings are short: a few bytes read here cost less than two native calls.
          for (let j = i, near = Math.min(end, i + 16); j < near; j++) {
            const byte = chunk[j] as number
            if (byte === 0x22 || byte === 0x5c) {
              next = j
              break
            }
          }
        }
        if (next === -1) {
          // Skip natively to the next one, each search covering the chunk once (see above).
          if (quote !== -1 && quote < i) quote = chunk.indexOf(0x22, i)
          if (backslash !== -1 && backslash < i) backslash = chunk.indexOf(0x5c, i)
          next = quote === -1 ? backslash : backslash === -1 ? quote : Math.min(quote, backslash)
        }
        if (next === -1) return false
        i = next
      } else if (!inString && started) {
        while (STRUCTURAL[chunk[i] as number] === 0) if (++i === end) return false
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
            code = 0
          } else {
            if (inName) append(SIMPLE_ESCAPES[String.fromCharCode(byte)] ?? String.fromCharCode(byte))
            escaping = 0
          }
        } else if (escaping >= 2) {
          // Counted as digits arrive, no string built: a body of escapes costs little more than one without.
          code = code * 16 + (HEX[byte] as number)
          if (++escaping === 6) {
            if (inName) append(String.fromCharCode(code))
            escaping = 0
          }
        } else if (byte === 0x5c /* \ */) {
          // An escape whole in this chunk is read in one step; one cut by the chunk's end, byte by byte.
          const next = i + 1 < end ? (chunk[i + 1] as number) : -1
          if (next === 0x75 /* u */ && i + 5 < end) {
            const unit =
              (HEX[chunk[i + 2] as number] as number) * 4096 +
              (HEX[chunk[i + 3] as number] as number) * 256 +
              (HEX[chunk[i + 4] as number] as number) * 16 +
              (HEX[chunk[i + 5] as number] as number)
            if (inName) append(String.fromCharCode(unit))
            i += 5
          } else if (next !== -1 && next !== 0x75) {
            if (inName) append(SIMPLE_ESCAPES[String.fromCharCode(next)] ?? String.fromCharCode(next))
            i += 1
          } else {
            escaping = 1
          }
        } else if (byte === 0x22 /* " */) {
          inString = false
          if (inName) {
            inName = false
            if (name.length <= MAX_NAME_CHARS && isRefused(name)) return true
          }
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

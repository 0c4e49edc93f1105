/**
 * Request-path normalization for the proxy: one canonical form for forwarding (`path`) and one for route matching
 * (`key`), so that no spelling of a path reaches the origin under a weaker policy than its canonical form. Pure.
 * A spelling that some origin would read as another path is refused (400 `invalid_path`), never guessed at: the
 * refusals are the table {@link PATH_REFUSALS}, one row per spelling with the origins that read it differently.
 */

/** Longest accepted path, in bytes, both as received and after normalization. */
export const MAX_PATH_BYTES = 2048

export type NormalizedPath =
  | {
      ok: true
      /** Forwarded to the origin: canonical escapes, dot segments resolved, single slashes, case kept. */
      path: string
      /** Matched against route patterns: `path` lower-cased, without a trailing slash (except `/`). */
      key: string
      /** `path` ends in `/` (and is not `/`): origins disagree on whether that is `key` or a path below it. */
      trailingSlash: boolean
    }
  | { ok: false; reason: PathRejection }

/** One path segment as received: its raw text, its bytes after percent-decoding, and which bytes were escaped. */
interface Segment {
  readonly raw: string
  readonly bytes: readonly number[]
  readonly escaped: readonly boolean[]
  /** The bytes as UTF-8 text; undefined when they are not valid UTF-8 (overlong forms included). */
  readonly text: string | undefined
}

const isControl = (byte: number) => byte < 0x20 || byte === 0x7f
const escapedByte = (s: Segment, byte: number) => s.bytes.some((b, i) => b === byte && s.escaped[i])
const anyByte = (s: Segment, byte: number) => s.bytes.includes(byte)
/** Unicode white space, which `String.prototype.trim` (and the trims of Java, .NET and Python) removes. */
const WHITESPACE = /^\s|\s$/u
const C1_CONTROL = /[\u0080-\u009f]/u
const FORMAT_CHARACTER = /\p{Cf}/u
/** An 8.3 short name: up to six characters, `~`, a digit (`PROGRA~1`, `admini~1.asp`). */
const SHORT_NAME = /^[^.~]{1,6}~[0-9]/u
/**
 * Non-ASCII characters that IIS's best-fit mapping (and some other legacy decoders) turn into `/`, `\` or `.`,
 * although NFKC leaves them alone: division and fraction slashes, set minus, the mathematical solidi, the
 * one-dot leader's relatives and the ideographic full stops.
 */
const BEST_FIT_PUNCTUATION = new Set(['\u2215', '\u2044', '\u2216', '\u29f8', '\u29f9', '\u3002', '\uff61', '\u2027'])

/**
 * Every refused spelling, checked in this order on each segment (after the whole-path rows). The comment on each
 * row names the origins that would read the spelling as a different path than the route table does.
 */
export const PATH_REFUSALS = [
  // Every origin: a request line must carry an absolute path.
  { reason: 'not_absolute' },
  // Every origin: bounds the work per request and the size of what is logged and signed.
  { reason: 'too_long' },
  // Every origin: `%zz` or a lone `%` is decoded differently (kept, dropped, or an error) by each server.
  { reason: 'invalid_percent_encoding' },
  // Servers that decode before splitting on `/` (many Java, PHP and Node routers): `/public%2F..%2Fadmin`.
  { reason: 'encoded_slash', refuses: (s: Segment) => escapedByte(s, 0x2f) },
  // Windows servers (IIS, Kestrel) and some Node routers treat `\` as `/`, raw or escaped.
  { reason: 'backslash', refuses: (s: Segment) => anyByte(s, 0x5c) },
  // Servers that cut at NUL (C-based CGI) or split on CR/LF, and .NET and Python, whose trims remove C1
  // controls such as NEL (U+0085); a control character is never part of a real API path.
  {
    reason: 'control_character',
    refuses: (s: Segment) => s.bytes.some(isControl) || (s.text !== undefined && C1_CONTROL.test(s.text)),
  },
  // Servers that decode twice (some proxies chained to a framework): `%252e` becomes `%2e`, then `.`.
  {
    reason: 'double_encoding',
    refuses: (s: Segment) => s.bytes.some((b, i) => b === 0x25 && s.escaped[i] && isHexPair(s, i + 1)),
  },
  // Servers that resolve `%2e%2e` as `..` after routing (older Tomcat, Jetty, many Node static servers).
  { reason: 'encoded_dot', refuses: (s: Segment) => escapedByte(s, 0x2e) },
  // Tomcat, Jetty and Spring strip `;params` from each segment (`/admin;x` is `/admin`, `/..;/` is `/../`),
  // others keep them: refused raw or escaped, as Spring Security's strict firewall does.
  { reason: 'path_parameter', refuses: (s: Segment) => anyByte(s, 0x3b) },
  // A `?` or `#` inside a pathname means a broken client or a smuggling attempt; no origin reads it one way.
  { reason: 'invalid_character', refuses: (s: Segment) => anyByte(s, 0x3f) || anyByte(s, 0x23) },
  // Overlong UTF-8 (`%C0%AE` for `.`) and other invalid sequences, which lenient decoders (old IIS, Java's
  // modified UTF-8) turn into ASCII.
  { reason: 'invalid_utf8', refuses: (s: Segment) => s.text === undefined },
  // IIS and Windows file systems trim trailing dots: `/admin./x` and `/admin../x` are `/admin/x` there.
  {
    reason: 'trailing_dot',
    refuses: (s: Segment) => s.raw !== '.' && s.raw !== '..' && s.text?.endsWith('.') === true,
  },
  // IIS trims trailing spaces, and frameworks that trim (Java's `strip`, .NET) read `/admin%20/x` as `/admin/x`.
  { reason: 'edge_whitespace', refuses: (s: Segment) => s.text !== undefined && WHITESPACE.test(s.text) },
  // Characters that fold to ASCII under Unicode compatibility mapping or case mapping: IIS "best fit"
  // (`%EF%BC%8F` fullwidth solidus, `∕` division slash), NFKC in Python and .NET, Java's `equalsIgnoreCase`
  // (dotless `ı` = `i`).
  { reason: 'ascii_lookalike', refuses: (s: Segment) => s.text !== undefined && foldsToAscii(s.text) },
  // Invisible format characters (zero-width space, joiners, bidi overrides, soft hyphen, BOM), which some
  // frameworks and normalizers strip, so `/adm%E2%80%8Bin` becomes `/admin` there.
  { reason: 'invisible_character', refuses: (s: Segment) => s.text !== undefined && FORMAT_CHARACTER.test(s.text) },
  // IIS and Windows file systems resolve 8.3 short names: `/admini~1/` can be `/administrator/`.
  { reason: 'windows_short_name', refuses: (s: Segment) => s.text !== undefined && SHORT_NAME.test(s.text) },
  // Every origin: `..` above the root has no meaning, and some servers then serve files outside the web root.
  { reason: 'above_root' },
] as const

export type PathRejection = (typeof PATH_REFUSALS)[number]['reason']

const SEGMENT_RULES = PATH_REFUSALS.filter(
  (row): row is Extract<(typeof PATH_REFUSALS)[number], { refuses: unknown }> => 'refuses' in row,
)

const HEX_DIGIT = /^[0-9A-Fa-f]$/
/** RFC 3986 §2.3 unreserved, except `.`: decoded when escaped (§6.2.2.2). An escaped `.` is refused instead. */
const UNRESERVED_BYTE = /^[A-Za-z0-9\-_~]$/
/** Kept as-is when raw: unreserved, sub-delims, ':' and '@' (RFC 3986 `pchar`). Other bytes are escaped. */
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/
const PCHAR_RUN = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]*$/
/**
 * Non-empty segments of ASCII letters, digits, `-` and `_`, and an optional trailing slash: no refusal applies
 * (no escape, dot, tilde, `;` or non-ASCII character) and no segment changes under normalization.
 */
const PLAIN_PATH = /^(?:\/[A-Za-z0-9_-]+)+\/?$/
/** ASCII without `%`: a segment whose bytes are its characters, none of them escaped. */
const PLAIN_ASCII = /^[^%\u0080-\uffff]*$/
const encoder = new TextEncoder()
const utf8 = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true })

const percentEncode = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`

/**
 * Normalizes the raw (still percent-encoded) pathname of a request URL.
 *
 * - Escapes of unreserved characters are decoded (`%6C` → `l`), every other escape gets upper-case hex, raw
 *   characters outside RFC 3986 `pchar` are escaped, `.`/`..` segments are resolved (RFC 3986 §5.2.4) and
 *   repeated slashes are collapsed. Case and a trailing slash are kept in `path`.
 * - Refused: every row of {@link PATH_REFUSALS}.
 *
 * @example
 * normalizePath('//API/./Users/%6cist/') // { ok: true, path: '/API/Users/list/', key: '/api/users/list', trailingSlash: true }
 * normalizePath('/api/admin./x') // { ok: false, reason: 'trailing_dot' }
 */
export function normalizePath(rawPathname: string): NormalizedPath {
  // Most API paths: no refusal can apply and each segment is already canonical, so the rules need not run.
  if (rawPathname.length <= MAX_PATH_BYTES && PLAIN_PATH.test(rawPathname)) {
    const trailingSlash = rawPathname.endsWith('/')
    const key = (trailingSlash ? rawPathname.slice(0, -1) : rawPathname).toLowerCase()
    return { ok: true, path: rawPathname, key, trailingSlash }
  }
  return normalizePathByRules(rawPathname)
}

/** {@link normalizePath} without its shortcut for plain paths: every row of the refusal table, segment by segment. */
export function normalizePathByRules(rawPathname: string): NormalizedPath {
  if (!rawPathname.startsWith('/')) return { ok: false, reason: 'not_absolute' }
  // A UTF-16 code unit is at most 3 UTF-8 bytes, so only a long path needs encoding to be measured.
  if (rawPathname.length * 3 > MAX_PATH_BYTES && encoder.encode(rawPathname).length > MAX_PATH_BYTES) {
    return { ok: false, reason: 'too_long' }
  }

  const segments: string[] = []
  let trailingSlash = false
  for (const raw of rawPathname.slice(1).split('/')) {
    const segment = scanSegment(raw)
    if (segment === undefined) return { ok: false, reason: 'invalid_percent_encoding' }
    for (const rule of SEGMENT_RULES) if (rule.refuses(segment)) return { ok: false, reason: rule.reason }
    trailingSlash = true
    if (raw === '..') {
      if (segments.pop() === undefined) return { ok: false, reason: 'above_root' }
    } else if (raw !== '.' && raw !== '') {
      segments.push(canonical(segment))
      trailingSlash = false
    }
  }

  const path = segments.length === 0 ? '/' : `/${segments.join('/')}${trailingSlash ? '/' : ''}`
  if (path.length > MAX_PATH_BYTES) return { ok: false, reason: 'too_long' }
  const key = `/${segments.join('/')}`.toLowerCase()
  return { ok: true, path, key, trailingSlash: segments.length > 0 && trailingSlash }
}

/** Decodes one raw segment into bytes; undefined for a malformed escape. */
function scanSegment(raw: string): Segment | undefined {
  if (PLAIN_ASCII.test(raw)) return plainSegment(raw)
  const bytes: number[] = []
  const escaped: boolean[] = []
  for (let i = 0; i < raw.length; i++) {
    if (raw[i] === '%') {
      if (!HEX_DIGIT.test(raw[i + 1] ?? '') || !HEX_DIGIT.test(raw[i + 2] ?? '')) return undefined
      bytes.push(Number.parseInt(raw.slice(i + 1, i + 3), 16))
      escaped.push(true)
      i += 2
      continue
    }
    const point = raw.codePointAt(i) as number
    if (point > 0xffff) i++
    if (point < 0x80) {
      bytes.push(point)
      escaped.push(false)
    } else {
      for (const byte of encoder.encode(String.fromCodePoint(point))) {
        bytes.push(byte)
        escaped.push(false)
      }
    }
  }
  let text: string | undefined
  try {
    text = utf8.decode(new Uint8Array(bytes))
  } catch {
    text = undefined
  }
  return { raw, bytes, escaped, text }
}

/** A segment of ASCII without escapes (most of them): its bytes are its characters, and it is its own text. */
function plainSegment(raw: string): Segment {
  const bytes = new Array<number>(raw.length)
  for (let i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i)
  return { raw, bytes, escaped: new Array<boolean>(raw.length).fill(false), text: raw }
}

/** The segment with canonical escapes: unreserved bytes decoded, `pchar` kept when raw, everything else escaped. */
function canonical(segment: Segment): string {
  // All raw `pchar` (no `%` among them): every byte is kept as it is.
  if (PCHAR_RUN.test(segment.raw)) return segment.raw
  let out = ''
  segment.bytes.forEach((byte, i) => {
    const char = String.fromCharCode(byte)
    const plain = byte < 0x80 && (segment.escaped[i] ? UNRESERVED_BYTE.test(char) : PCHAR.test(char))
    out += plain ? char : percentEncode(byte)
  })
  return out
}

function isHexPair(segment: Segment, at: number): boolean {
  const pair = segment.bytes.slice(at, at + 2)
  return pair.length === 2 && pair.every((b) => HEX_DIGIT.test(String.fromCharCode(b)))
}

/** True when a non-ASCII character maps to ASCII under NFKC or under upper- or lower-casing. */
function foldsToAscii(text: string): boolean {
  for (const char of text) {
    if (char.charCodeAt(0) < 0x80) continue
    if (BEST_FIT_PUNCTUATION.has(char)) return true
    for (const folded of [char.normalize('NFKC'), char.toUpperCase(), char.toLowerCase()]) {
      for (let i = 0; i < folded.length; i++) if (folded.charCodeAt(i) < 0x80) return true
    }
  }
  return false
}

/**
 * Request-path normalization for the proxy: one canonical form for forwarding (`path`) and one for route matching
 * (`key`), so that no spelling of a path (case, escapes, dot segments, slashes) reaches the origin under a weaker
 * policy than its canonical form. Pure. Anything ambiguous is refused, and the caller answers 400 `bad_request`.
 */

/** Longest accepted path, in bytes, both as received and after normalization. */
export const MAX_PATH_BYTES = 2048

export type NormalizedPath =
  | {
      ok: true
      /** Forwarded to the origin: canonical escapes, dot segments resolved, single slashes, case kept. */
      path: string
      /** Matched against route patterns: `path` lower-cased, `;params` dropped, no trailing slash (except `/`). */
      key: string
    }
  | { ok: false; reason: PathRejection }

export type PathRejection =
  | 'not_absolute'
  | 'too_long'
  | 'invalid_percent_encoding'
  | 'encoded_slash'
  | 'encoded_semicolon'
  | 'backslash'
  | 'control_character'
  | 'invalid_character'
  | 'double_encoding'
  | 'dot_segment_with_parameters'
  | 'above_root'

const HEX = /^[0-9A-Fa-f]{2}$/
/** RFC 3986 §2.3 unreserved: decoded when escaped (§6.2.2.2). */
const UNRESERVED = /^[A-Za-z0-9\-._~]$/
/** Kept as-is when raw: unreserved, sub-delims, ':' and '@' (RFC 3986 `pchar`). Other printable ASCII is escaped. */
const PCHAR = /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/
const encoder = new TextEncoder()

const percentEncode = (byte: number) => `%${byte.toString(16).toUpperCase().padStart(2, '0')}`

/**
 * Normalizes the raw (still percent-encoded) pathname of a request URL.
 *
 * - Escapes of unreserved characters are decoded (`%6C` → `l`), every other escape gets upper-case hex, raw
 *   characters outside RFC 3986 `pchar` are escaped, `.`/`..` segments are resolved (RFC 3986 §5.2.4), also when
 *   escaped (`%2e%2e`), and repeated slashes are collapsed. Case and a trailing slash are kept in `path`.
 * - Refused: malformed escapes, `%2F`, `%3B`, `%5C` and raw `\`, control characters raw or escaped, `?`/`#` in a
 *   pathname, `..` above the root, paths over {@link MAX_PATH_BYTES} bytes, an escaped `%` that introduces another
 *   escape (`%252e`: defeats origins that decode twice), and dot segments carrying parameters (`..;x`, which
 *   Tomcat-style origins resolve as `..`).
 * - `;` (matrix parameters): kept in `path`, so the origin sees what the client sent. The `key` drops each
 *   segment's `;…` part, so `/admin;x` matches exactly the policy of `/admin`, as an origin that strips path
 *   parameters (Tomcat, Spring, Jetty) would serve it; an origin that treats `;` literally then sees a path that
 *   was authorized under the policy of its parameter-free spelling.
 *
 * @example
 * normalizePath('//API/./Users/%6cist/') // { ok: true, path: '/API/Users/list/', key: '/api/users/list' }
 * normalizePath('/public/%2e%2e/%2e%2e/x') // { ok: false, reason: 'above_root' }
 */
export function normalizePath(rawPathname: string): NormalizedPath {
  if (!rawPathname.startsWith('/')) return { ok: false, reason: 'not_absolute' }
  if (encoder.encode(rawPathname).length > MAX_PATH_BYTES) return { ok: false, reason: 'too_long' }

  const segments: string[] = []
  let trailingSlash = false
  for (const rawSegment of rawPathname.slice(1).split('/')) {
    const segment = canonicalSegment(rawSegment)
    if (typeof segment !== 'string') return segment
    trailingSlash = false
    const dot = dotSegment(segment)
    if (dot === 'parameters') return { ok: false, reason: 'dot_segment_with_parameters' }
    if (dot === '.') {
      trailingSlash = true
    } else if (dot === '..') {
      if (segments.pop() === undefined) return { ok: false, reason: 'above_root' }
      trailingSlash = true
    } else if (segment === '') {
      trailingSlash = true // a repeated slash collapses; a final one is kept
    } else {
      segments.push(segment)
    }
  }

  const path = segments.length === 0 ? '/' : `/${segments.join('/')}${trailingSlash ? '/' : ''}`
  if (path.length > MAX_PATH_BYTES) return { ok: false, reason: 'too_long' }
  const keySegments = segments.map((s) => s.split(';', 1)[0] ?? '').filter((s) => s !== '')
  return { ok: true, path, key: `/${keySegments.join('/')}`.toLowerCase() }
}

/** '.', '..', 'parameters' for `.;x`/`..;x`, or undefined for an ordinary segment (already canonical). */
function dotSegment(segment: string): '.' | '..' | 'parameters' | undefined {
  if (segment === '.' || segment === '..') return segment
  const bare = segment.split(';', 1)[0]
  return bare === '.' || bare === '..' ? 'parameters' : undefined
}

function canonicalSegment(raw: string): string | { ok: false; reason: PathRejection } {
  let out = ''
  for (let i = 0; i < raw.length; i++) {
    const char = raw[i] as string
    const code = char.charCodeAt(0)
    if (char === '%') {
      const hex = raw.slice(i + 1, i + 3)
      if (!HEX.test(hex)) return { ok: false, reason: 'invalid_percent_encoding' }
      const byte = Number.parseInt(hex, 16)
      if (byte < 0x20 || byte === 0x7f) return { ok: false, reason: 'control_character' }
      if (byte === 0x2f) return { ok: false, reason: 'encoded_slash' }
      if (byte === 0x5c) return { ok: false, reason: 'backslash' }
      // `%3B` is `;` to an origin that decodes before stripping path parameters, but not to the key above: it
      // would let `/admin%3Bx` skip the policy of `/admin`. Ambiguous, so refused.
      if (byte === 0x3b) return { ok: false, reason: 'encoded_semicolon' }
      if (byte === 0x25 && HEX.test(raw.slice(i + 3, i + 5))) return { ok: false, reason: 'double_encoding' }
      const decoded = String.fromCharCode(byte)
      out += UNRESERVED.test(decoded) ? decoded : percentEncode(byte)
      i += 2
    } else if (code < 0x20 || code === 0x7f) {
      return { ok: false, reason: 'control_character' }
    } else if (char === '\\') {
      return { ok: false, reason: 'backslash' }
    } else if (char === '?' || char === '#') {
      return { ok: false, reason: 'invalid_character' }
    } else if (PCHAR.test(char)) {
      out += char
    } else {
      // Printable ASCII outside pchar (space, " < > ` { } | ^ [ ]) and non-ASCII: escape their UTF-8 bytes.
      const point = raw.codePointAt(i) as number
      if (point > 0xffff) i++
      for (const byte of encoder.encode(String.fromCodePoint(point))) out += percentEncode(byte)
    }
  }
  return out
}

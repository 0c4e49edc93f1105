/**
 * Client identity for rate limiting: only `CF-Connecting-IP` counts (X-Forwarded-For, X-Real-IP,
 * True-Client-IP and Forwarded are client-settable and ignored). IPv4 is keyed by address, IPv4-mapped IPv6 by
 * its IPv4 address, IPv6 by its /64 (one subscriber holds at least a whole /64). A missing or unparsable header
 * is one shared strict bucket, `unknown`, never "no limit". Pure.
 */

export type ClientKind = 'ipv4' | 'ipv6' | 'unknown'

export interface ClientIdentity {
  kind: ClientKind
  /** `ip4:a.b.c.d`, `ip6:xxxx:xxxx:xxxx:xxxx::/64` or `unknown`: the rate-limit identity (hashed before Redis). */
  key: string
}

export const UNKNOWN_CLIENT: ClientIdentity = { kind: 'unknown', key: 'unknown' }

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/
const HEXTET = /^[0-9a-f]{1,4}$/

export function clientIdentity(cfConnectingIp: string | undefined): ClientIdentity {
  const value = cfConnectingIp?.trim().toLowerCase()
  if (!value) return UNKNOWN_CLIENT
  if (IPV4.test(value)) return { kind: 'ipv4', key: `ip4:${value}` }
  const hextets = parseIpv6(value)
  if (hextets === undefined) return UNKNOWN_CLIENT
  // ::ffff:a.b.c.d (IPv4-mapped): the same client as a.b.c.d.
  if (hextets.slice(0, 5).every((h) => h === 0) && hextets[5] === 0xffff) {
    const [hi = 0, lo = 0] = hextets.slice(6)
    return { kind: 'ipv4', key: `ip4:${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}` }
  }
  const prefix = hextets
    .slice(0, 4)
    .map((h) => h.toString(16).padStart(4, '0'))
    .join(':')
  return { kind: 'ipv6', key: `ip6:${prefix}::/64` }
}

/**
 * The network a client sits in, for counting *distinct* clients (the proxy's circuit breaker): IPv4 by /24 and
 * IPv6 by /32, the blocks a single subscriber or host can easily own many addresses of (a tunnel broker hands
 * anyone several /48s of its /32 for free; a /32 is a provider's allocation). Coarser than {@link clientIdentity},
 * so one network's many /64s, /48s or addresses count once.
 *
 * @example clientNetwork('2001:db8:aa:1::1') // 'net6:2001:0db8::/32'
 */
export function clientNetwork(cfConnectingIp: string | undefined): string {
  return networkOf(clientIdentity(cfConnectingIp))
}

/** {@link clientNetwork} of an identity already parsed. @example networkOf(clientIdentity('203.0.113.7')) // 'net4:203.0.113.0/24' */
export function networkOf(identity: ClientIdentity): string {
  const { key } = identity
  // Sliced from the key's fixed shape (`ip4:a.b.c.d`; `ip6:` and four zero-padded hextets), once per proxied request.
  if (identity.kind === 'ipv4') return `net4:${key.slice(4, key.lastIndexOf('.'))}.0/24`
  if (identity.kind === 'ipv6') return `net6:${key.slice(4, 13)}::/32`
  return key
}

/** Eight 16-bit groups, or undefined. Accepts `::` compression, an embedded IPv4 tail and a `%zone`. */
function parseIpv6(text: string): number[] | undefined {
  const address = text.split('%')[0] ?? ''
  if (!address.includes(':')) return undefined
  const halves = address.split('::')
  if (halves.length > 2) return undefined
  const parse = (part: string): number[] | undefined => {
    if (part === '') return []
    const groups: number[] = []
    const pieces = part.split(':')
    for (const [i, piece] of pieces.entries()) {
      if (i === pieces.length - 1 && piece.includes('.')) {
        if (!IPV4.test(piece)) return undefined
        const [a = 0, b = 0, c = 0, d = 0] = piece.split('.').map(Number)
        groups.push((a << 8) | b, (c << 8) | d)
      } else if (HEXTET.test(piece)) {
        groups.push(Number.parseInt(piece, 16))
      } else {
        return undefined
      }
    }
    return groups
  }
  const head = parse(halves[0] ?? '')
  const tail = halves.length === 2 ? parse(halves[1] ?? '') : []
  if (head === undefined || tail === undefined) return undefined
  if (halves.length === 1) return head.length === 8 ? head : undefined
  const missing = 8 - head.length - tail.length
  if (missing < 1) return undefined
  return [...head, ...new Array<number>(missing).fill(0), ...tail]
}

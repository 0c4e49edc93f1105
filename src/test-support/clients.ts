/** Client addresses for rate-limit tests: random, so test files sharing one Redis never share a bucket. */

/** A random address in 10.0.0.0/8. */
export function uniqueIpv4(): string {
  const n = crypto.getRandomValues(new Uint8Array(3))
  return `10.${n[0]}.${n[1]}.${n[2]}`
}

/** The first four groups of a random /64 in 2001:db8::/32 (documentation range). */
export function uniqueIpv6Prefix(): string {
  const n = crypto.getRandomValues(new Uint16Array(3))
  return `2001:db8:${n[0]?.toString(16)}:${n[1]?.toString(16)}`
}

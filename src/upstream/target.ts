/**
 * The origin URL of a forwarded request: a checked base (absolute http(s), no query, fragment or credentials) and
 * the path and query appended to its path. Refusing `//` keeps a path from being read as another host.
 */

export function parseBaseUrl(baseUrl: string): URL {
  let url: URL
  try {
    url = new URL(baseUrl)
  } catch {
    throw new TypeError('createForwarder: baseUrl must be an absolute http(s) URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new TypeError('createForwarder: baseUrl must use http: or https:')
  }
  if (url.search !== '' || url.hash !== '' || url.username !== '' || url.password !== '') {
    throw new TypeError('createForwarder: baseUrl must not carry a query, fragment or credentials')
  }
  return url
}

/** What every target URL starts with: the base's origin and path, without a trailing slash. Computed once. */
export function targetPrefix(base: URL): string {
  return `${base.origin}${base.pathname.replace(/\/+$/, '')}`
}

/** @example joinTarget(targetPrefix(new URL('https://api.internal/v1/')), '/items?a=1') // https://api.internal/v1/items?a=1 */
export function joinTarget(prefix: string, pathAndQuery: string): URL {
  if (!pathAndQuery.startsWith('/') || pathAndQuery.startsWith('//')) {
    throw new TypeError('forward: pathAndQuery must start with a single "/" (use upstreamPath())')
  }
  return new URL(`${prefix}${pathAndQuery}`)
}

/** A URL for printing, with any password masked; `fallback` when it does not parse. */
export function redactUrl(value: string, fallback = '(unparseable URL)'): string {
  try {
    const url = new URL(value)
    if (url.password) url.password = '***'
    return url.toString().replace(/\/$/, '')
  } catch {
    return fallback
  }
}

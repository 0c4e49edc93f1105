/**
 * Single runtime operations a proxied request is made of, counted the same way as whole requests: a worker runs
 * one of them k times in one request, and the count of a request with k = 0 is taken away. What the headers, timers
 * and awaits of a pipeline cost, set against each other, without the pipeline around them.
 */

/** The operations, in the order of the table, with what each does. */
export const COST_OPS: { name: string; description: string }[] = [
  { name: 'headers-set', description: 'new Headers, then Headers.set of 14 fields' },
  { name: 'headers-record', description: 'new Headers from a record of 14 fields' },
  { name: 'headers-copy', description: 'new Headers copied from a Headers of 14 fields' },
  { name: 'headers-get', description: 'Headers.get of one field' },
  { name: 'headers-entries', description: 'iterating the [name, value] pairs of a Headers of 14 fields' },
  { name: 'headers-keys', description: 'iterating the names of a Headers of 14 fields' },
  { name: 'response', description: 'new Response copying a Headers of 5 fields' },
  { name: 'await', description: 'await of a settled value' },
  { name: 'timer', description: 'setTimeout, then clearTimeout' },
  { name: 'abort-controller', description: 'new AbortController' },
  { name: 'hmac', description: 'HMAC-SHA256 sign of 80 bytes (key imported once)' },
  { name: 'url', description: 'new URL of an absolute URL' },
  { name: 'uuid', description: 'crypto.randomUUID' },
  {
    name: 'body-text',
    description: 'new Response of 50 bytes of JSON, its body read with text() (as the Upstash client reads a reply)',
  },
  { name: 'error', description: 'new error of a class extending Error with two fields, as every refusal builds one' },
]

export const OPS_SCRIPT = `const utf8 = new TextEncoder()
const FIELDS = Array.from({ length: 14 }, (_, i) => ['x-field-' + i, 'value-' + i + '-' + 'v'.repeat(24)])
const RECORD = Object.fromEntries(FIELDS)
const COPY = new Headers(FIELDS)
const FIVE = new Headers(FIELDS.slice(0, 5))
const MESSAGE = utf8.encode('v1\\n1764633600\\nGET\\n/api/public/catalogue\\n\\n\\n\\n8027dc41-b9f9-4a39-8196-dc1e8dae017e\\n')
let key
class Refusal extends Error {
  constructor(code, options) {
    super(code)
    this.name = 'Refusal'
    this.code = code
    this.options = options
  }
}
export default {
  async fetch(request) {
    key ??= await crypto.subtle.importKey('raw', utf8.encode('cost-signing-secret-of-at-least-32-bytes'), { name: 'HMAC', hash: 'SHA-256' }, false, ['sign'])
    const { op, k } = await request.json()
    const headers = new Headers(FIELDS.slice(0, 3))
    let sink = 0
    for (let i = 0; i < k; i++) {
      switch (op) {
        case 'headers-set': { const fresh = new Headers(); for (const [name, value] of FIELDS) fresh.set(name, value); break }
        case 'headers-get': sink += headers.get('x-field-1').length; break
        case 'headers-entries': for (const [name] of COPY) sink += name.length; break
        case 'headers-keys': for (const name of COPY.keys()) sink += name.length; break
        case 'headers-record': sink += new Headers(RECORD) ? 1 : 0; break
        case 'headers-copy': sink += new Headers(COPY) ? 1 : 0; break
        case 'response': sink += new Response(null, { headers: FIVE }).status; break
        case 'await': sink += await i; break
        case 'timer': clearTimeout(setTimeout(() => {}, 10000)); break
        case 'abort-controller': sink += new AbortController().signal.aborted ? 1 : 0; break
        case 'hmac': sink += (await crypto.subtle.sign('HMAC', key, MESSAGE)).byteLength; break
        case 'url': sink += new URL('http://127.0.0.1:8787/api/public/catalogue?page=2').pathname.length; break
        case 'uuid': sink += crypto.randomUUID().length; break
        case 'body-text': sink += (await new Response('{"result":[0,1,1,1767225600000,1,1,1767225600000]}').text()).length; break
        case 'error': sink += new Refusal('rate_limited', {}).code.length; break
        default: return Response.json({ error: 'unknown op ' + op }, { status: 400 })
      }
    }
    return Response.json({ sink })
  },
}
`

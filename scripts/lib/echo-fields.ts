/**
 * The response fields of the echo upstream's misbehaving paths (`scripts/echo-upstream.ts`): what an origin sends
 * that a gateway must strip, vet or replace.
 */
import type { IncomingHttpHeaders } from 'node:http'

/** `/__echo/set-cookie`: cookies, the origin's software, weak security headers and permissive CORS. */
export const SET_COOKIE_FIELDS: Record<string, string | string[]> = {
  'set-cookie': ['echo_session=echo-session-value; Path=/; HttpOnly; SameSite=Lax', 'echo_pref=dark; Path=/'],
  server: 'echo-upstream/1.0 (Node.js)',
  'x-powered-by': 'echo-upstream',
  'x-frame-options': 'ALLOWALL', // weaker than the gateway's own: it must replace them
  'content-security-policy': 'default-src *',
  // CORS is the gateway's: an origin's own Access-Control-* fields must never reach the client.
  'access-control-allow-origin': '*',
  'access-control-allow-credentials': 'true',
}

/**
 * `/__echo/leaky`: the request's `X-Gateway-*` and `X-Forwarded-*` fields sent back, as an origin that reflects
 * request headers does, with the hop's fields and policies for the whole host, and one document's reporting
 * endpoints (which a gateway should pass on).
 */
export function leakyFields(request: IncomingHttpHeaders): Record<string, string> {
  const fields: Record<string, string> = {}
  for (const [name, value] of Object.entries(request)) {
    if ((name.startsWith('x-gateway-') || name.startsWith('x-forwarded-')) && typeof value === 'string') {
      fields[name] = value
    }
  }
  return Object.assign(fields, {
    via: '1.1 varnish, 1.1 internal-lb-3.prod.example',
    forwarded: 'for=10.0.0.7;by=10.0.0.1',
    'alt-svc': 'h3=":8443"; ma=2592000',
    nel: '{"report_to":"x","max_age":31536000,"include_subdomains":true}',
    'report-to': '{"group":"x","max_age":31536000,"endpoints":[{"url":"https://collector.example/r"}]}',
    'reporting-endpoints': 'x="https://collector.example/r"',
    'service-worker-allowed': '/',
    'clear-site-data': '"cache", "cookies", "storage"',
  })
}

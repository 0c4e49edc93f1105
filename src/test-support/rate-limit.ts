/** Requests and bindings for the rate-limit tests: a public GET, or a login the real route refuses cheaply. */
import { env } from 'cloudflare:workers'

/**
 * POST to an /auth/login spelling carries `{}`: the real route answers it 400 `validation_failed` once the
 * rate-limit stage has admitted it, with no KDF and no lockout count. So 400 on login = admitted and reached.
 */
export const LOGIN_ADMITTED = 400

/** `GET path`, or for `/auth/login` the cheap `POST {}` above, from client `ip`, with extra `headers`. */
export function limitProbe(path: string, ip: string | undefined, headers: Record<string, string> = {}): Request {
  const login = path === '/auth/login'
  return new Request(`https://gw.test${path}`, {
    method: login ? 'POST' : 'GET',
    headers: {
      ...(ip === undefined ? {} : { 'cf-connecting-ip': ip }),
      ...(login ? { 'content-type': 'application/json' } : {}),
      ...headers,
    },
    ...(login ? { body: '{}' } : {}),
  })
}

/** The test bindings plus `vars`, on an Upstash lane of their own: its stats count only these bindings' calls. */
export function laneBindings(vars: Record<string, string>) {
  const lane = `lane-${crypto.randomUUID()}`
  return { lane, bindings: { ...env, UPSTASH_REDIS_REST_URL: `${env.UPSTASH_REDIS_REST_URL}/${lane}`, ...vars } }
}

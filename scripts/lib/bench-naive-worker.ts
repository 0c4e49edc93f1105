/**
 * The "naive" variant of `npm run bench`: what a developer composes from the libraries edgeward builds on, without
 * edgeward. Hono with its `jwt` middleware (EdDSA, the same access token), two @upstash/ratelimit sliding windows
 * (per address, per user) and an EXISTS revocation check on @upstash/redis, one after the other as the usual
 * examples write them, then the origin. Bundled by `npm run bench` (wrangler, like the gateway) into its own worker.
 */
import { Ratelimit } from '@upstash/ratelimit'
import { Redis } from '@upstash/redis/cloudflare'
import { Hono } from 'hono'
import { jwt } from 'hono/jwt'

interface Env {
  UPSTASH_URL: string
  UPSTASH_TOKEN: string
  ORIGIN: string
  /** The public half of the signing key, as a JWK in JSON. */
  JWT_PUBLIC_KEY: string
}

interface Clients {
  redis: Redis
  perIp: Ratelimit
  perUser: Ratelimit
}

// Limits no benchmark round reaches, so the measured path is the allowed one.
const LIMIT = 1_000_000

let clients: Clients | undefined

/** One Redis client and its limiters per isolate, built on the first request (bindings come with it). */
function clientsFor(env: Env): Clients {
  if (clients) return clients
  const redis = new Redis({ url: env.UPSTASH_URL, token: env.UPSTASH_TOKEN })
  const limiter = (prefix: string) =>
    new Ratelimit({
      redis,
      prefix,
      limiter: Ratelimit.slidingWindow(LIMIT, '1 s'),
      timeout: 1000,
      analytics: false,
    })
  clients = { redis, perIp: limiter('naive:ip'), perUser: limiter('naive:user') }
  return clients
}

const app = new Hono<{ Bindings: Env; Variables: { jwtPayload: { sub: string; jti: string } } }>()

// The key comes from a binding, so the middleware is built per request, as Hono's documentation shows.
app.use('*', (c, next) =>
  jwt({
    secret: JSON.parse(c.env.JWT_PUBLIC_KEY),
    alg: 'EdDSA',
    verification: { typ: 'at+jwt', iss: 'edgeward', aud: 'edgeward' },
  })(c, next),
)

app.get('*', async (c) => {
  const { redis, perIp, perUser } = clientsFor(c.env)
  const { sub, jti } = c.get('jwtPayload')
  const byIp = await perIp.limit(c.req.header('cf-connecting-ip') ?? 'unknown')
  if (!byIp.success) return c.text('Too Many Requests', 429)
  const byUser = await perUser.limit(sub)
  if (!byUser.success) return c.text('Too Many Requests', 429)
  if ((await redis.exists(`naive:revoked:${jti}`)) > 0) return c.text('Unauthorized', 401)
  const url = new URL(c.req.url)
  return fetch(c.env.ORIGIN + url.pathname + url.search)
})

export default app

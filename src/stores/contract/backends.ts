/** The real backends the contract suites run against, as the test setup provides them. */
import { env } from 'cloudflare:workers'
import { Redis } from '@upstash/redis/cloudflare'
import type { Config } from '../../config/schema'
import { createRedis } from '../redis/client'
import type { UpstashRest } from '../redis/rest'

/**
 * A client of the local Upstash REST server in front of the test redis-server. Keys are shared by every test file:
 * callers keep theirs apart with fresh identifiers, secrets or prefixes. `lane` (a path segment such as
 * 'lane-1') scopes the server's injected faults to this client.
 */
export function testRedis(lane?: string, overrides: Partial<Config['redis']> = {}): UpstashRest {
  return createRedis({
    url: lane === undefined ? env.UPSTASH_REDIS_REST_URL : `${env.UPSTASH_REDIS_REST_URL}/${lane}`,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    timeoutMs: 2_000,
    retries: 0,
    insecurePlaintext: false,
    allowPlaintextOverride: false,
    ...overrides,
  })
}

/**
 * The full @upstash/redis client on the same server, for tests to look at what the stores wrote (TTLs, set sizes,
 * key names) or to prepare it, with commands the worker's own client does not have. Replies are not deserialized,
 * as the worker's client does not deserialize them either.
 */
export function inspectRedis(): Redis {
  return new Redis({
    url: env.UPSTASH_REDIS_REST_URL,
    token: env.UPSTASH_REDIS_REST_TOKEN,
    enableTelemetry: false,
    automaticDeserialization: false,
  })
}

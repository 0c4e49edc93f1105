/**
 * The isolate's long-lived dependencies, built once per configuration: the Upstash client, the stores on it and
 * the key ring. The only place stores are wired to their backends.
 */
import type { Config } from './config/schema'
import { getRedis } from './stores/redis/client'
import { createRedisRevocationStore } from './stores/redis/revocation'
import type { RevocationStore } from './stores/types'
import { getKeyRing, type KeyRing } from './tokens/keys'

export interface Services {
  revocation: RevocationStore
  keyRing(): Promise<KeyRing>
}

const cache = new WeakMap<Config, Services>()

export function getServices(config: Config): Services {
  let services = cache.get(config)
  if (services === undefined) {
    const redis = getRedis(config.redis)
    services = {
      revocation: createRedisRevocationStore(redis, {
        clockSkewSeconds: config.jwt.clockSkewSeconds,
        accessTtlSeconds: config.jwt.accessTtlSeconds,
      }),
      keyRing: () => getKeyRing(config.jwt.signing),
    }
    cache.set(config, services)
  }
  return services
}

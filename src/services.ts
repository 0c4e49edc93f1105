/**
 * The isolate's long-lived dependencies, built once per configuration: the Upstash client, the stores on it and
 * the key ring. The only place stores are wired to their backends.
 */
import type { Config } from './config/schema'
import { createD1RefreshTokenStore } from './stores/d1/refresh-tokens'
import { createD1UserStore } from './stores/d1/users'
import { getRedis } from './stores/redis/client'
import { createRedisLockoutStore } from './stores/redis/lockout'
import { createRedisRevocationStore } from './stores/redis/revocation'
import type { LockoutStore, RefreshTokenStore, RevocationStore, UserStore } from './stores/types'
import { getKeyRing, type KeyRing } from './tokens/keys'

export interface Services {
  revocation: RevocationStore
  lockout: LockoutStore
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
      lockout: createRedisLockoutStore(redis, config.accounts.lockout, config.passwords.pepper),
      keyRing: () => getKeyRing(config.jwt.signing),
    }
    cache.set(config, services)
  }
  return services
}

/** The D1 stores (accounts and refresh families) on one database binding. */
export interface AccountStores {
  users: UserStore
  refreshTokens: RefreshTokenStore
}

const accountStores = new WeakMap<D1Database, AccountStores>()

export function getAccountStores(db: D1Database): AccountStores {
  let stores = accountStores.get(db)
  if (stores === undefined) {
    stores = { users: createD1UserStore(db), refreshTokens: createD1RefreshTokenStore(db) }
    accountStores.set(db, stores)
  }
  return stores
}

/**
 * Everything an isolate needs, built once from the validated configuration and the bindings: the one place
 * backends are wired to the code that uses them. `src/index.ts` builds it once per isolate; a test builds its own
 * (other bindings, another route table, in-memory stores) and hands it to `createApp`.
 */
import type { AccountEvents } from './accounts/events'
import { createAccountEventSender } from './accounts/sender'
import type { Config } from './config/schema'
import { createRateLimitEngine, createUpstashBreaker, type RateLimitEngine } from './pipeline/rate-limit/engine'
import { DEFAULT_ROUTE, ROUTES } from './policies'
import { type CompiledRoutes, compileRoutes } from './routing/table'
import { createD1AccountTokenStore } from './stores/d1/account-tokens'
import { createD1RefreshTokenStore } from './stores/d1/refresh-tokens'
import { createD1UserStore } from './stores/d1/users'
import { createRedisAdmissionStore } from './stores/redis/admission'
import { createRedis } from './stores/redis/client'
import { createRedisLockoutStore } from './stores/redis/lockout'
import type { UpstashRest } from './stores/redis/rest'
import { createRedisRevocationStore, withUpstashBreaker } from './stores/redis/revocation'
import type {
  AccountTokenStore,
  AdmissionStore,
  LockoutStore,
  RefreshTokenStore,
  RevocationStore,
  UserStore,
} from './stores/types'
import { type KeyRing, keyRingOnce } from './tokens/keys'
import { createOriginForwarder, type Forward } from './upstream/origin'

export interface Gateway {
  readonly config: Config
  readonly db: D1Database
  readonly redis: UpstashRest
  readonly revocation: RevocationStore
  readonly lockout: LockoutStore
  readonly users: UserStore
  readonly refreshTokens: RefreshTokenStore
  /** Single-use verification and password-reset tokens. */
  readonly accountTokens: AccountTokenStore
  /** The signing and verification keys, imported on first use. */
  keyRing(): Promise<KeyRing>
  readonly rateLimits: RateLimitEngine
  /** Undefined without UPSTREAM_URL (development only). */
  readonly forward: Forward | undefined
  readonly routes: CompiledRoutes
  /** Where account events go (to the origin, through a queue when one is bound). */
  readonly accountEvents: AccountEvents
}

/**
 * Parts a caller may supply instead of the ones built from the configuration. `admission` decides the rate limits
 * and the revocation of each request in one call, so a caller that supplies `revocation` supplies an `admission`
 * that reads it too (createMemoryAdmissionStore): otherwise requests would be checked against the other store.
 */
export type GatewayOverrides = Partial<
  Pick<
    Gateway,
    | 'routes'
    | 'revocation'
    | 'lockout'
    | 'users'
    | 'refreshTokens'
    | 'accountTokens'
    | 'rateLimits'
    | 'forward'
    | 'accountEvents'
  > & {
    admission: AdmissionStore
  }
>

export function createGateway(config: Config, bindings: { DB: D1Database }, overrides: GatewayOverrides = {}): Gateway {
  const redis = createRedis(config.redis)
  // One breaker for every Upstash check of the isolate: rate limits and revocation fail fast together.
  const upstash = createUpstashBreaker(config.rateLimit.breaker)
  if (overrides.revocation !== undefined && overrides.admission === undefined && overrides.rateLimits === undefined) {
    throw new TypeError('createGateway: a revocation override needs an admission override that reads it')
  }
  const admission = overrides.admission ?? createRedisAdmissionStore(redis)
  return {
    config,
    db: bindings.DB,
    redis,
    revocation:
      overrides.revocation ??
      withUpstashBreaker(
        createRedisRevocationStore(redis, {
          clockSkewSeconds: config.jwt.clockSkewSeconds,
          accessTtlSeconds: config.jwt.accessTtlSeconds,
        }),
        upstash,
      ),
    lockout: overrides.lockout ?? createRedisLockoutStore(redis, config.accounts.lockout, config.passwords.pepper),
    users: overrides.users ?? createD1UserStore(bindings.DB),
    refreshTokens: overrides.refreshTokens ?? createD1RefreshTokenStore(bindings.DB),
    accountTokens: overrides.accountTokens ?? createD1AccountTokenStore(bindings.DB),
    keyRing: keyRingOnce(config.jwt.signing),
    rateLimits: overrides.rateLimits ?? createRateLimitEngine(config, admission, upstash),
    forward: 'forward' in overrides ? overrides.forward : createOriginForwarder(config, bindings),
    routes: overrides.routes ?? compileRoutes(ROUTES, { default: DEFAULT_ROUTE }),
    accountEvents: overrides.accountEvents ?? createAccountEventSender(config, bindings),
  }
}

import { testRedis } from '../contract/backends'
import { wallClock } from '../contract/clock'
import { lockoutStoreContract } from '../contract/lockout'
import { createRedisLockoutStore } from './lockout'

const redis = testRedis()
// The key secret names the counters: a fresh one per run gives every run fresh keys.
const keySecret = crypto.randomUUID()

lockoutStoreContract('Redis', (policy) => ({
  store: createRedisLockoutStore(redis, policy, keySecret),
  clock: wallClock(),
}))

import { testRedis } from '../contract/backends'
import { wallClock } from '../contract/clock'
import { revocationStoreContract } from '../contract/revocation'
import { createRedisRevocationStore } from './revocation'

// Every subject is a fresh random id, so the keys (hashes of it) are fresh on every run.
const redis = testRedis()

revocationStoreContract('Redis', (timings) => ({
  store: createRedisRevocationStore(redis, timings),
  clock: wallClock(),
}))

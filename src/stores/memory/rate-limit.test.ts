import { manualClock } from '../contract/clock'
import { rateLimitStoreContract } from '../contract/rate-limit'
import { createMemoryRateLimitStore } from './rate-limit'

rateLimitStoreContract('memory', () => ({ store: createMemoryRateLimitStore(), clock: manualClock() }))

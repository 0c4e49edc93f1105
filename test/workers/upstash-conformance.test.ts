// The Upstash REST conformance cases (test/conformance/upstash-cases.ts) inside workerd, with the cloudflare
// entry of @upstash/redis, against the local server the global setup starts. Restarts, PATH tricks and
// default-retry timing are Node-only (scripts/upstash-local.test.ts).

import { env } from 'cloudflare:workers'
import { Redis } from '@upstash/redis/cloudflare'
import { httpControl, upstashConformanceSuite } from '../conformance/upstash-cases'

const url = env.UPSTASH_REDIS_REST_URL
const token = env.UPSTASH_REDIS_REST_TOKEN
const control = httpControl(url, token)

upstashConformanceSuite(() => ({
  url,
  token,
  control,
  makeRedis: (options = {}) => new Redis({ url, token, enableTelemetry: false, ...options }),
}))

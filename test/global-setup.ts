/**
 * Vitest global setup for the `workers` project (runs in Node): an ephemeral redis-server (or REDIS_URL),
 * the project's local Upstash REST server in front of it (fault control on), the echo upstream and a second
 * echo server that stands for a third party,
 * all on free loopback ports. Their URLs reach the worker as bindings through `inject()`.
 */
import type { TestProject } from 'vitest/node'
import { startEchoUpstream } from '../scripts/echo-upstream.ts'
import { startRedisServer } from '../scripts/lib/redis-server.ts'
import { startUpstashLocal } from '../scripts/upstash-local.ts'

export default async function setup(project: TestProject) {
  const stops: (() => Promise<void>)[] = []
  const teardown = async () => {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
  try {
    const redis = process.env.REDIS_URL ? undefined : await startRedisServer()
    if (redis) stops.push(() => redis.stop())
    const redisUrl = process.env.REDIS_URL ?? redis?.url
    const upstash = await startUpstashLocal({ faultControl: true, ...(redisUrl ? { redisUrl } : {}) })
    stops.push(() => upstash.close())
    const echo = await startEchoUpstream()
    stops.push(() => echo.close())
    // A server that is not the origin: anything the gateway sends it (after a redirect, say) is a leak.
    const thirdParty = await startEchoUpstream()
    stops.push(() => thirdParty.close())
    project.provide('upstashUrl', upstash.url)
    project.provide('upstashToken', upstash.token)
    project.provide('upstreamUrl', echo.url)
    project.provide('thirdPartyUrl', thirdParty.url)
  } catch (error) {
    await teardown()
    throw error
  }
  return teardown
}

declare module 'vitest' {
  export interface ProvidedContext {
    upstashUrl: string
    upstashToken: string
    upstreamUrl: string
    thirdPartyUrl: string
  }
}

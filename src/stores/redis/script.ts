/** Running the gateway's Lua scripts on Upstash: by SHA-1 when Redis has them, by source when it does not. */
import type { UpstashRest as Redis } from './rest'

export interface LuaScript {
  readonly source: string
  /** SHA-1 of `source`, pinned (each script's test checks it) so EVALSHA needs no hashing at run time. */
  readonly sha1: string
}

/** What running a script needs of a Redis client. */
export type ScriptRedis = Pick<Redis, 'evalsha' | 'eval'>

/**
 * EVALSHA first, EVAL on NOSCRIPT (as the library's `safeEval`): one round trip with a 40-byte body once Redis
 * has the script; two the first time per Redis script cache. Any other error rejects.
 */
export async function runScript(redis: ScriptRedis, script: LuaScript, keys: string[], args: (string | number)[]) {
  try {
    return await redis.evalsha<(string | number)[], unknown>(script.sha1, keys, args)
  } catch (error) {
    if (`${error}`.includes('NOSCRIPT'))
      return await redis.eval<(string | number)[], unknown>(script.source, keys, args)
    throw error
  }
}

/** Integers only; anything else means a foreign script answered, and the call must fail, not pass. */
export function integers(reply: unknown, length: number): number[] {
  if (!Array.isArray(reply) || reply.length !== length || !reply.every((n) => Number.isSafeInteger(n))) {
    throw new Error('unexpected Redis script reply')
  }
  return reply as number[]
}

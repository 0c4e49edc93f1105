import { describe, expect, it } from 'vitest'
import { checkRedisVersion } from './upstash-redis.ts'

describe('checkRedisVersion', () => {
  const url = 'redis://:secret@127.0.0.1:6379'
  const info = (version: string) => `# Server\r\nredis_version:${version}\r\nredis_mode:standalone\r\n`

  for (const version of ['7.0.0', '7.0.15', '7.4.2', '8.0.2', '10.1.0']) {
    it(`accepts Redis ${version}`, () => expect(() => checkRedisVersion(info(version), url)).not.toThrow())
  }

  for (const version of ['6.2.0', '6.0.20', '5.0.14', '2.8.24']) {
    it(`refuses Redis ${version}, naming it and the need for Redis >= 7`, () => {
      expect(() => checkRedisVersion(info(version), url)).toThrow(
        `upstash-local: Redis at redis://:***@127.0.0.1:6379 is version ${version}; upstash-local needs Redis >= 7, ` +
          'because the Lua scripts it runs start with "#!lua flags=..." shebangs, which Redis 7 introduced',
      )
    })
  }

  it('refuses an INFO reply without a redis_version line', () => {
    expect(() => checkRedisVersion('# Server\r\nredis_mode:standalone\r\n', url)).toThrow(
      /127\.0\.0\.1:6379 does not report its version; upstash-local needs Redis >= 7/,
    )
  })
})

import { mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { Redis } from 'ioredis'
import { afterEach, describe, expect, it } from 'vitest'
import { type RedisServer, startRedisServer } from './redis-server.ts'

const cleanups: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup()
})

async function start(dataDir?: string): Promise<RedisServer> {
  const redis = await startRedisServer({ dataDir })
  cleanups.push(() => redis.stop())
  return redis
}

async function withClient<T>(server: RedisServer, use: (client: Redis) => Promise<T>): Promise<T> {
  const client = new Redis(server.url, { lazyConnect: true, maxRetriesPerRequest: 1 })
  await client.connect()
  try {
    return await use(client)
  } finally {
    client.disconnect()
  }
}

function scratchDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'edgeward-redis-test-'))
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

describe('startRedisServer', () => {
  it('keeps keys and their expiry across a restart given the same data directory', async () => {
    const dataDir = path.join(scratchDir(), 'state', 'redis')
    const first = await start(dataDir)
    await withClient(first, async (client) => {
      await client.set('revoked:jti-1', '1', 'EX', 900)
      await client.set('plain', 'kept')
    })
    await first.stop()

    const second = await start(dataDir)
    expect(second.port).not.toBe(0)
    await withClient(second, async (client) => {
      expect(await client.get('plain')).toBe('kept')
      expect(await client.get('revoked:jti-1')).toBe('1')
      const ttl = await client.ttl('revoked:jti-1')
      expect(ttl).toBeGreaterThan(800)
      expect(ttl).toBeLessThanOrEqual(900)
    })
    await second.stop()
    // The directory is the caller's: stop() leaves it and the append-only files in it.
    expect(readdirSync(dataDir)).toContain('appendonlydir')
  })

  it('forgets everything on a restart without a data directory, and writes nothing to disk', async () => {
    const first = await start()
    await withClient(first, (client) => client.set('plain', 'gone'))
    await first.stop()
    const second = await start()
    await withClient(second, async (client) => {
      expect(await client.get('plain')).toBeNull()
      expect(await client.config('GET', 'appendonly')).toEqual(['appendonly', 'no'])
      expect(await client.config('GET', 'save')).toEqual(['save', ''])
    })
  })
})

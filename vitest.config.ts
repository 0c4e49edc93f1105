import path from 'node:path'
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations'))
  return {
    test: {
      projects: [
        {
          test: {
            name: 'node',
            environment: 'node',
            include: ['scripts/**/*.test.ts', 'test/node/**/*.test.ts'],
          },
        },
        {
          plugins: [
            cloudflareTest(({ inject }) => ({
              wrangler: { configPath: './wrangler.toml' },
              miniflare: {
                bindings: {
                  TEST_MIGRATIONS: migrations,
                  ENVIRONMENT: 'development',
                  UPSTASH_REDIS_REST_URL: inject('upstashUrl'),
                  UPSTASH_REDIS_REST_TOKEN: inject('upstashToken'),
                  UPSTREAM_URL: inject('upstreamUrl'),
                },
              },
            })),
          ],
          test: {
            name: 'workers',
            include: ['src/**/*.test.ts', 'test/workers/**/*.test.ts'],
            globalSetup: ['./test/global-setup.ts'],
            setupFiles: ['./test/workers/apply-migrations.ts'],
          },
        },
      ],
    },
  }
})

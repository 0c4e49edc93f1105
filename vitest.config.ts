import { randomBytes } from 'node:crypto'
import path from 'node:path'
import { cloudflareTest, readD1Migrations } from '@cloudflare/vitest-plugin'
import { defineConfig } from 'vitest/config'
import { generateEd25519Jwks } from './scripts/lib/keys.ts'
import { installRuntimeLogFilter } from './test/runtime-logs.ts'

// workerd prints failures the worker handled (a refused subrequest, an aborted upload) as "uncaught exception"
// lines; the known ones are hidden and counted. A real unhandled rejection is still reported by vitest itself.
installRuntimeLogFilter()

export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, 'migrations'))
  // Fresh per run (signing key, password pepper, upstream signing secret): nothing in the repository can mint tokens the tests accept.
  const signingKey = generateEd25519Jwks()
  const passwordPepper = randomBytes(32).toString('base64url')
  const upstreamSigningSecret = randomBytes(32).toString('base64url')
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
                  JWT_PRIVATE_KEY: JSON.stringify(signingKey.privateJwk),
                  PASSWORD_PEPPER: passwordPepper,
                  UPSTREAM_SIGNING_SECRET: upstreamSigningSecret,
                  // Account events go through the real queue (wrangler.toml) to the echo upstream, as in npm run dev.
                  ACCOUNT_EVENTS_URL: `${inject('upstreamUrl')}/__account-events`,
                  // Test files share one Redis and mostly send no CF-Connecting-IP (one shared bucket), so rate
                  // limiting is off by default; src/pipeline/rate-limit tests turn each policy on explicitly.
                  RATE_LIMIT_GLOBAL: 'off',
                  RATE_LIMIT_AUTH: 'off',
                  RATE_LIMIT_USER: 'off',
                  // The plugin also reads the checkout's .dev.vars, which npm run dev fills: every secret it writes
                  // is set above, and this one off (empty is unset), so a developer's .dev.vars changes nothing here.
                  METRICS_TOKEN: '',
                },
              },
            })),
          ],
          test: {
            name: 'workers',
            include: ['src/**/*.test.ts', 'test/workers/**/*.test.ts'],
            globalSetup: ['./test/global-setup.ts'],
            setupFiles: ['./test/workers/production-limits.ts', './test/workers/apply-migrations.ts'],
            // Files share workers (about 100 s instead of 350 s here): tests build their own apps and reset the
            // per-isolate state they read, so file order does not matter (README, Tests).
            isolate: false,
          },
        },
      ],
    },
  }
})

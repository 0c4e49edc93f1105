import { applyD1Migrations } from 'cloudflare:test'
import { env } from 'cloudflare:workers'

// Idempotent: applies only what is missing. Miniflare storage is isolated per test file.
await applyD1Migrations(env.DB, env.TEST_MIGRATIONS)

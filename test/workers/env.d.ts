declare namespace Cloudflare {
  interface Env {
    TEST_MIGRATIONS: import('cloudflare:test').D1Migration[]
    UPSTASH_REDIS_REST_URL: string
    UPSTASH_REDIS_REST_TOKEN: string
    UPSTREAM_URL: string
    JWT_PRIVATE_KEY: string
    UPSTREAM_SIGNING_SECRET: string
    ACCOUNT_EVENTS_URL: string
  }
}

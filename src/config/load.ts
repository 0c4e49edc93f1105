/**
 * Parses the configuration and logs the outcome: `config_invalid` naming the offending variables (never their
 * values), or the plaintext-Redis warning. `src/index.ts` calls it once per isolate (per bindings object).
 * A development configuration asked for a host that is not local is refused, and logged once per host.
 */
import { createLogThrottle } from '../lib/throttle'
import { log } from '../observability/logger'
import { type Config, type ConfigIssue, type ConfigResult, parseConfig, servingHostIssue } from './schema'
import { isLoopbackHost } from './vars'

// Never forgets a host, so each is logged once per isolate; the Host header is the client's to choose, so the
// number of hosts remembered (and logged) is bounded.
const refusedHosts = createLogThrottle({ intervalMs: Number.POSITIVE_INFINITY, maxKeys: 100 })

/** The parsed configuration for these bindings, with its outcome logged. */
export function loadConfig(env: object): ConfigResult {
  const result = parseConfig(env as Record<string, unknown>)
  report(result)
  return result
}

/**
 * Whether `config` may answer a request for the URL `url()` returns (called only for a development configuration,
 * so a deployed worker's requests are not parsed here). A refusal (a development configuration on a host that is
 * not local) is logged as `config_invalid` the first time this isolate sees that host.
 */
export function admitServingHost(config: Config, url: () => URL): boolean {
  if (config.environment !== 'development') return true
  const { hostname } = url()
  const issue = servingHostIssue(config, hostname)
  if (issue === undefined) return true
  if (refusedHosts.admit(hostname, Date.now())) {
    logInvalid([issue], 'A development configuration was asked for a host that is not local; it answers 500 there.')
  }
  return false
}

/**
 * The public `detail` of the 500 an invalid configuration answers with: generic, except on a loopback host (plain
 * `wrangler dev` reads the production-strict top level of wrangler.toml), where it names both ways to run locally.
 * Undefined means the generic text. Never names a variable: those are in the `config_invalid` log record.
 */
export function configErrorDetail(hostname: string): string | undefined {
  if (!isLoopbackHost(hostname)) return undefined
  return 'The gateway configuration is invalid; the config_invalid record in the log lists every problem. To run locally, use `npm run dev`, or `npm run upstash-local` and the `wrangler dev` command it prints.'
}

function logInvalid(issues: ConfigIssue[], description: string): void {
  log({
    event: 'config_invalid',
    level: 'critical',
    description,
    variables: [...new Set(issues.map((i) => i.variable))],
    problems: issues.map((i) => i.message),
  })
}

function report(result: ConfigResult): void {
  if (!result.ok) {
    logInvalid(
      result.issues,
      'The gateway configuration is invalid; every request is answered with 500 until it is fixed. `npm run doctor [-- --env NAME]` checks a configuration before it is deployed.',
    )
    return
  }
  if (result.config.redis.allowPlaintextOverride) {
    log({
      event: 'config_insecure_redis_plaintext',
      level: 'warn',
      description:
        'REDIS_INSECURE_ALLOW_PLAINTEXT=true: Redis traffic, including its bearer token, may travel unencrypted. Never use this outside local development.',
      in_use: result.config.redis.insecurePlaintext,
    })
  }
}

/**
 * Parses the configuration and logs the outcome: `config_invalid` naming the offending variables (never their
 * values), or the plaintext-Redis warning. `src/index.ts` calls it once per isolate (per bindings object).
 * A development configuration asked for a host that is not local is refused, and logged once per host.
 */
import { createLogThrottle } from '../lib/throttle'
import { log } from '../observability/logger'
import { type Config, type ConfigIssue, type ConfigResult, parseConfig, servingHostIssue } from './schema'

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
      'The gateway configuration is invalid; every request is answered with 500 until it is fixed.',
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

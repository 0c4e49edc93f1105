/**
 * Parses the configuration once per isolate (per bindings object) and logs the outcome once:
 * `config_invalid` naming the offending variables (never their values), or the plaintext-Redis warning.
 */
import { log } from '../log/logger'
import { type ConfigResult, parseConfig } from './schema'

const cache = new WeakMap<object, ConfigResult>()

/** The parsed configuration for these bindings; parsed and logged on first use only. */
export function loadConfig(env: object): ConfigResult {
  let result = cache.get(env)
  if (result === undefined) {
    result = parseConfig(env as Record<string, unknown>)
    cache.set(env, result)
    report(result)
  }
  return result
}

function report(result: ConfigResult): void {
  if (!result.ok) {
    log({
      event: 'config_invalid',
      level: 'critical',
      description: 'The gateway configuration is invalid; every request is answered with 500 until it is fixed.',
      variables: [...new Set(result.issues.map((i) => i.variable))],
      problems: result.issues.map((i) => i.message),
    })
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

/**
 * The forwarder for the configured origin: its breakers (logged on every transition) and, when the worker has a
 * service binding named UPSTREAM, that binding instead of a public fetch. Built once per isolate by the gateway.
 */
import type { Config } from '../config/schema'
import { createCircuitBreaker } from '../lib/breaker'
import { log } from '../observability/logger'
import { createForwarder, type Fetcher } from './forward'

export type Forward = ReturnType<typeof createForwarder>

/** Undefined when no UPSTREAM_URL is set (development only): proxied paths then answer 502. */
export function createOriginForwarder(config: Config, bindings: object): Forward | undefined {
  const url = config.upstream.url
  if (url === undefined) return undefined
  const { breaker: settings } = config.upstream
  const breakerFor = (key: string) =>
    createCircuitBreaker({
      ...settings,
      onTransition: (from, to) =>
        log({
          event:
            to === 'open'
              ? 'upstream_circuit_opened'
              : to === 'closed'
                ? 'upstream_circuit_closed'
                : 'upstream_circuit_probe',
          level: to === 'open' ? 'error' : 'info',
          description:
            to === 'open'
              ? `The origin could not be reached ${settings.failureThreshold} times in a row, from ${settings.minSources} or more clients: proxied requests fail fast for ${settings.cooldownMs / 1000} s.`
              : to === 'closed'
                ? 'The origin answers again: proxying resumed.'
                : 'The cooldown passed: requests from a few clients probe the origin.',
          breaker: key,
          from,
          to,
        }),
    })
  const binding = (bindings as { UPSTREAM?: Fetcher }).UPSTREAM
  return createForwarder({
    baseUrl: url,
    ...(binding !== undefined && typeof binding.fetch === 'function' ? { fetcher: binding } : {}),
    timeoutMs: config.upstream.timeoutMs,
    retries: config.upstream.retries as 0 | 1,
    breakerFor,
    openRetryAfterSeconds: Math.ceil(settings.cooldownMs / 1_000),
  })
}

import { readFileSync } from 'node:fs'
import path from 'node:path'
import { parse } from 'smol-toml'
import { describe, expect, it } from 'vitest'
import { ACCOUNT_EVENTS_MAX_RETRIES } from '../../src/accounts/queue-settings.ts'
import { DEFAULT_JWT_AUDIENCE, wranglerConfigProblems } from './wrangler-config.ts'

const toml = (...lines: string[]) => `name = "edgeward"\n${lines.join('\n')}\n`

/** A top level, staging and production, each with the JWT_AUDIENCE given. */
const withAudiences = (top: string, staging: string, production: string) =>
  toml(
    '[vars]',
    `JWT_AUDIENCE = "${top}"`,
    '[env.staging.vars]',
    `JWT_AUDIENCE = "${staging}"`,
    '[env.production.vars]',
    `JWT_AUDIENCE = "${production}"`,
  )

describe('wranglerConfigProblems: JWT_AUDIENCE per deployable configuration', () => {
  it("finds nothing wrong with the repository's wrangler.toml", () => {
    const text = readFileSync(path.join(import.meta.dirname, '..', '..', 'wrangler.toml'), 'utf8')
    expect(wranglerConfigProblems(text)).toEqual([])
  })

  it('accepts a distinct audience in the top level and in every environment', () => {
    expect(wranglerConfigProblems(withAudiences('edgeward', 'edgeward-staging', 'edgeward-production'))).toEqual([])
  })

  it('refuses one audience in the top level, staging and production, naming all three and the fix', () => {
    expect(wranglerConfigProblems(withAudiences('edgeward', 'edgeward', 'edgeward'))).toEqual([
      'JWT_AUDIENCE "edgeward" is shared by the top level, [env.staging] and [env.production]: a token issued by one is accepted by the other whenever their signing keys match. ' +
        'Give each deployable configuration its own audience, e.g. JWT_AUDIENCE = "edgeward-staging" in [env.staging.vars] and JWT_AUDIENCE = "edgeward-production" in [env.production.vars].',
    ])
  })

  it('refuses two environments sharing an audience that the top level does not have', () => {
    const [problem, ...more] = wranglerConfigProblems(withAudiences('gateway-top', 'api', 'api'))
    expect(more).toEqual([])
    expect(problem).toMatch(/^JWT_AUDIENCE "api" is shared by \[env\.staging\] and \[env\.production\]:/)
    expect(problem).toContain('JWT_AUDIENCE = "api-production" in [env.production.vars]')
    expect(problem).not.toContain('top level')
  })

  it('counts an unset JWT_AUDIENCE as the default, because an environment does not inherit [vars]', () => {
    const text = toml(
      '[vars]',
      `JWT_AUDIENCE = "${DEFAULT_JWT_AUDIENCE}"`,
      '[env.staging]',
      'name = "edgeward-staging"',
    )
    const [problem] = wranglerConfigProblems(text)
    expect(problem).toContain(
      `JWT_AUDIENCE "${DEFAULT_JWT_AUDIENCE}" is shared by the top level and [env.staging] (unset there, so the gateway's default)`,
    )
    expect(problem).toContain(`JWT_AUDIENCE = "${DEFAULT_JWT_AUDIENCE}-staging" in [env.staging.vars]`)
  })

  it('accepts a single deployable configuration', () => {
    expect(wranglerConfigProblems(toml('[vars]', 'ENVIRONMENT = "production"'))).toEqual([])
  })

  it('reports a file that is not TOML instead of throwing', () => {
    const [problem, ...more] = wranglerConfigProblems('[vars\nJWT_AUDIENCE = ')
    expect(more).toEqual([])
    expect(problem).toMatch(/^it is not valid TOML: /)
  })
})

describe('wranglerConfigProblems: the account-events queue', () => {
  /** A top level that binds, consumes and dead-letters its own account-events queue, plus `consumer` lines. */
  const withQueue = (...consumer: string[]) =>
    toml(
      '[[queues.producers]]',
      'binding = "ACCOUNT_EVENTS_QUEUE"',
      'queue = "events"',
      '[[queues.consumers]]',
      'queue = "events"',
      ...consumer,
    )

  it("finds the repository's queues consumed by the worker with the retries the code counts on", () => {
    const text = readFileSync(path.join(import.meta.dirname, '..', '..', 'wrangler.toml'), 'utf8')
    const config = parse(text) as {
      queues: { consumers: { max_retries: number; dead_letter_queue: string }[] }
      env: Record<string, { queues: { consumers: { max_retries: number; dead_letter_queue: string }[] } }>
    }
    const consumers = [config.queues, ...Object.values(config.env).map((e) => e.queues)].flatMap((q) => q.consumers)
    expect(consumers).toHaveLength(3)
    for (const consumer of consumers) {
      expect(consumer.max_retries).toBe(ACCOUNT_EVENTS_MAX_RETRIES)
      expect(consumer.dead_letter_queue).toMatch(/-dlq$/)
    }
  })

  it('accepts a queue consumed with max_retries and a dead-letter queue, and no queue at all', () => {
    expect(
      wranglerConfigProblems(
        withQueue(`max_retries = ${ACCOUNT_EVENTS_MAX_RETRIES}`, 'dead_letter_queue = "events-dlq"'),
      ),
    ).toEqual([])
    expect(wranglerConfigProblems(toml('[vars]', 'ENVIRONMENT = "production"'))).toEqual([])
  })

  it('refuses a queue nobody consumes: events would never be delivered', () => {
    const [problem, ...more] = wranglerConfigProblems(
      toml('[[queues.producers]]', 'binding = "ACCOUNT_EVENTS_QUEUE"', 'queue = "events"'),
    )
    expect(more).toEqual([])
    expect(problem).toContain(
      'sends account events to the queue "events" (ACCOUNT_EVENTS_QUEUE) but does not consume it',
    )
  })

  it('refuses other retries than the consumer counts on, and no dead-letter queue', () => {
    expect(wranglerConfigProblems(withQueue('max_retries = 3'))).toEqual([
      expect.stringContaining(
        `has max_retries = 3, but the consumer logs the last attempt as dead-lettered after ${ACCOUNT_EVENTS_MAX_RETRIES}`,
      ),
      expect.stringContaining(
        'has no dead_letter_queue of its own: an event whose retries all failed would be deleted',
      ),
    ])
  })

  it('refuses one queue shared by two configurations, naming both', () => {
    const consumer = ['max_retries = 8', 'dead_letter_queue = "events-dlq"']
    const shared = `${withQueue(...consumer)}\n${[
      '[[env.staging.queues.producers]]',
      'binding = "ACCOUNT_EVENTS_QUEUE"',
      'queue = "events"',
      '[[env.staging.queues.consumers]]',
      'queue = "events"',
      ...consumer,
      '[env.staging.vars]',
      'JWT_AUDIENCE = "staging"',
    ].join('\n')}\n`
    expect(wranglerConfigProblems(shared)).toEqual([
      expect.stringContaining('The account-events queue "events" is used by the top level and [env.staging]'),
    ])
  })
})

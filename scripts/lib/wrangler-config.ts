/**
 * Checks on wrangler.toml that wrangler does not make itself, run by `npm run dev` and `npm run build`.
 * Pure: the file's text in, fix-it messages out.
 */
import { parse, type TomlTable } from 'smol-toml'
import { ACCOUNT_EVENTS_MAX_RETRIES, ACCOUNT_EVENTS_QUEUE_BINDING } from '../../src/accounts/queue-settings.ts'

/** What the gateway uses when JWT_AUDIENCE is unset (the default in src/config/schema.ts). */
export const DEFAULT_JWT_AUDIENCE = 'edgeward'

/** One configuration `wrangler deploy` can ship: the top level, or one `[env.NAME]`. */
interface Deployable {
  /** How a reader finds it in the file: "the top level" or "[env.staging]". */
  label: string
  /** Where its vars go: "[vars]" or "[env.staging.vars]". */
  varsTable: string
  /** The environment's name; undefined for the top level. */
  env?: string
  audience: string
  /** False when JWT_AUDIENCE is not set for it and the gateway's default applies. */
  explicit: boolean
  /** Its `queues` table ("[[queues.consumers]]" or "[[env.staging.queues.consumers]]"), and the prefix to name it. */
  queues: { producers: TomlTable[]; consumers: TomlTable[]; prefix: string }
}

const isTable = (value: unknown): value is TomlTable =>
  typeof value === 'object' && value !== null && !Array.isArray(value)

const tables = (value: unknown): TomlTable[] => (Array.isArray(value) ? value.filter(isTable) : [])

function deployable(label: string, env: string | undefined, table: unknown): Deployable {
  const prefix = env === undefined ? '' : `env.${env}.`
  const vars = isTable(table) ? table.vars : undefined
  const value = isTable(vars) ? vars.JWT_AUDIENCE : undefined
  const explicit = value !== undefined && value !== ''
  const queues = isTable(table) && isTable(table.queues) ? table.queues : {}
  return {
    label,
    varsTable: `[${prefix}vars]`,
    env,
    audience: explicit ? String(value) : DEFAULT_JWT_AUDIENCE,
    explicit,
    queues: { producers: tables(queues.producers), consumers: tables(queues.consumers), prefix },
  }
}

/**
 * The top level and every `[env.*]`. Wrangler inherits neither `vars` nor queue bindings into an environment, so
 * each stands alone.
 */
function deployables(config: TomlTable): Deployable[] {
  const found = [deployable('the top level', undefined, config)]
  const envs = isTable(config.env) ? config.env : {}
  for (const [name, table] of Object.entries(envs)) found.push(deployable(`[env.${name}]`, name, table))
  return found
}

const listed = (items: string[]) =>
  items.length <= 1 ? (items[0] ?? '') : `${items.slice(0, -1).join(', ')} and ${items.at(-1)}`

/**
 * Two deployable configurations with one audience accept each other's tokens whenever their signing keys match
 * (a copied secret, a shared key pair): a staging token would then work in production.
 */
function sharedAudienceProblems(configs: Deployable[]): string[] {
  const byAudience = new Map<string, Deployable[]>()
  for (const config of configs) byAudience.set(config.audience, [...(byAudience.get(config.audience) ?? []), config])
  const problems: string[] = []
  for (const [audience, group] of byAudience) {
    if (group.length < 2) continue
    const who = group.map((d) => (d.explicit ? d.label : `${d.label} (unset there, so the gateway's default)`))
    // The first keeps its audience (the top level when it is one of them); the others get one of their own.
    const fixes = group.slice(1).map((d) => `JWT_AUDIENCE = "${audience}-${d.env ?? 'default'}" in ${d.varsTable}`)
    problems.push(
      `JWT_AUDIENCE "${audience}" is shared by ${listed(who)}: a token issued by one is accepted by the other whenever their signing keys match. ` +
        `Give each deployable configuration its own audience, e.g. ${listed(fixes)}.`,
    )
  }
  return problems
}

/**
 * The account-events queue of each configuration that binds one: consumed by the same worker (or events would be
 * queued and never delivered), with the retries the consumer counts on and a dead-letter queue (or the last
 * failure would delete the event), and its own (a queue has one consumer: another environment's worker would
 * deliver the events, to its own origin). A configuration without the binding delivers directly (README).
 */
function accountEventQueueProblems(configs: Deployable[]): string[] {
  const problems: string[] = []
  const users = new Map<string, string[]>()
  for (const { label, queues } of configs) {
    const producer = queues.producers.find((p) => p.binding === ACCOUNT_EVENTS_QUEUE_BINDING)
    if (producer === undefined || typeof producer.queue !== 'string') continue
    const queue = producer.queue
    users.set(queue, [...(users.get(queue) ?? []), label])
    const consumer = queues.consumers.find((c) => c.queue === queue)
    const table = `[[${queues.prefix}queues.consumers]]`
    if (consumer === undefined) {
      problems.push(
        `${label} sends account events to the queue "${queue}" (${ACCOUNT_EVENTS_QUEUE_BINDING}) but does not consume it: they would never be delivered. Add a ${table} entry with queue = "${queue}", max_retries = ${ACCOUNT_EVENTS_MAX_RETRIES} and a dead_letter_queue.`,
      )
      continue
    }
    if (consumer.max_retries !== ACCOUNT_EVENTS_MAX_RETRIES) {
      problems.push(
        `${label}: the ${table} entry for "${queue}" has max_retries = ${consumer.max_retries ?? 'unset (3)'}, but the consumer logs the last attempt as dead-lettered after ${ACCOUNT_EVENTS_MAX_RETRIES} (src/accounts/queue-settings.ts). Set max_retries = ${ACCOUNT_EVENTS_MAX_RETRIES}.`,
      )
    }
    if (typeof consumer.dead_letter_queue !== 'string' || consumer.dead_letter_queue === queue) {
      problems.push(
        `${label}: the ${table} entry for "${queue}" has no dead_letter_queue of its own: an event whose retries all failed would be deleted. Add dead_letter_queue = "${queue}-dlq".`,
      )
    }
  }
  for (const [queue, labels] of users) {
    if (labels.length < 2) continue
    problems.push(
      `The account-events queue "${queue}" is used by ${listed(labels)}: a queue has one consumer, so one configuration's events would be delivered by the other's worker, to its origin. Give each its own queue and dead-letter queue.`,
    )
  }
  return problems
}

/** Everything wrong with this wrangler.toml text, as messages that say how to fix it; empty when nothing is. */
export function wranglerConfigProblems(text: string): string[] {
  let config: TomlTable
  try {
    config = parse(text)
  } catch (error) {
    return [`it is not valid TOML: ${error instanceof Error ? error.message : String(error)}`]
  }
  const configs = deployables(config)
  return [...sharedAudienceProblems(configs), ...accountEventQueueProblems(configs)]
}

// What `npm run dev` has started and how it all stops: every resource is registered as it starts, and one
// shutdown (Ctrl-C, SIGTERM, a start-up error, or a part that died) stops them newest first, then exits.
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

const STOP_STEP_TIMEOUT_MS = 10_000
/** `npm run` forwards SIGINT to its child while the terminal also sends it one, so one Ctrl-C can arrive twice. */
const FORCE_AFTER_MS = 1_000

/** Thrown inside the start-up once shutdown has begun, to stop starting things. */
export class Stopping extends Error {
  override name = 'Stopping'
}

/** A started part of the stack: `stop` ends it cleanly, `kill` (if any) at once. */
export type Resource = { name: string; stop: () => Promise<void>; kill?: () => void }

const resources: Resource[] = []
let stopping = false
let stoppingSince = 0
/** The step in flight; shutdown waits for it so whatever it starts is registered, then stopped. */
let inFlight: Promise<unknown> = Promise.resolve()

/** One line of `npm run dev` output. */
export const say = (line: string) => console.log(`[dev] ${line}`)
/** The time since `fromMs` (a `performance.now()`), for humans. */
export const seconds = (fromMs: number) => `${((performance.now() - fromMs) / 1000).toFixed(1)} s`

/** Whether shutdown has begun. */
export function isStopping(): boolean {
  return stopping
}

/** Throws {@link Stopping} once shutdown has begun: call it between start-up steps. */
export function checkpoint(): void {
  if (stopping) throw new Stopping()
}

/** Tracks a starting resource: registered for shutdown as soon as it resolves. */
export function starting<T>(name: string, promise: Promise<T>, stop: (value: T) => Promise<void>): Promise<T> {
  const registered = promise.then((value) => {
    resources.push({ name, stop: () => stop(value) })
    return value
  })
  inFlight = registered.catch(() => {})
  return registered
}

/** Registers a resource that has started, for shutdown to stop. */
export function track(resource: Resource): void {
  resources.push(resource)
}

/** Drops a resource that has ended, by itself or stopped by shutdown. */
export function forget(name: string): void {
  const index = resources.findIndex((r) => r.name === name)
  if (index >= 0) resources.splice(index, 1)
}

let shuttingDown: Promise<never> | undefined

/** Stops everything started so far, newest first, then exits. Safe to call more than once. */
export function shutdown(reason: string, exitCode: number): Promise<never> {
  if (!stopping) {
    stopping = true
    stoppingSince = performance.now()
  }
  shuttingDown ??= stopAll(reason, exitCode)
  return shuttingDown
}

async function stopAll(reason: string, exitCode: number): Promise<never> {
  const t0 = performance.now()
  const quiet = resources.length === 0 && exitCode !== 0 // a start-up error before anything ran says it all
  if (!quiet) say(`stopping (${reason})…`)
  await Promise.race([inFlight, sleep(STOP_STEP_TIMEOUT_MS)])
  // Wrangler stops before the services it talks to. Each resource stays listed until
  // it has stopped, so a forced stop (second Ctrl-C) still reaches it.
  for (const resource of resources.slice().reverse()) {
    try {
      await Promise.race([
        resource.stop(),
        sleep(STOP_STEP_TIMEOUT_MS).then(() => {
          throw new Error(`timed out after ${STOP_STEP_TIMEOUT_MS} ms`)
        }),
      ])
    } catch (err) {
      say(`could not stop ${resource.name} cleanly: ${err instanceof Error ? err.message : String(err)}`)
      resource.kill?.()
    }
    forget(resource.name)
  }
  if (!quiet) say(`stopped in ${seconds(t0)}`)
  process.exit(exitCode)
}

function forceKill(): void {
  say('second signal: force-killing')
  for (const resource of resources) resource.kill?.()
  // In-process servers die with this process; give upstash-local a moment to stop its redis-server.
  const upstash = resources.find((r) => r.name === 'upstash-local')
  void Promise.race([upstash?.stop(), sleep(2_000)]).finally(() => process.exit(130))
}

/** For SIGINT, SIGTERM and SIGHUP: the first starts shutdown; another one a moment later force-kills. */
export function onSignal(signal: NodeJS.Signals): void {
  if (!stopping) {
    void shutdown(`received ${signal}`, 0)
  } else if (performance.now() - stoppingSince > FORCE_AFTER_MS) {
    forceKill()
  }
}

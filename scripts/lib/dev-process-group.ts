// Process groups for `npm run dev`: wrangler runs in a group of its own so that one signal also reaches its
// workerd children, and a stop waits until no member of the group is left running.
import { readdirSync, readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'

const STOP_GRACE_MS = 5_000

/** Sends `signal` to the whole group `pid`; false when the group is gone. */
export function signalGroup(pid: number, signal: NodeJS.Signals | 0): boolean {
  try {
    process.kill(-pid, signal)
    return true
  } catch {
    return false // ESRCH: the whole group is gone
  }
}

/**
 * Whether any process of group `pgid` is still running. Zombies do not count: they have
 * exited and only wait for init to reap them (slow on some container inits).
 */
function groupAlive(pgid: number): boolean {
  if (!signalGroup(pgid, 0)) return false
  if (process.platform !== 'linux') return true
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    let stat: string
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8')
    } catch {
      continue // exited while we looked
    }
    // "pid (comm) state ppid pgrp …"; comm may contain spaces and parentheses.
    const [state, , pgrp] = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    if (Number(pgrp) === pgid && state !== 'Z' && state !== 'X') return true
  }
  return false
}

async function waitGroupGone(pgid: number, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs
  while (groupAlive(pgid)) {
    if (performance.now() >= deadline) return false
    await sleep(50)
  }
  return true
}

/** SIGTERM to the group, SIGKILL after {@link STOP_GRACE_MS}; resolves once no member is left. */
export async function stopGroup(pid: number, exited: Promise<number>): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return
  await Promise.race([exited, sleep(STOP_GRACE_MS)])
  if (await waitGroupGone(pid, STOP_GRACE_MS)) return
  signalGroup(pid, 'SIGKILL')
  await waitGroupGone(pid, 2_000)
}

// Process groups for `npm run dev`: wrangler runs in a group of its own so that one signal also reaches its
// workerd children, and a stop waits until no member of the group is left running.
import { spawn } from 'node:child_process'
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
export function groupAlive(pgid: number): boolean {
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

// Waits for its stdin to close, then stops the group: SIGTERM, SIGKILL after the same grace. This process holds
// the other end, so the group is stopped even when this process dies in a way no handler sees (SIGKILL, an OOM
// kill), where it would otherwise keep running and hold the gateway's port.
const WATCHDOG = [
  'read _',
  'kill -TERM -"$1" 2>/dev/null || exit 0',
  `i=0; while [ $i -lt ${STOP_GRACE_MS / 100} ] && kill -0 -"$1" 2>/dev/null; do sleep 0.1; i=$((i+1)); done`,
  'kill -KILL -"$1" 2>/dev/null; exit 0',
].join('\n')

/**
 * Starts a watchdog that stops group `pid` once this process is gone; `dismiss` ends it, for when the group was
 * stopped the ordinary way.
 */
export function watchGroup(pid: number): { dismiss: () => void } {
  const watchdog = spawn('/bin/sh', ['-c', WATCHDOG, 'dev-watchdog', String(pid)], {
    detached: true,
    stdio: ['pipe', 'ignore', 'ignore'],
  })
  watchdog.on('error', () => {}) // no /bin/sh: the group is then only stopped the ordinary way
  // Neither the watchdog nor its pipe keeps this process alive.
  watchdog.unref()
  ;(watchdog.stdin as unknown as { unref?: () => void } | null)?.unref?.()
  return {
    dismiss: () => {
      if (watchdog.exitCode === null && watchdog.pid !== undefined) {
        try {
          process.kill(watchdog.pid, 'SIGKILL')
        } catch {
          // already gone
        }
      }
    },
  }
}

/** SIGTERM to the group, SIGKILL after {@link STOP_GRACE_MS}; resolves once no member is left. */
export async function stopGroup(pid: number, exited: Promise<number>): Promise<void> {
  if (!signalGroup(pid, 'SIGTERM')) return
  await Promise.race([exited, sleep(STOP_GRACE_MS)])
  if (await waitGroupGone(pid, STOP_GRACE_MS)) return
  signalGroup(pid, 'SIGKILL')
  await waitGroupGone(pid, 2_000)
}

/**
 * CPU time of a child process, read from Linux's /proc: what `npm run bench` reports as the runtime's CPU per
 * request (user + system time of the workerd process over a round, divided by its requests). On a machine without
 * /proc the reader is undefined and the column says n/a.
 */
import { execFileSync } from 'node:child_process'
import { readFileSync } from 'node:fs'

/** Milliseconds of CPU (user + system) `pid` has used so far. */
export type CpuReader = () => number

/** The pids of this process's children whose command line contains `text` (none where /proc or pgrep is missing). */
export function childrenWithCommand(text: string): number[] {
  let children: string[]
  try {
    children = execFileSync('pgrep', ['-P', String(process.pid)], { encoding: 'utf8' })
      .trim()
      .split('\n')
  } catch {
    return []
  }
  return children.map(Number).filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes(text)
    } catch {
      return false
    }
  })
}

/** The reader of the child of this process whose command line contains `name`, or undefined. */
export function childCpuReader(name: string): CpuReader | undefined {
  if (process.platform !== 'linux') return undefined
  const pid = childrenWithCommand(name)[0]
  if (pid === undefined) return undefined
  return () => processCpuMs(readFileSync(`/proc/${pid}/stat`, 'utf8'))
}

// Clock ticks per second for /proc times: 100 on every Linux architecture node runs on (USER_HZ).
const TICKS_PER_SECOND = 100

/** utime + stime of a /proc/<pid>/stat line, in ms. The command name may hold spaces: fields count from its `)`. */
export function processCpuMs(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / TICKS_PER_SECOND
}

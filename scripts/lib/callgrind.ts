/**
 * workerd under valgrind's callgrind, for `npm run cost`: it counts the instructions the runtime executes, a
 * number that does not depend on what else the machine is doing, where CPU time on a shared machine swings by
 * 20–40 % (docs/PERFORMANCE.md). Miniflare starts the binary `MINIFLARE_WORKERD_PATH` names, so a
 * wrapper script that execs valgrind puts the whole runtime under it; `callgrind_control -d` then dumps and zeroes
 * the counters of one process on demand.
 */
import { execFileSync } from 'node:child_process'
import { chmod, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { convertV4MiniflareOptions, Miniflare, type V4WorkerOptions } from 'miniflare'
import { childrenWithCommand } from './process-cpu.ts'

// The binary Miniflare runs by default (the `workerd` package, a CommonJS module without types).
const WORKERD = (createRequire(import.meta.url)('workerd') as { default: string }).default

/** Whether `valgrind` and `callgrind_control` can be run here. */
export function callgrindAvailable(): boolean {
  try {
    execFileSync('valgrind', ['--version'], { stdio: 'ignore' })
    execFileSync('callgrind_control', ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

/**
 * Writes the wrapper script into `dir` and returns its path, for `MINIFLARE_WORKERD_PATH`. Each process it starts
 * writes its dumps to `dir/cg.<pid>.out.<n>`. V8 writes machine code into memory it then runs, so valgrind must
 * check for self-modifying code outside files (`--smc-check=all-non-file`).
 */
export async function writeCallgrindWorkerd(dir: string): Promise<string> {
  const script = path.join(dir, 'workerd-callgrind.sh')
  await writeFile(
    script,
    [
      '#!/bin/sh',
      `exec valgrind --tool=callgrind --callgrind-out-file=${JSON.stringify(path.join(dir, 'cg.%p.out'))} \\`,
      `  --smc-check=all-non-file --error-limit=no -q ${JSON.stringify(WORKERD)} "$@"`,
      '',
    ].join('\n'),
  )
  await chmod(script, 0o755)
  return script
}

/** The instruction total of one callgrind dump (its `totals:` line, or `summary:` in older formats). */
export function callgrindTotal(dump: string): number {
  const match = /^(?:totals|summary): (\d+)/m.exec(dump)
  if (match === null) throw new Error('callgrind dump without a totals line')
  return Number(match[1])
}

/** The pids of this process's children that run under callgrind. */
export const callgrindChildren = (): number[] => childrenWithCommand('--tool=callgrind')

/**
 * Instructions process `pid` executed since the last call: dumps (which zeroes its counters), sums the dumps it
 * wrote to `dir` (`cg.<pid>.out.<n>`; the bare `cg.<pid>.out` is written only at exit) and deletes them.
 */
export async function takeInstructions(pid: number, dir: string): Promise<number> {
  execFileSync('callgrind_control', ['-d', String(pid)], { stdio: 'ignore' })
  const dump = new RegExp(`^cg\\.${pid}\\.out\\.\\d+$`)
  let total = 0
  for (const file of await readdir(dir)) {
    if (!dump.test(file)) continue
    const full = path.join(dir, file)
    total += callgrindTotal(await readFile(full, 'utf8'))
    await rm(full)
  }
  return total
}

/** A Miniflare whose workerd runs under callgrind, and that process's pid (for `takeInstructions`). */
export interface CallgrindGroup {
  mf: Miniflare
  pid: number
}

/**
 * Starts one Miniflare for `workers` with its workerd under callgrind (`wrapper`, from `writeCallgrindWorkerd`) and
 * finds that process; its disposal goes first into `steps`.
 */
export async function startCallgrindGroup(
  workers: V4WorkerOptions[],
  wrapper: string,
  steps: (() => unknown)[],
): Promise<CallgrindGroup> {
  const before = new Set(callgrindChildren())
  const previous = process.env.MINIFLARE_WORKERD_PATH
  process.env.MINIFLARE_WORKERD_PATH = wrapper
  let mf: Miniflare
  try {
    mf = new Miniflare(convertV4MiniflareOptions({ cf: false, handleStructuredLogs: () => {}, workers }))
    steps.unshift(() => mf.dispose())
    await mf.ready
  } finally {
    if (previous === undefined) delete process.env.MINIFLARE_WORKERD_PATH
    else process.env.MINIFLARE_WORKERD_PATH = previous
  }
  const pid = callgrindChildren().find((p) => !before.has(p))
  if (pid === undefined) throw new Error('callgrind: the workerd process under callgrind was not found')
  return { mf, pid }
}

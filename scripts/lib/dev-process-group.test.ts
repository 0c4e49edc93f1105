import { spawn } from 'node:child_process'
import path from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { describe, expect, it } from 'vitest'
import { groupAlive } from './dev-process-group.ts'

const MODULE = path.join(import.meta.dirname, 'dev-process-group.ts')

describe('watchGroup', { timeout: 30_000 }, () => {
  it('stops the group once the process that started it dies without cleaning up (SIGKILL)', async () => {
    // A parent as npm run dev is: it starts a group of its own (two sleeps under a shell), watches it, and waits.
    const script = [
      "import { spawn } from 'node:child_process'",
      `import { watchGroup } from ${JSON.stringify(MODULE)}`,
      "const child = spawn('/bin/sh', ['-c', 'sleep 60 & sleep 60'], { detached: true, stdio: 'ignore' })",
      'watchGroup(child.pid)',
      'console.log(child.pid)',
      'setInterval(() => {}, 1000)',
    ].join('\n')
    const parent = spawn(process.execPath, ['--experimental-strip-types', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    })
    const pid = await new Promise<number>((resolve, reject) => {
      parent.stdout.once('data', (chunk: Buffer) => resolve(Number(chunk.toString().trim())))
      parent.once('exit', () => reject(new Error('the parent exited before starting the group')))
    })
    expect(groupAlive(pid)).toBe(true)
    parent.kill('SIGKILL')
    let alive = true
    for (let i = 0; i < 100 && alive; i++) {
      await sleep(50)
      alive = groupAlive(pid)
    }
    expect(alive).toBe(false)
  })
})

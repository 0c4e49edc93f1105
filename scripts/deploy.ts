/**
 * `npm run deploy [-- --env NAME]`: the doctor first (`npm run doctor` with the same `--env` and `--config`), then
 * `wrangler deploy` with every argument given, only when the doctor found no error. A refused deploy exits 1.
 */
import { spawn } from 'node:child_process'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { runDoctor } from './doctor.ts'
import { type DeployDeps, deploy } from './lib/doctor-deploy.ts'

const ROOT = path.resolve(import.meta.dirname, '..')

const deps: DeployDeps = {
  doctor: (options) => runDoctor(options),
  wrangler: (args) =>
    new Promise((resolve) => {
      const bin = path.join(ROOT, 'node_modules', 'wrangler', 'bin', 'wrangler.js')
      const child = spawn(process.execPath, [bin, ...args], { cwd: ROOT, stdio: 'inherit' })
      child.once('error', () => resolve(1))
      child.once('exit', (code) => resolve(code ?? 1))
    }),
  print: (line) => console.error(line),
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  process.exitCode = await deploy(process.argv.slice(2), deps)
}

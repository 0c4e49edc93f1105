/**
 * `npm run build` runs this before `wrangler deploy --dry-run`: it refuses a wrangler.toml that wrangler accepts
 * but that would deploy the gateway unsafely (see lib/wrangler-config.ts).
 *
 *   node --experimental-strip-types scripts/check-wrangler.ts [path/to/wrangler.toml]
 */
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { wranglerConfigProblems } from './lib/wrangler-config.ts'

const file = path.resolve(process.argv[2] ?? path.join(import.meta.dirname, '..', 'wrangler.toml'))
const shown = path.relative(process.cwd(), file)
const problems = wranglerConfigProblems(readFileSync(file, 'utf8'))
for (const problem of problems) console.error(`${shown.startsWith('..') ? file : shown}: ${problem}`)
process.exitCode = problems.length > 0 ? 1 : 0

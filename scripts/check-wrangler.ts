/**
 * `npm run build` runs this before `wrangler deploy --dry-run`: the doctor's checks that need neither secrets nor
 * an environment's values (`npm run doctor -- --offline`), over every configuration in wrangler.toml: a
 * wrangler.toml that wrangler accepts but that would deploy the gateway unsafely (lib/wrangler-config.ts), a
 * missing or future compatibility date, and an invalid route table (src/policies.ts). Exit 1 on any.
 *
 *   node --experimental-strip-types scripts/check-wrangler.ts [path/to/wrangler.toml]
 */
import { runDoctor } from './doctor.ts'

const diagnosis = await runDoctor({ mode: 'build', config: process.argv[2] })
process.exitCode = diagnosis.errors.length > 0 ? 1 : 0

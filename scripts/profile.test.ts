/**
 * `npm run profile`: the profile is taken from the gateway's own isolate (its frames name src/ files), and the
 * summary's shares are computed as documented, checked on a synthetic profile whose answer is known.
 */
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from '../test/node/support/worker.ts'
import { bundleSources, type CpuProfile, renderProfileRows, summarizeProfile } from './lib/cpu-profile.ts'
import { runProfile, unminifiedConfig } from './profile.ts'

const frame = (functionName: string, url = '', lineNumber = -1) => ({ functionName, url, lineNumber, columnNumber: 0 })

// root → handler (bundle line 3, src/a.ts) → handler again (recursion) → fetch (native); root → (idle), (garbage collector)
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6] },
    { id: 2, callFrame: frame('handler', 'index.js', 3), children: [3] },
    { id: 3, callFrame: frame('handler', 'index.js', 3), children: [4] },
    { id: 4, callFrame: frame('fetch') },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
  ],
  startTime: 0,
  endTime: 6_000,
  samples: [4, 4, 3, 2, 5, 6],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000],
}
const BUNDLE = [
  '// ../node_modules/hono/dist/compose.js',
  'var x = 1',
  '// ../../work/edgeward/src/a.ts',
  'function handler() {}',
].join('\n')

describe('profile summary', () => {
  it('shares the busy samples out by function, counting a recursive function once per sample', () => {
    const summary = summarizeProfile(PROFILE, (url) => url === 'index.js', bundleSources(BUNDLE))
    // Five samples of six were busy: the idle one is not a share of anything.
    expect(summary.busySamples).toBe(5)
    expect(summary.busyMs).toBeCloseTo(5, 5)
    expect(summary.rows).toEqual([
      // Equal self shares: the one more often on the stack first.
      { name: 'handler', where: 'src/a.ts', self: 40, total: 80 },
      { name: 'fetch', where: '(native)', self: 40, total: 40 },
      { name: '(garbage collector)', where: '(native)', self: 20, total: 20 },
    ])
    expect(renderProfileRows(summary.rows.slice(0, 1))).toBe(
      '| self % | total % | function | where |\n|---|---|---|---|\n| 40.0 | 80.0 | handler | src/a.ts |',
    )
  })

  it("maps a bundle line to the module esbuild's marker names, cut to src/ or node_modules/", () => {
    const source = bundleSources(BUNDLE)
    expect(source(0)).toBe('node_modules/hono/dist/compose.js')
    expect(source(1)).toBe('node_modules/hono/dist/compose.js')
    expect(source(3)).toBe('src/a.ts')
    expect(bundleSources('var x = 1')(0)).toBeUndefined()
  })

  it('builds from wrangler.toml as it is, unminified, or refuses', async () => {
    const toml = await readFile(path.join(ROOT, 'wrangler.toml'), 'utf8')
    const copy = unminifiedConfig(toml, ROOT)
    expect(copy).toContain(`main = ${JSON.stringify(path.join(ROOT, 'src/index.ts'))}`)
    expect(copy).toMatch(/^minify = false$/m)
    // Everything else is the deployed configuration.
    expect(copy.replace(/^main = .*$/m, '').replace(/^minify = .*$/m, '')).toBe(
      toml.replace(/^main = .*$/m, '').replace(/^minify = .*$/m, ''),
    )
    expect(() => unminifiedConfig(toml.replace('minify = true', 'minify = false'), ROOT)).toThrow(/minify/)
  })
})

describe('npm run profile', () => {
  it('refuses an unknown worker before building anything', async () => {
    await expect(
      runProfile({ worker: 'ew-nope', durationMs: 100, warmMs: 0, intervalUs: 500, concurrency: 1 }),
    ).rejects.toThrow(/ew-auth, ew-public, ew-public-local, ew-blocked/)
  })

  it("profiles the gateway's isolate under load, its frames named by src/ file", async () => {
    const run = await runProfile({
      worker: 'ew-public-local',
      durationMs: 1000,
      warmMs: 300,
      intervalUs: 500,
      concurrency: 4,
    })
    expect(run.requests).toBeGreaterThan(0)
    expect(run.errors).toBe(0)
    expect(run.profile.samples.length).toBeGreaterThan(0)
    expect(run.summary.busySamples).toBeGreaterThan(0)
    const places = new Set(run.summary.rows.map((r) => r.where))
    // The proxy's own code ran, and the bundle's lines were mapped back to their modules.
    expect(places).toContain('src/routes/proxy.ts')
    expect([...places].some((p) => p.startsWith('node_modules/hono/'))).toBe(true)
    expect(places).not.toContain('bundle')
  }, 60_000)
})

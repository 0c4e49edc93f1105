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

// root → handler (bundle line 3, src/a.ts) → handler again (recursion) → fetch (the runtime's);
// root → send (bundle line 5, src/b.ts) → fetch; root → (idle), (garbage collector)
const PROFILE: CpuProfile = {
  nodes: [
    { id: 1, callFrame: frame('(root)'), children: [2, 5, 6, 7] },
    { id: 2, callFrame: frame('handler', 'index.js', 3), children: [3] },
    { id: 3, callFrame: frame('handler', 'index.js', 3), children: [4] },
    { id: 4, callFrame: frame('fetch') },
    { id: 5, callFrame: frame('(idle)') },
    { id: 6, callFrame: frame('(garbage collector)') },
    { id: 7, callFrame: frame('send', 'index.js', 5), children: [8] },
    { id: 8, callFrame: frame('fetch') },
  ],
  startTime: 0,
  endTime: 8_000,
  samples: [4, 4, 3, 2, 5, 6, 8, 8],
  timeDeltas: [1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000],
}
// The build's directory is /tmp/build; the project lives under a directory named src, with a dependency that has
// its own src/: neither may be mistaken for the project's src/.
const ROOT_DIR = '/home/me/src/edgeward'
const BUNDLE = [
  '// ../../home/me/src/edgeward/node_modules/pkg/src/compose.js',
  'var x = 1',
  '// ../../home/me/src/edgeward/src/a.ts',
  'function handler() {}',
  '// ../../home/me/src/edgeward/src/b.ts',
  'async function send() {}',
].join('\n')
const nameOf = (marker: string) => path.relative(ROOT_DIR, path.resolve('/tmp/build', marker))

describe('profile summary', () => {
  it('shares the busy samples out by function, counting a recursive function once per sample', () => {
    const summary = summarizeProfile(PROFILE, (url) => url === 'index.js', bundleSources(BUNDLE, nameOf))
    // Seven samples of eight were busy: the idle one is not a share of anything.
    expect(summary.busySamples).toBe(7)
    expect(summary.busyMs).toBeCloseTo(7, 5)
    const share = (n: number) => (100 * n) / 7
    expect(summary.rows).toEqual(
      [
        // Equal self shares: the one more often on the stack first. The runtime's fetch is one row per caller.
        { name: 'handler', where: 'src/a.ts', self: share(2), total: share(4) },
        { name: 'fetch', where: '(native, from handler)', self: share(2), total: share(2) },
        { name: 'fetch', where: '(native, from send)', self: share(2), total: share(2) },
        { name: 'send', where: 'src/b.ts', self: 0, total: share(2) },
        { name: '(garbage collector)', where: '(native)', self: share(1), total: share(1) },
      ].sort((a, b) => b.self - a.self || b.total - a.total),
    )
    expect(renderProfileRows(summary.rows.slice(0, 1))).toBe(
      '| self % | total % | function | where |\n|---|---|---|---|\n| 28.6 | 57.1 | handler | src/a.ts |',
    )
  })

  it("maps a bundle line to the module esbuild's marker names, resolved from the build's directory", () => {
    const source = bundleSources(BUNDLE, nameOf)
    expect(source(0)).toBe('node_modules/pkg/src/compose.js')
    expect(source(1)).toBe('node_modules/pkg/src/compose.js')
    expect(source(3)).toBe('src/a.ts')
    expect(source(5)).toBe('src/b.ts')
    expect(bundleSources('var x = 1', nameOf)(0)).toBeUndefined()
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

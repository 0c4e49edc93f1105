/**
 * Reading a V8 CPU profile (the `Profiler.stop` result of the inspector protocol, also the `.cpuprofile` format
 * Chrome DevTools and speedscope open) the way `npm run profile` prints it: the share of the isolate's busy
 * samples each function was running (self) or on the stack (total), with the source file of the bundle it came from.
 */

export interface CallFrame {
  functionName: string
  url: string
  /** 0-based, as the protocol gives it. */
  lineNumber: number
  columnNumber: number
}

export interface ProfileNode {
  id: number
  callFrame: CallFrame
  children?: number[]
}

export interface CpuProfile {
  nodes: ProfileNode[]
  startTime: number
  endTime: number
  /** The node running at each sample. */
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileRow {
  /** The function's name, `(anonymous)` when it has none, or one of V8's pseudo-frames (`(garbage collector)`). */
  name: string
  /**
   * `src/…` or `node_modules/…` for the bundle's code; `(native, from f)` for the runtime's own functions called by
   * a script function `f`, `(native)` for the rest (V8's pseudo-frames); else the frame's URL.
   */
  where: string
  /** Percent of the busy samples in which the function was running. */
  self: number
  /** Percent of the busy samples in which the function was on the stack (each sample counted once). */
  total: number
}

export interface ProfileSummary {
  /** Samples in which the isolate ran something (not `(idle)`). */
  busySamples: number
  /** Busy time in ms: the busy samples' share of the profile's length. */
  busyMs: number
  rows: ProfileRow[]
}

/** A line of esbuild's module marker: `// ../src/pipeline/request-id/index.ts`, relative to the build's directory. */
const MODULE_MARKER = /^\/\/ (\S+\.(?:[cm]?[jt]sx?|json))$/

/**
 * The source file of each line of an unminified bundle, from the comment esbuild writes before each module's code;
 * returns a lookup by 0-based line. `nameOf` turns a marker's path into the name shown (the profile resolves it
 * against the build's directory and names it from the project's root).
 */
export function bundleSources(
  bundle: string,
  nameOf: (marker: string) => string,
): (line: number) => string | undefined {
  const starts: { line: number; file: string }[] = []
  bundle.split('\n').forEach((text, line) => {
    const marker = MODULE_MARKER.exec(text)?.[1]
    if (marker !== undefined) starts.push({ line, file: nameOf(marker) })
  })
  return (line) => {
    let found: string | undefined
    for (const start of starts) {
      if (start.line > line) break
      found = start.file
    }
    return found
  }
}

/**
 * Folds a profile into one row per function (name and place), sorted by self share. `bundleUrl` names the frames
 * of the bundle, whose lines `sourceOf` maps to a source file.
 */
export function summarizeProfile(
  profile: CpuProfile,
  bundleUrl: (url: string) => boolean,
  sourceOf: (line: number) => string | undefined,
): ProfileSummary {
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const placeOf = (frame: CallFrame) =>
    frame.url === ''
      ? '(native)'
      : bundleUrl(frame.url)
        ? (sourceOf(frame.lineNumber) ?? 'bundle')
        : frame.url.replace(/^file:\/\/.*\//, '')
  // The runtime's own functions (fetch, Response, sign) are named with the function that called them, so a fetch
  // to Upstash and one to the origin are two rows.
  const keyOf = (id: number) => {
    const frame = nodes.get(id)?.callFrame as CallFrame
    const name = frame.functionName === '' ? '(anonymous)' : frame.functionName
    let where = placeOf(frame)
    const caller = frame.url === '' ? nodes.get(parent.get(id) ?? -1)?.callFrame : undefined
    if (caller !== undefined && caller.url !== '') {
      where = `(native, from ${caller.functionName === '' ? '(anonymous)' : caller.functionName})`
    }
    return { key: `${name}\u0000${where}`, name, where }
  }

  const self = new Map<string, number>()
  const total = new Map<string, number>()
  const names = new Map<string, { name: string; where: string }>()
  let busy = 0
  for (const id of profile.samples) {
    const node = nodes.get(id)
    if (node === undefined || node.callFrame.functionName === '(idle)') continue
    busy++
    const top = keyOf(id)
    names.set(top.key, top)
    self.set(top.key, (self.get(top.key) ?? 0) + 1)
    const seen = new Set<string>()
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = nodes.get(at)?.callFrame
      if (frame === undefined || frame.functionName === '(root)') continue
      const { key, name, where } = keyOf(at)
      if (seen.has(key)) continue
      seen.add(key)
      names.set(key, { name, where })
      total.set(key, (total.get(key) ?? 0) + 1)
    }
  }
  const share = (n: number) => (busy === 0 ? 0 : (100 * n) / busy)
  const rows = [...names].map(([key, { name, where }]) => ({
    name,
    where,
    self: share(self.get(key) ?? 0),
    total: share(total.get(key) ?? 0),
  }))
  rows.sort((a, b) => b.self - a.self || b.total - a.total)
  const lengthMs = (profile.endTime - profile.startTime) / 1000
  return {
    busySamples: busy,
    busyMs: profile.samples.length === 0 ? 0 : (lengthMs * busy) / profile.samples.length,
    rows,
  }
}

/** The rows as a markdown table, self and total shares with one decimal. */
export function renderProfileRows(rows: ProfileRow[]): string {
  const lines = ['| self % | total % | function | where |', '|---|---|---|---|']
  for (const r of rows) lines.push(`| ${r.self.toFixed(1)} | ${r.total.toFixed(1)} | ${r.name} | ${r.where} |`)
  return lines.join('\n')
}

/**
 * A stand-in for the `EVENTS` Analytics Engine binding that keeps what was written. Miniflare binds a real local
 * dataset from wrangler.toml, but nothing can read its writes back, so tests pass this one in the bindings.
 */
import { BLOBS, DOUBLES } from '../observability/analytics'

/** One written data point with its positions named as in docs/OPERATIONS.md. */
export type NamedPoint = Record<(typeof BLOBS)[number], string> &
  Record<(typeof DOUBLES)[number], number> & { index: string }

export function recordingDataset() {
  const written: AnalyticsEngineDataPoint[] = []
  return {
    written,
    writeDataPoint(point?: AnalyticsEngineDataPoint) {
      if (point !== undefined) written.push(structuredClone(point))
    },
    /** The points written so far, named. */
    points(): NamedPoint[] {
      return written.map((p) => {
        const named: Record<string, unknown> = { index: p.indexes?.[0] }
        BLOBS.forEach((name, i) => {
          named[name] = p.blobs?.[i]
        })
        DOUBLES.forEach((name, i) => {
          named[name] = p.doubles?.[i]
        })
        return named as NamedPoint
      })
    },
    /** The points of `event`. */
    events(event: string): NamedPoint[] {
      return this.points().filter((p) => p.event === event)
    },
    clear() {
      written.length = 0
    },
  }
}

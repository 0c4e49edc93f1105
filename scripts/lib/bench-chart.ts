/**
 * docs/performance.svg: one horizontal bar per variant and Upstash latency, its length req/s ÷ floor, with a
 * dashed line at the floor. Plain SVG text with fixed colours on a white background, so GitHub shows it the
 * same in light and dark mode.
 */
import { fixed, ratio, type Table, VARIANT } from './bench-report.ts'

const WIDTH = 760
const LABEL_WIDTH = 230
const BAR_WIDTH = 430
const ROW = 24
const BAR = 16
const HEADING = 30
const TITLE = 40
const AXIS = 30

const INK = '#202124'
const GRID = '#dadce0'

const COLOURS = { edgeward: '#1a73e8', naive: '#e8710a', baseline: '#80868b' }

/** Edgeward's variants in blue, the naive composition in orange, the baselines in grey. */
function colour(variant: string): string {
  if (variant.startsWith('edgeward')) return COLOURS.edgeward
  if (variant === VARIANT.naive) return COLOURS.naive
  return COLOURS.baseline
}

/** A key for the colours, at the title's height on the right. */
function legend(): string[] {
  return Object.entries(COLOURS).flatMap(([name, fill], i) => {
    const left = WIDTH - 250 + i * 85
    return [`<rect x="${left}" y="16" width="12" height="12" fill="${fill}"/>`, text(left + 17, 26, name)]
  })
}

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')

function text(x: number, y: number, content: string, attributes = ''): string {
  return `<text x="${x}" y="${y}"${attributes ? ` ${attributes}` : ''}>${escapeXml(content)}</text>`
}

export function renderChart(all: Table[]): string {
  // The outage table has no floor to divide by: the chart is the latency tables'.
  const tables = all.filter((t) => t.fault === undefined)
  const ratios = tables.flatMap((t) => t.rows.map((r) => ratio(t, r.variant, VARIANT.floor)))
  const scaleMax = Math.max(1, Math.ceil(Math.max(0, ...ratios.filter(Number.isFinite))))
  const x = (value: number) => Math.round((LABEL_WIDTH + (BAR_WIDTH * Math.max(0, value)) / scaleMax) * 10) / 10
  const body: string[] = [text(16, 26, 'req/s ÷ floor per variant (longer is faster)', 'font-size="15"')]
  let y = TITLE
  for (const table of tables) {
    body.push(text(16, y + 20, `Upstash latency +${table.upstashLatencyMs} ms`, 'font-weight="bold"'))
    y += HEADING
    for (const row of table.rows) {
      const value = ratio(table, row.variant, VARIANT.floor)
      const end = Number.isFinite(value) ? x(value) : LABEL_WIDTH
      const middle = y + ROW / 2
      body.push(
        text(LABEL_WIDTH - 8, middle + 4, row.variant, 'text-anchor="end"'),
        `<rect class="bar" x="${LABEL_WIDTH}" y="${y + (ROW - BAR) / 2}" width="${(end - LABEL_WIDTH).toFixed(1)}" ` +
          `height="${BAR}" fill="${colour(row.variant)}"/>`,
        text(end + 6, middle + 4, `${fixed(value, 2)}×`),
      )
      y += ROW
    }
  }
  const grid: string[] = []
  for (let i = 0; i <= scaleMax; i++) {
    const gx = x(i)
    const floorLine = i === 1 ? ` stroke="${INK}" stroke-dasharray="4 3"` : ` stroke="${GRID}"`
    grid.push(
      `<line x1="${gx}" y1="${TITLE}" x2="${gx}" y2="${y + 4}"${floorLine}/>`,
      text(gx, y + 20, i === 1 ? '1× floor' : `${i}×`, 'text-anchor="middle"'),
    )
  }
  const height = y + AXIS
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" ` +
      `font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif" font-size="12" fill="${INK}">`,
    '<title>Throughput of each variant relative to the one-Upstash-call floor, per added Upstash latency</title>',
    `<rect width="${WIDTH}" height="${height}" fill="#ffffff"/>`,
    ...grid,
    ...legend(),
    ...body,
    '</svg>',
    '',
  ].join('\n')
}

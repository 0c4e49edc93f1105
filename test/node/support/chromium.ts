/**
 * Debian's Chromium for the browser tests, driven by playwright-core (which never downloads a browser). Needs
 * Chromium at /usr/bin/chromium (`apt-get install -y --no-install-recommends chromium`).
 */
import { existsSync } from 'node:fs'
import { type Browser, chromium } from 'playwright-core'

export const CHROMIUM_PATH = '/usr/bin/chromium'
/** Flags that work for Debian 12's Chromium run headless as root (so no sandbox), with no network beyond loopback. */
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

const CHROMIUM_MISSING = `Chromium is not installed at ${CHROMIUM_PATH}. Install it with \`apt-get install -y --no-install-recommends chromium\` (as root; .ci/run does this in CI).`

export const hasChromium = (): boolean => existsSync(CHROMIUM_PATH)

/** Fails the test (never skips it) without the browser: CI installs it, and a skipped browser test proves nothing. */
export function requireChromium(): void {
  if (!hasChromium()) throw new Error(CHROMIUM_MISSING)
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM_PATH, args: CHROMIUM_ARGS })
}

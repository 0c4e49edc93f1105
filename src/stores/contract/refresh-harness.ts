/** What the RefreshTokenStore contract's cases share: the harness an implementation provides, and test values. */
import type { RefreshTokenStore, RotateResult } from '../types'
import type { TestClock } from './clock'

export interface RefreshTokenHarness {
  store: RefreshTokenStore
  clock: TestClock
  /** Creates an account the store can issue for; returns its id. */
  createUser(): Promise<string>
  /** Disables an account the way an administrator would. */
  disableUser(id: string): Promise<void>
}

export const DAY = 86_400
export const TTL = { client: 'web', absoluteTtlSeconds: 30 * DAY, idleTtlSeconds: 7 * DAY }
export const GRACE = { graceSeconds: 10 }
export const INVALID = { kind: 'invalid' }

export function tokenOf(result: RotateResult): string {
  if (result.kind !== 'rotated' && result.kind !== 'grace') throw new Error(`expected a token, got ${result.kind}`)
  return result.token
}

/** A test's harness: the store, one user, and the clock in seconds. */
export async function harnessSetup(make: () => RefreshTokenHarness | Promise<RefreshTokenHarness>) {
  const harness = await make()
  const userId = await harness.createUser()
  const now = () => Math.floor(harness.clock.now() / 1000)
  return { ...harness, userId, now, advance: (seconds: number) => harness.clock.advance(seconds * 1000) }
}

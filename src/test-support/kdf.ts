/** The PBKDF2 ceiling of deployed Workers, emulated in tests (installed by test/workers/production-limits.ts). */

/** Production Workers refuse more PBKDF2 iterations than this (R-PWD-3 in docs/requirements.md). */
export const WORKERS_PBKDF2_MAX_ITERATIONS = 100_000

interface KdfState {
  installed: boolean
  calls: number
  refused: number
}

const holder = globalThis as { __edgewardKdf?: KdfState }
// One state per isolate, whichever module instance (setup file or test file) loads first.
holder.__edgewardKdf ??= { installed: false, calls: 0, refused: 0 }
const state: KdfState = holder.__edgewardKdf

/** Wraps `crypto.subtle.deriveBits` once: PBKDF2 above the ceiling throws as production does, and is counted. */
export function installPbkdf2Limit(): void {
  if (state.installed) return
  const original = crypto.subtle.deriveBits.bind(crypto.subtle)
  crypto.subtle.deriveBits = (algorithm, baseKey, length) => {
    const params = algorithm as { name?: string; iterations?: number }
    if (typeof params === 'object' && params.name?.toUpperCase() === 'PBKDF2') {
      if ((params.iterations ?? 0) > WORKERS_PBKDF2_MAX_ITERATIONS) {
        state.refused++
        return Promise.reject(
          new DOMException(
            `PBKDF2 iteration counts above ${WORKERS_PBKDF2_MAX_ITERATIONS} are not supported (requested ${params.iterations})`,
            'NotSupportedError',
          ),
        )
      }
      state.calls++
    }
    return original(algorithm, baseKey, length)
  }
  state.installed = true
}

/** PBKDF2 derivations so far in this test file's isolate (take a difference around the code under test). */
export function pbkdf2Calls(): number {
  return state.calls
}

/** PBKDF2 calls refused for asking more than the ceiling. */
export function pbkdf2Refused(): number {
  return state.refused
}

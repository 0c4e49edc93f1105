/**
 * Admissions in memory: an exact sliding log for every policy, decided on the caller's `nowMs`, and the revocation
 * asked of the revocation store given (the memory one, so logouts through the same gateway are seen). All or
 * nothing as in Redis: a request is counted against every limit only if every limit admits it. At most `limit`
 * admissions in any window; `resetMs` is when the oldest admission leaves (admitted) or when one more would fit
 * (refused): the semantics of the Redis `auth` policy. The Redis `global` and `user` policies are a weighted sliding
 * window that can admit a little more across a bucket boundary and may need up to two windows to forget a burst;
 * this store is stricter than both, never looser.
 *
 * Memory: at most `limit` timestamps per key, and a key expires with its newest admission, as the Redis sorted set
 * does. For tests and single-isolate development: nothing is shared between isolates.
 */
import type { Admission, AdmissionStore, RevocationStore } from '../types'
import { createExpiringMap } from './expiring-map'

/** @example const admission = createMemoryAdmissionStore({ revocation: createMemoryRevocationStore(timings) }) */
export function createMemoryAdmissionStore(options: { revocation: RevocationStore }): AdmissionStore {
  /** `<policy>:<identifier>` → admission times, ascending, epoch ms. */
  const logs = createExpiringMap<number[]>()

  return {
    async admit({ limits, revocation }, nowMs) {
      const admission: Admission = { limits: [] }
      if (revocation !== undefined) {
        const status = await options.revocation.check(revocation)
        if (status.status === 'unavailable') throw new Error('revocation store unavailable', { cause: status.cause })
        admission.revocation = status
      }
      const revoked = admission.revocation?.status === 'revoked'
      const looked = limits.map(({ policy, identifier, limit, windowSeconds }) => {
        if (!Number.isSafeInteger(limit) || limit < 1)
          throw new RangeError(`limit must be a positive integer: ${limit}`)
        if (!Number.isSafeInteger(windowSeconds) || windowSeconds < 1) {
          throw new RangeError(`windowSeconds must be a positive integer: ${windowSeconds}`)
        }
        const windowMs = windowSeconds * 1_000
        const key = `${policy}:${identifier}`
        // An admission at t counts while now < t + window, as the Redis log drops scores <= now − window.
        const log = (logs.get(key, nowMs) ?? []).filter((at) => at > nowMs - windowMs)
        return { key, log, limit, windowMs, admits: log.length < limit, skip: revoked && policy === 'user' }
      })
      const all = looked.every((l) => l.admits || l.skip)
      for (const { key, log, limit, windowMs, admits, skip } of looked) {
        // A clock that steps back must not reorder the log: record no earlier than the newest entry.
        if (all && !skip) log.push(Math.max(nowMs, log.at(-1) ?? nowMs))
        if (log.length > 0) logs.set(key, log, (log.at(-1) as number) + windowMs, nowMs)
        else logs.delete(key)
        // Refused: one more fits once the (length − limit + 1)-th oldest admission leaves.
        const next = admits ? log[0] : log[log.length - limit]
        admission.limits.push({
          success: admits || skip,
          remaining: Math.max(0, limit - log.length),
          resetMs: next === undefined ? nowMs : next + windowMs,
        })
      }
      return admission
    },
  }
}

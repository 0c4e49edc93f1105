import { countResponse } from '../../observability/metrics'
import type { Stage } from '../stage'

/**
 * Counts every response by status class, errors included (the pipeline leaves every stage on the problem response
 * an error became). Run it right after `requestId()`.
 * @example pipeline([requestId(), countRequests(), …], toProblemResponse)
 */
export const countRequests = (): Stage => ({
  enter() {},
  leave(c) {
    countResponse(c.res.status)
  },
})

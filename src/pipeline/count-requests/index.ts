import { createMiddleware } from 'hono/factory'
import type { AppEnv } from '../../env'
import { countResponse } from '../../observability/metrics'

/**
 * Counts every response by status class, errors included (Hono has already turned a thrown error into its
 * problem response when `next()` returns). Mount it right after `requestId()`.
 * @example app.use(requestId()); app.use(countRequests())
 */
export const countRequests = () =>
  createMiddleware<AppEnv>(async function countRequests(c, next) {
    try {
      await next()
    } finally {
      countResponse(c.res.status)
    }
  })

/**
 * Puts the configuration on the context. A development configuration answers a generic 500 to a request for a
 * host that is not local (logged once per host). An invalid configuration never gets here: `src/index.ts` serves
 * the 500-only app instead.
 */
import { admitServingHost } from '../../config/load'
import type { Config } from '../../config/schema'
import { GatewayError } from '../../errors/gateway-error'
import { requestUrl } from '../../request-parse'
import type { Stage } from '../stage'

export const config = (settings: Config): Stage => ({
  enter(c) {
    if (!admitServingHost(settings, () => requestUrl(c))) throw new GatewayError('internal_error')
    c.set('config', settings)
  },
})

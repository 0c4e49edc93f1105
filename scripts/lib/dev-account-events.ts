/**
 * `npm run dev`: the demo upstream's account-event endpoint. It verifies each event as an origin would
 * (src/upstream/verify-origin.ts) and prints it, token included: locally, the terminal is the developer's mailbox,
 * so verification and password reset can be clicked through without a mail server. Development only.
 */
import { verifyGatewayRequest } from '../../src/upstream/verify-origin.ts'
import type { EchoRecord } from '../echo-upstream.ts'

/** Where the demo upstream takes account events: ACCOUNT_EVENTS_URL is the echo URL plus this path. */
export const DEV_ACCOUNT_EVENTS_PATH = '/__account-events'

type Printed = { type?: unknown; email?: unknown; user_id?: unknown; token?: unknown }

/** An `onRequest` observer for the echo upstream that prints the account events it receives, signed with `secret`. */
export function accountEventPrinter(secret: string, print: (line: string) => void) {
  return async (record: EchoRecord): Promise<void> => {
    if (record.method !== 'POST' || record.path !== DEV_ACCOUNT_EVENTS_PATH) return
    const verified = await verifyGatewayRequest(
      { method: record.method, url: record.path, headers: record.headers, body: record.body },
      { secrets: [secret] },
    )
    if (!verified.ok) {
      print(`account event refused (${verified.reason}): is UPSTREAM_SIGNING_SECRET in .dev.vars the worker's?`)
      return
    }
    let event: Printed
    try {
      event = JSON.parse(record.body) as Printed
    } catch {
      event = {}
    }
    print(`account event ${String(event.type)} for ${String(event.email)} (user ${String(event.user_id)})`)
    if (typeof event.token === 'string') print(`    token ${event.token}`)
  }
}

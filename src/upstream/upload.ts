/**
 * A client's streamed body on its way to the origin, wrapped stage by stage, each stage aborting the upload before
 * it errors (workerd would otherwise end a chunked upload cleanly, and the origin get a truncated body as a complete
 * request; see limit-body.ts): the compressed bytes limited, inflated, the bytes limited, then watched for a refused
 * JSON member (after the limit, so a body over it is a 413 whatever it names).
 */
import { type InflateFormat, inflate } from './content-coding'
import { watchTopLevelMembers } from './json-members'
import { limitBodyStream } from './limit-body'

export interface UploadOptions {
  maxBodyBytes?: number
  inflate?: InflateFormat
  maxEncodedBytes?: number
  refuseJsonMember?: (name: string) => boolean
}

export interface Upload {
  stream: ReadableStream<Uint8Array>
  /** Over the byte limit, or over the compressed-byte limit. */
  exceeded(): boolean
  /** Over the compressed-byte limit. */
  encodedExceeded(): boolean
  /** A refused JSON member was named. */
  memberRefused(): boolean
  /** Reading the client's body failed (a corrupt compressed body, a client that went away). */
  sourceFailed(): boolean
  /** A read of the client's body is outstanding: the origin waits for bytes the client has not sent yet. */
  waitingForSource(): boolean
}

export function uploadBody(source: ReadableStream<Uint8Array>, options: UploadOptions, abort: () => void): Upload {
  let body = source
  let encodedExceeded = () => false
  if (options.inflate !== undefined) {
    const encoded = limitBodyStream(body, options.maxEncodedBytes ?? Number.MAX_SAFE_INTEGER, abort)
    encodedExceeded = encoded.exceeded
    body = inflate(encoded.stream, options.inflate)
  }
  const limited = limitBodyStream(body, options.maxBodyBytes ?? Number.MAX_SAFE_INTEGER, abort)
  body = limited.stream
  let memberRefused = () => false
  if (options.refuseJsonMember !== undefined) {
    const watched = watchTopLevelMembers(body, options.refuseJsonMember, abort)
    memberRefused = watched.refused
    body = watched.stream
  }
  return {
    stream: body,
    exceeded: () => limited.exceeded() || encodedExceeded(),
    encodedExceeded,
    memberRefused,
    sourceFailed: limited.sourceFailed,
    waitingForSource: limited.waitingForSource,
  }
}

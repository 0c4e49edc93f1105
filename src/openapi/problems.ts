/**
 * The problem details of the document, from the one catalogue (src/errors): the RFC 9457 body every error of the
 * gateway has, and its stable `code` values with the status, title and default detail of each.
 */
import { type ErrorCode, PROBLEM_TYPE_BASE, PROBLEM_TYPES } from '../errors/gateway-error'

const CODES = Object.keys(PROBLEM_TYPES) as ErrorCode[]

/** The `type` URI of a code: the registered one when the catalogue names it, else the gateway's URN. */
const typeOf = (code: ErrorCode): string => {
  const entry = PROBLEM_TYPES[code]
  return 'type' in entry ? entry.type : `${PROBLEM_TYPE_BASE}${code}`
}

export function problemSchemas(): Record<string, Record<string, unknown>> {
  return {
    ProblemCode: {
      description: 'Stable, snake_case: clients may switch on it.',
      type: 'string',
      oneOf: CODES.map((code) => {
        const { status, title, detail } = PROBLEM_TYPES[code]
        return { const: code, title: `${status} ${title}`, description: detail }
      }),
    },
    Problem: {
      description: 'An RFC 9457 problem details object; every error of the gateway has this shape.',
      type: 'object',
      required: ['type', 'title', 'status', 'detail', 'code'],
      properties: {
        type: { type: 'string', format: 'uri', enum: [...new Set(CODES.map(typeOf))] },
        title: { type: 'string', enum: [...new Set(CODES.map((code) => PROBLEM_TYPES[code].title))] },
        status: {
          type: 'integer',
          enum: [...new Set(CODES.map((code) => PROBLEM_TYPES[code].status))].sort((a, b) => a - b),
        },
        detail: { type: 'string', description: 'Public text; never an input value, token or upstream body.' },
        instance: { type: 'string', description: 'The request id.' },
        code: { $ref: '#/components/schemas/ProblemCode' },
        request_id: { type: 'string', description: 'The request id, as in the X-Request-Id response header.' },
        errors: {
          type: 'array',
          description:
            'With `validation_failed` (a JSON pointer into the body) and `invalid_query` (a query parameter): ' +
            'where, and the issue code; never the value.',
          items: {
            type: 'object',
            required: ['code'],
            properties: { pointer: { type: 'string' }, parameter: { type: 'string' }, code: { type: 'string' } },
          },
        },
      },
    },
  }
}

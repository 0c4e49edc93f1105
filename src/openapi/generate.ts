/**
 * Builds the OpenAPI 3.1 document of the gateway's own routes from the route list (operations.ts), the zod schemas
 * the routes validate with (JSON Schema 2020-12 through `z.toJSONSchema`, OpenAPI 3.1's schema dialect) and the one
 * problem catalogue (src/errors). Not part of the worker: the document is generated into openapi.json, which the
 * worker serves, and a test fails when that file and this generator disagree (`npm run openapi` rewrites it).
 */
import * as z from 'zod/mini'
import packageJson from '../../package.json'
import { type ErrorCode, PROBLEM_TYPE_BASE, PROBLEM_TYPES } from '../errors/gateway-error'
import { PROBLEM_CONTENT_TYPE } from '../errors/problem'
import { AUTH_LIMITED_PATHS, RATE_LIMIT_EXEMPT_PATHS } from '../routes/paths'
import { type Operation, REQUEST_SCHEMAS, RESPONSE_SCHEMAS } from './operation'
import { OPERATIONS } from './operations'
import { problemSchemas } from './problems'

type Json = Record<string, unknown>

export const OPENAPI_VERSION = '3.1.1'

const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` })

/** A zod schema as a JSON Schema 2020-12 object, without `$schema` (the document names its dialect once). */
function jsonSchema(schema: z.ZodMiniType, io: 'input' | 'output'): Json {
  const { $schema: _, ...rest } = z.toJSONSchema(schema, { target: 'draft-2020-12', io }) as Json
  return rest
}

/** The problems an operation can answer: its own, plus those its body, token and rate limits bring. */
export function problemsOf(op: Operation): ErrorCode[] {
  const codes = new Set<ErrorCode>(op.problems)
  if (op.body !== undefined) {
    for (const code of [
      'unsupported_media_type',
      'invalid_json',
      'validation_failed',
      'payload_too_large',
      'bad_request',
    ] as const)
      codes.add(code)
  }
  if (op.access === 'bearer' || op.access === 'bearer-or-body') {
    for (const code of ['unauthenticated', 'invalid_token', 'revocation_unavailable'] as const) codes.add(code)
  }
  if ((op.scopes ?? []).length > 0) codes.add('insufficient_scope')
  if (!RATE_LIMIT_EXEMPT_PATHS.has(op.path)) codes.add('rate_limited')
  if (AUTH_LIMITED_PATHS.has(op.path)) codes.add('rate_limit_unavailable')
  return [...codes]
}

/** One response per status, its `code` narrowed to the problems the operation can answer with that status. */
function problemResponses(codes: readonly ErrorCode[]): Record<string, Json> {
  const byStatus = new Map<number, ErrorCode[]>()
  for (const code of codes) {
    const { status } = PROBLEM_TYPES[code]
    byStatus.set(status, [...(byStatus.get(status) ?? []), code])
  }
  const responses: Record<string, Json> = {}
  for (const [status, list] of [...byStatus].sort(([a], [b]) => a - b)) {
    const sorted = list.sort()
    const challenges = sorted.filter((code) => 'challenge' in PROBLEM_TYPES[code])
    responses[String(status)] = {
      description: sorted.map((code) => `\`${code}\``).join(', '),
      ...(challenges.length > 0
        ? { headers: { 'WWW-Authenticate': { description: 'RFC 6750 challenge.', schema: { type: 'string' } } } }
        : {}),
      content: {
        [PROBLEM_CONTENT_TYPE]: {
          schema: { allOf: [ref('Problem'), { properties: { code: { enum: sorted } } }] },
        },
      },
    }
  }
  return responses
}

const SECURITY: Record<Operation['access'], (scopes: readonly string[]) => Json[]> = {
  public: () => [],
  bearer: (scopes) => [{ bearer: scopes }],
  'bearer-or-body': () => [{ bearer: [] }, {}],
  metrics: () => [{ metricsToken: [] }],
}

function operationObject(op: Operation): Json {
  const params = [...op.path.matchAll(/:([A-Za-z_]+)/g)].map(([, name = '']) => ({
    name,
    in: 'path',
    required: true,
    description: op.params?.[name],
    schema: { type: 'string' },
  }))
  const query = (op.query ?? []).map(({ name, description, schema }) => ({
    name,
    in: 'query',
    required: true,
    description,
    schema: jsonSchema(schema, 'input'),
  }))
  const { ok } = op
  const okContent =
    ok.schema === undefined && ok.contentType === undefined
      ? {}
      : { content: { [ok.contentType ?? 'application/json']: { schema: ok.schema ? ref(ok.schema) : {} } } }
  return {
    operationId: op.operationId,
    summary: op.summary,
    tags: [op.tag],
    security: SECURITY[op.access](op.scopes ?? []),
    ...(params.length + query.length > 0 ? { parameters: [...params, ...query] } : {}),
    ...(op.body === undefined
      ? {}
      : {
          requestBody: {
            required: op.optionalBody !== true,
            content: { 'application/json': { schema: ref(op.body) } },
          },
        }),
    responses: {
      [String(ok.status)]: { description: ok.description, ...okContent },
      ...problemResponses(problemsOf(op)),
      default: {
        description: 'Any other problem (RFC 9457).',
        content: { [PROBLEM_CONTENT_TYPE]: { schema: ref('Problem') } },
      },
    },
  }
}

/** `/auth/sessions/:id` (hono) as `/auth/sessions/{id}` (OpenAPI). */
export const openApiPath = (path: string) => path.replace(/:([A-Za-z_]+)/g, '{$1}')

/** The document; its version is the package's. */
export function buildOpenApiDocument(): Json {
  const paths: Record<string, Json> = {}
  for (const op of OPERATIONS) {
    const key = openApiPath(op.path)
    paths[key] = { ...paths[key], [op.method]: operationObject(op) }
  }
  const schemas: Record<string, Json> = {}
  for (const [name, schema] of Object.entries(REQUEST_SCHEMAS)) schemas[name] = jsonSchema(schema, 'input')
  for (const [name, schema] of Object.entries(RESPONSE_SCHEMAS)) schemas[name] = jsonSchema(schema, 'output')
  return {
    openapi: OPENAPI_VERSION,
    info: {
      title: 'edgeward gateway',
      version: packageJson.version,
      description:
        'The routes the gateway answers itself. Every other path is proxied to the origin under the route table. ' +
        `Errors are RFC 9457 problem details (\`${PROBLEM_CONTENT_TYPE}\`): \`code\` is stable, \`type\` is ` +
        `\`${PROBLEM_TYPE_BASE}<code>\` unless a registered type exists.`,
    },
    tags: [
      { name: 'auth', description: 'Accounts, passwords and tokens.' },
      { name: 'sessions', description: "The caller's sessions." },
      { name: 'admin', description: 'The back office: every route needs the admin scope.' },
      { name: 'keys', description: 'Token verification keys.' },
      { name: 'monitoring', description: 'Health probes and metrics: never rate limited.' },
      { name: 'meta', description: 'This description.' },
    ],
    paths,
    components: {
      schemas: { ...schemas, ...problemSchemas() },
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: 'An access token from login or refresh. Listed scopes must all be in its `scope` claim.',
        },
        metricsToken: { type: 'http', scheme: 'bearer', description: 'The METRICS_TOKEN secret.' },
      },
    },
  }
}

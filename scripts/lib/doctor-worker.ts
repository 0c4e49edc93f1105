/**
 * The gateway's own checks, loaded from src/ so the doctor runs exactly what the worker runs at start-up: the
 * configuration validator (`parseConfig`) and the route-table compiler (`compileRoutes` on `src/policies.ts`).
 * The Node tsconfig cannot type-check worker sources, so their shape is declared here; the doctor's tests run
 * them for real.
 */
import { load } from './worker-modules.ts'

/** One problem the validator found: the variable at fault and the fix, never its value. */
export interface ConfigIssue {
  variable: string
  message: string
}

export interface GatewayChecks {
  /** `parseConfig` (src/config/schema.ts): every configuration problem of these bindings, in one round. */
  configIssues(bindings: Record<string, unknown>): ConfigIssue[]
  /** `compileRoutes` over `ROUTES` (src/policies.ts): every route-table problem, empty when it compiles. */
  routeTableProblems(): string[]
  /** The variable and secret names the validator reads. */
  variables: readonly string[]
}

type ParseConfig = (env: Record<string, unknown>) => { ok: true } | { ok: false; issues: ConfigIssue[] }
type CompileRoutes = (table: unknown, options: { default: unknown }) => unknown

/** Route-table problems of `table` compiled with `compile`: the `problems` of the error it throws, if any. */
export function routeProblems(compile: () => unknown): string[] {
  try {
    compile()
    return []
  } catch (error) {
    const problems = (error as { problems?: unknown }).problems
    if (Array.isArray(problems)) return problems.map(String)
    return [error instanceof Error ? error.message : String(error)]
  }
}

export async function loadGatewayChecks(): Promise<GatewayChecks> {
  const [schema, policies, table] = await Promise.all([
    load('config/schema.ts'),
    load('policies.ts'),
    load('routing/table.ts'),
  ])
  const parseConfig = schema.parseConfig as ParseConfig
  const compileRoutes = table.compileRoutes as CompileRoutes
  return {
    configIssues: (bindings) => {
      const result = parseConfig(bindings)
      return result.ok ? [] : result.issues
    },
    routeTableProblems: () => routeProblems(() => compileRoutes(policies.ROUTES, { default: policies.DEFAULT_ROUTE })),
    variables: schema.CONFIG_VARIABLES as string[],
  }
}

/** The route compiler alone, for checking another table than src/policies.ts (tests). */
export async function loadRouteCompiler(): Promise<(table: unknown[], defaultRoute?: string) => string[]> {
  const table = await load('routing/table.ts')
  const compileRoutes = table.compileRoutes as CompileRoutes
  return (routes, defaultRoute = 'authenticated') =>
    routeProblems(() => compileRoutes(routes, { default: defaultRoute }))
}

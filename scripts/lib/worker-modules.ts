/**
 * The worker's own code, loaded in Node, so a script hashes and checks exactly as the gateway does. Worker sources
 * import each other without a file extension (the bundler resolves them); a resolve hook adds `.ts` for those.
 * The Node tsconfig cannot type-check worker sources (they use Workers types), so the parts a script uses are
 * declared here, and `scripts/admin.test.ts` checks them against the real modules.
 */
import { register } from 'node:module'

/** Retries a relative import that names no file as `<specifier>.ts`, as the bundler does. */
const RESOLVE_HOOK = `export async function resolve(specifier, context, next) {
  try {
    return await next(specifier, context)
  } catch (error) {
    if (error?.code !== 'ERR_MODULE_NOT_FOUND' || !/^\\.\\.?\\//.test(specifier)) throw error
    return next(specifier + '.ts', context)
  }
}`

export type PasswordPolicyResult = { ok: true } | { ok: false; reason: string; minLength: number; maxLength: number }

/** `src/passwords/password.ts`. */
export interface PasswordModule {
  hashPassword(password: string, pepper: string): Promise<string>
  checkPasswordPolicy(password: string, options: { minLength?: number; email?: string }): PasswordPolicyResult
  verifyPassword(password: string, stored: string, pepper: string): Promise<{ ok: boolean }>
  MAX_PASSWORD_INPUT_BYTES: number
}

interface SafeParse {
  safeParse(value: unknown): { success: true; data: string } | { success: false; error: { issues: { code: string }[] } }
}

/** What the CLI needs from the gateway: the password module, the login schema's email, the store's rules. */
export interface WorkerModules {
  passwords: PasswordModule
  /** The email field of `LoginBody` (src/routes/auth/schemas.ts): what the login route accepts. */
  emailSchema: SafeParse
  /** `normalizeEmail` (src/stores/d1/users.ts): the form every store keeps. */
  normalizeEmail(raw: string): string | null
  /** `isScopeToken` (src/lib/scopes.ts). */
  isScopeToken(value: unknown): value is string
  /** `scopeSetProblem` (src/lib/scopes.ts): why a scope set would give tokens too large to verify. */
  scopeSetProblem(scopes: readonly string[]): string | undefined
  /** `weakSecretReason` (src/config/secrets.ts): why a pepper would fail the gateway's own check. */
  weakSecretReason(value: string): string | undefined
  /** `DEVELOPMENT_PASSWORD_PEPPER` (src/config/vars.ts): the pepper of a development gateway without one. */
  developmentPepper: string
}

let hooked = false

/** One worker module under src/ (`path` relative to it, with `.ts`), its extensionless imports resolved. */
export async function load(path: string): Promise<Record<string, unknown>> {
  if (!hooked) {
    register(`data:text/javascript,${encodeURIComponent(RESOLVE_HOOK)}`)
    hooked = true
  }
  return (await import(new URL(`../../src/${path}`, import.meta.url).href)) as Record<string, unknown>
}

export async function loadWorkerModules(): Promise<WorkerModules> {
  const [passwords, schemas, users, scopes, secrets, vars] = await Promise.all([
    load('passwords/password.ts'),
    load('routes/auth/schemas.ts'),
    load('stores/d1/users.ts'),
    load('lib/scopes.ts'),
    load('config/secrets.ts'),
    load('config/vars.ts'),
  ])
  const loginBody = schemas.LoginBody as { shape: { email: SafeParse } }
  return {
    passwords: passwords as unknown as PasswordModule,
    emailSchema: loginBody.shape.email,
    normalizeEmail: users.normalizeEmail as WorkerModules['normalizeEmail'],
    isScopeToken: scopes.isScopeToken as WorkerModules['isScopeToken'],
    scopeSetProblem: scopes.scopeSetProblem as WorkerModules['scopeSetProblem'],
    weakSecretReason: secrets.weakSecretReason as WorkerModules['weakSecretReason'],
    developmentPepper: vars.DEVELOPMENT_PASSWORD_PEPPER as string,
  }
}

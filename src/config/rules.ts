/**
 * Rules that depend on the environment or on several variables at once: what development tolerates and staging
 * and production refuse. Each variable's own validation lives in vars.ts; these run once it has passed.
 */
import { ADMIN_SCOPE, scopeSetProblem } from '../lib/scopes'
import type { Config } from './config'
import { MIN_HMAC_SECRET_BYTES, weakSecretReason } from './secrets'
import { HOW_KEYS, howPepper, howSigning, isLoopbackHost, parseHttpUrl, splitList, type Vars } from './vars'

export interface ConfigIssue {
  /** The variable at fault. Never its value. */
  variable: string
  /** What is wrong and how to fix it. May name a URL scheme, never a value. */
  message: string
}

/**
 * The variables as the rules see them: every one parsed, except that the required ones with no default may be
 * missing when they failed their own validation (their own issue is then already reported).
 */
export type PolicyVars = Omit<Vars, 'UPSTASH_REDIS_REST_URL' | 'UPSTASH_REDIS_REST_TOKEN'> &
  Partial<Pick<Vars, 'UPSTASH_REDIS_REST_URL' | 'UPSTASH_REDIS_REST_TOKEN'>>

/** Records one issue against `variable`; the message names the variable and the fix, never its value. */
type ReportIssue = (variable: keyof Vars, message: string) => void

/** What is tolerated locally is refused in staging and production. */
export function checkPolicy(vars: PolicyVars, issue: ReportIssue): void {
  const env = vars.ENVIRONMENT
  const strict = env !== 'development'
  const defaultScopes = vars.DEFAULT_USER_SCOPES.split(' ').filter((scope) => scope !== '')
  const tooMany = scopeSetProblem([...new Set(defaultScopes)])
  if (tooMany !== undefined) {
    issue(
      'DEFAULT_USER_SCOPES',
      `DEFAULT_USER_SCOPES has ${tooMany}: every account gets these, and an administrator could not change a set the scope route refuses`,
    )
  }
  if (defaultScopes.includes(ADMIN_SCOPE)) {
    issue(
      'DEFAULT_USER_SCOPES',
      `DEFAULT_USER_SCOPES must not include ${ADMIN_SCOPE}: every registered account would be an administrator; grant it with npm run admin -- create-user or PUT /auth/admin/users/{id}/scopes`,
    )
  }
  const redisUrl = vars.UPSTASH_REDIS_REST_URL === undefined ? undefined : parseHttpUrl(vars.UPSTASH_REDIS_REST_URL)
  if (redisUrl?.protocol === 'http:') {
    if (strict) {
      issue('UPSTASH_REDIS_REST_URL', `UPSTASH_REDIS_REST_URL must start with https:// in ${env} (got http://…)`)
    } else if (!isLoopbackHost(redisUrl.hostname) && !vars.REDIS_INSECURE_ALLOW_PLAINTEXT) {
      issue(
        'UPSTASH_REDIS_REST_URL',
        'UPSTASH_REDIS_REST_URL uses plain http:// to a host that is not loopback: use https://, or set REDIS_INSECURE_ALLOW_PLAINTEXT=true (development only)',
      )
    }
  }
  if (strict && vars.REDIS_INSECURE_ALLOW_PLAINTEXT) {
    issue(
      'REDIS_INSECURE_ALLOW_PLAINTEXT',
      `REDIS_INSECURE_ALLOW_PLAINTEXT is honoured only in development: remove it from the ${env} configuration`,
    )
  }
  checkSigningPolicy(vars, issue)
  checkDistinctSecrets(vars, issue)
  checkCorsPolicy(vars, issue)
  checkAccountEventsUrl(vars, issue)
  if (strict && vars.RATE_LIMIT_AUTH.trim() === 'off') {
    issue(
      'RATE_LIMIT_AUTH',
      `RATE_LIMIT_AUTH=off is refused in ${env}: the auth limit protects accounts; set N/<window>, e.g. 5/15m`,
    )
  }
  if (vars.UPSTREAM_SIGNING_SECRET !== undefined) {
    const secret = vars.UPSTREAM_SIGNING_SECRET
    const weak = weakSecretReason(secret, MIN_HMAC_SECRET_BYTES, new TextEncoder().encode(secret).length)
    if (weak) issue('UPSTREAM_SIGNING_SECRET', `UPSTREAM_SIGNING_SECRET ${weak}: ${howSigning()}`)
  }
  if (vars.REFRESH_IDLE_SECONDS > vars.REFRESH_ABSOLUTE_SECONDS) {
    issue(
      'REFRESH_IDLE_SECONDS',
      'REFRESH_IDLE_SECONDS must not exceed REFRESH_ABSOLUTE_SECONDS: the idle timeout ends a session that is not used; the absolute lifetime ends every session',
    )
  }
  if (vars.METRICS_TOKEN !== undefined && vars.METRICS_TOKEN !== '' && strict) {
    const weak = weakSecretReason(vars.METRICS_TOKEN)
    if (weak)
      issue(
        'METRICS_TOKEN',
        `METRICS_TOKEN ${weak}: generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put METRICS_TOKEN --env ${env}\``,
      )
  }
  if (vars.REVOCATION_FAILURE_MODE === 'open' && env === 'production' && !vars.REVOCATION_FAIL_OPEN_ACKNOWLEDGED) {
    issue(
      'REVOCATION_FAILURE_MODE',
      'REVOCATION_FAILURE_MODE=open lets revoked tokens through while Upstash is down; in production also set REVOCATION_FAIL_OPEN_ACKNOWLEDGED=true, or use closed',
    )
  }
  if (strict) {
    const weak =
      vars.UPSTASH_REDIS_REST_TOKEN === undefined ? undefined : weakSecretReason(vars.UPSTASH_REDIS_REST_TOKEN)
    if (weak)
      issue(
        'UPSTASH_REDIS_REST_TOKEN',
        `UPSTASH_REDIS_REST_TOKEN ${weak}: copy the token from the Upstash console and run \`wrangler secret put UPSTASH_REDIS_REST_TOKEN --env ${env}\``,
      )
    if (vars.PASSWORD_PEPPER === undefined) {
      issue('PASSWORD_PEPPER', `PASSWORD_PEPPER is required in ${env}: ${howPepper(env)}`)
    } else {
      const weakPepper = weakSecretReason(vars.PASSWORD_PEPPER)
      if (weakPepper) issue('PASSWORD_PEPPER', `PASSWORD_PEPPER ${weakPepper}: ${howPepper(env)}`)
    }
    if (vars.UPSTREAM_SIGNING_SECRET === undefined) {
      issue('UPSTREAM_SIGNING_SECRET', `UPSTREAM_SIGNING_SECRET is required in ${env}: ${howSigning(env)}`)
    }
    if (vars.UPSTREAM_URL === undefined) {
      issue(
        'UPSTREAM_URL',
        `UPSTREAM_URL is required in ${env}: set the origin's https:// base URL in the vars of this configuration in wrangler.toml ([env.NAME.vars], or [vars] for the top level)`,
      )
    } else if (parseHttpUrl(vars.UPSTREAM_URL)?.protocol !== 'https:') {
      issue('UPSTREAM_URL', `UPSTREAM_URL must start with https:// in ${env} (got http://…)`)
    }
  }
}

/**
 * No two secrets share a value, in any environment: each goes to different holders (the origin and the account-events
 * receiver hold UPSTREAM_SIGNING_SECRET, scrapers METRICS_TOKEN, Upstash its token), so a shared one lets one holder
 * act as another: with JWT_SECRET equal to UPSTREAM_SIGNING_SECRET the origin could mint access tokens for any user.
 * Each later secret in the list is checked against the earlier ones; a message names both variables, never a value.
 */
function checkDistinctSecrets(vars: PolicyVars, issue: ReportIssue): void {
  const secrets: [keyof Vars, string | undefined][] = [
    ['UPSTASH_REDIS_REST_TOKEN', vars.UPSTASH_REDIS_REST_TOKEN],
    ['PASSWORD_PEPPER', vars.PASSWORD_PEPPER],
    ['UPSTREAM_SIGNING_SECRET', vars.UPSTREAM_SIGNING_SECRET],
    ['METRICS_TOKEN', vars.METRICS_TOKEN],
    ['JWT_SECRET', vars.JWT_SECRET],
    ...splitList(vars.JWT_PREVIOUS_SECRETS).map((s): [keyof Vars, string] => ['JWT_PREVIOUS_SECRETS', s]),
  ]
  const seen = new Map<string, keyof Vars>()
  for (const [variable, value] of secrets) {
    if (value === undefined || value === '') continue
    const first = seen.get(value)
    // A previous HMAC secret equal to the current one, or listed twice, is only redundant: the key ring keeps one.
    const redundant = variable === 'JWT_PREVIOUS_SECRETS' && (first === 'JWT_SECRET' || first === variable)
    if (first !== undefined && !redundant) {
      issue(
        variable,
        `${variable} must differ from ${first}: they go to different holders, and a shared value lets one act as the other; generate each with \`npm run keys -- secret\``,
      )
    } else if (first === undefined) {
      seen.set(value, variable)
    }
  }
}

/** Exactly one signing family: an Ed25519 key pair, or an HMAC secret of 32+ bytes. */
function checkSigningPolicy(vars: PolicyVars, issue: ReportIssue): void {
  const hasKey = vars.JWT_PRIVATE_KEY !== undefined
  const hasSecret = vars.JWT_SECRET !== undefined
  if (hasKey && hasSecret) {
    issue(
      'JWT_SECRET',
      'JWT_PRIVATE_KEY and JWT_SECRET are both set: choose one algorithm family (EdDSA or HS256) and remove the other',
    )
  } else if (!hasKey && !hasSecret) {
    issue(
      'JWT_PRIVATE_KEY',
      `JWT_PRIVATE_KEY is required (or JWT_SECRET for HS256): ${HOW_KEYS}; locally \`npm run dev\` writes one to .dev.vars`,
    )
  }
  if (hasSecret) {
    for (const [variable, secret] of [
      ['JWT_SECRET', vars.JWT_SECRET],
      ...splitList(vars.JWT_PREVIOUS_SECRETS).map((s) => ['JWT_PREVIOUS_SECRETS', s] as const),
    ] as const) {
      const weak = weakSecretReason(secret ?? '', MIN_HMAC_SECRET_BYTES, new TextEncoder().encode(secret ?? '').length)
      if (weak)
        issue(
          variable,
          `${variable} ${weak}: generate one with \`npm run keys -- secret\` and store it with \`wrangler secret put ${variable}\``,
        )
    }
  }
  if (!hasSecret && vars.JWT_PREVIOUS_SECRETS !== undefined) {
    issue('JWT_PREVIOUS_SECRETS', 'JWT_PREVIOUS_SECRETS is only used with JWT_SECRET (HS256): remove it')
  }
  if (!hasKey && vars.JWT_PUBLIC_KEYS !== undefined) {
    issue('JWT_PUBLIC_KEYS', 'JWT_PUBLIC_KEYS is only used with JWT_PRIVATE_KEY (EdDSA): remove it')
  }
}

/**
 * Events carry single-use tokens: https, or plain http to a local host in development. Verified registration
 * cannot work without them (nobody would get a verification message), so outside development it needs the URL.
 */
function checkAccountEventsUrl(vars: PolicyVars, issue: ReportIssue): void {
  const verify = (vars.REGISTRATION ?? (vars.ENVIRONMENT === 'development' ? 'open' : 'verify')) === 'verify'
  if (verify && vars.ENVIRONMENT !== 'development' && vars.ACCOUNT_EVENTS_URL === undefined) {
    issue(
      'ACCOUNT_EVENTS_URL',
      `REGISTRATION=verify (the default in ${vars.ENVIRONMENT}) needs ACCOUNT_EVENTS_URL: without it no verification or password-reset message reaches anyone. Set ACCOUNT_EVENTS_URL to your origin's account-events endpoint, or REGISTRATION=closed`,
    )
  }
  const url = vars.ACCOUNT_EVENTS_URL === undefined ? undefined : parseHttpUrl(vars.ACCOUNT_EVENTS_URL)
  if (url?.protocol !== 'http:') return
  if (vars.ENVIRONMENT !== 'development') {
    issue('ACCOUNT_EVENTS_URL', `ACCOUNT_EVENTS_URL must start with https:// in ${vars.ENVIRONMENT} (got http://…)`)
  } else if (!isDevelopmentHost(url.hostname)) {
    issue(
      'ACCOUNT_EVENTS_URL',
      'ACCOUNT_EVENTS_URL uses plain http:// to a host that is not local: use https://, or in development a local host (localhost, 127.0.0.0/8, [::1], *.localhost, *.test)',
    )
  }
}

/** Explicit, exact origins; https only and required outside development. */
function checkCorsPolicy(vars: PolicyVars, issue: ReportIssue): void {
  const env = vars.ENVIRONMENT
  const origins = splitList(vars.CORS_ORIGINS)
  if (env !== 'development' && origins.length === 0) {
    issue(
      'CORS_ORIGINS',
      `CORS_ORIGINS is required in ${env}: the comma-separated https:// origins of your web apps, e.g. https://app.example.com`,
    )
  }
  for (const origin of origins) {
    const problem = originProblem(origin)
    if (problem) issue('CORS_ORIGINS', `CORS_ORIGINS entry #${origins.indexOf(origin) + 1} ${problem}`)
    else if (env !== 'development' && !origin.startsWith('https://')) {
      issue('CORS_ORIGINS', `CORS_ORIGINS entry #${origins.indexOf(origin) + 1} must be https:// in ${env}`)
    }
  }
}

/** Why `value` is not a serialized origin (`scheme://host[:port]`), or undefined when it is one. */
function originProblem(value: string): string | undefined {
  if (value === '*') return 'is a wildcard; list every allowed origin explicitly'
  if (value === 'null') return 'is the opaque origin "null", which is never allowed'
  const url = parseHttpUrl(value)
  if (url === undefined) return 'is not an http(s) origin'
  if (url.origin !== value) return 'must be exactly scheme://host[:port], lower-case, with no path or trailing slash'
  return undefined
}

/**
 * Hosts a development configuration may answer: loopback (`localhost`, 127.0.0.0/8, `[::1]`) and the names
 * reserved for local use and testing that never resolve publicly (`*.localhost`, `*.test`: RFC 6761, RFC 2606).
 */
export function isDevelopmentHost(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/\.$/, '')
  return isLoopbackHost(host) || host.endsWith('.localhost') || host.endsWith('.test')
}

/**
 * Why `config` must not answer a request for `hostname`, or undefined when it may. Development settings (weak
 * default secrets, open registration, local CORS origins) are only for a worker reachable from this machine.
 */
export function servingHostIssue(config: Config, hostname: string): ConfigIssue | undefined {
  if (config.environment !== 'development' || isDevelopmentHost(hostname)) return undefined
  return {
    variable: 'ENVIRONMENT',
    message: `ENVIRONMENT=development is served on host ${hostname}, which is not a loopback address: use ENVIRONMENT=staging or production for a deployed worker, or reach the dev server through localhost or 127.0.0.1`,
  }
}

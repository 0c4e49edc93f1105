import { readFileSync } from 'node:fs'
import path from 'node:path'
import { describe, expect, it } from 'vitest'
import { DEFAULT_JWT_AUDIENCE, wranglerConfigProblems } from './wrangler-config.ts'

const toml = (...lines: string[]) => `name = "edgeward"\n${lines.join('\n')}\n`

/** A top level, staging and production, each with the JWT_AUDIENCE given. */
const withAudiences = (top: string, staging: string, production: string) =>
  toml(
    '[vars]',
    `JWT_AUDIENCE = "${top}"`,
    '[env.staging.vars]',
    `JWT_AUDIENCE = "${staging}"`,
    '[env.production.vars]',
    `JWT_AUDIENCE = "${production}"`,
  )

describe('wranglerConfigProblems: JWT_AUDIENCE per deployable configuration', () => {
  it("finds nothing wrong with the repository's wrangler.toml", () => {
    const text = readFileSync(path.join(import.meta.dirname, '..', '..', 'wrangler.toml'), 'utf8')
    expect(wranglerConfigProblems(text)).toEqual([])
  })

  it('accepts a distinct audience in the top level and in every environment', () => {
    expect(wranglerConfigProblems(withAudiences('edgeward', 'edgeward-staging', 'edgeward-production'))).toEqual([])
  })

  it('refuses one audience in the top level, staging and production, naming all three and the fix', () => {
    expect(wranglerConfigProblems(withAudiences('edgeward', 'edgeward', 'edgeward'))).toEqual([
      'JWT_AUDIENCE "edgeward" is shared by the top level, [env.staging] and [env.production]: a token issued by one is accepted by the other whenever their signing keys match. ' +
        'Give each deployable configuration its own audience, e.g. JWT_AUDIENCE = "edgeward-staging" in [env.staging.vars] and JWT_AUDIENCE = "edgeward-production" in [env.production.vars].',
    ])
  })

  it('refuses two environments sharing an audience that the top level does not have', () => {
    const [problem, ...more] = wranglerConfigProblems(withAudiences('gateway-top', 'api', 'api'))
    expect(more).toEqual([])
    expect(problem).toMatch(/^JWT_AUDIENCE "api" is shared by \[env\.staging\] and \[env\.production\]:/)
    expect(problem).toContain('JWT_AUDIENCE = "api-production" in [env.production.vars]')
    expect(problem).not.toContain('top level')
  })

  it('counts an unset JWT_AUDIENCE as the default, because an environment does not inherit [vars]', () => {
    const text = toml(
      '[vars]',
      `JWT_AUDIENCE = "${DEFAULT_JWT_AUDIENCE}"`,
      '[env.staging]',
      'name = "edgeward-staging"',
    )
    const [problem] = wranglerConfigProblems(text)
    expect(problem).toContain(
      `JWT_AUDIENCE "${DEFAULT_JWT_AUDIENCE}" is shared by the top level and [env.staging] (unset there, so the gateway's default)`,
    )
    expect(problem).toContain(`JWT_AUDIENCE = "${DEFAULT_JWT_AUDIENCE}-staging" in [env.staging.vars]`)
  })

  it('accepts a single deployable configuration', () => {
    expect(wranglerConfigProblems(toml('[vars]', 'ENVIRONMENT = "production"'))).toEqual([])
  })

  it('reports a file that is not TOML instead of throwing', () => {
    const [problem, ...more] = wranglerConfigProblems('[vars\nJWT_AUDIENCE = ')
    expect(more).toEqual([])
    expect(problem).toMatch(/^it is not valid TOML: /)
  })
})

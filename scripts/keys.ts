/**
 * Key material and local tokens for edgeward, printed to stdout; nothing is written to disk. `token` is for local
 * development only: it signs with the key in .dev.vars and the default issuer/audience, exactly as the gateway's
 * own minting does.
 */
import { randomBytes, randomUUID } from 'node:crypto'
import { readFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { calculateJwkThumbprint, importJWK, SignJWT } from 'jose'
import { parseDevVars } from './lib/dev-vars.ts'
import { generateEd25519Jwks, generateHmacSecret } from './lib/keys.ts'

const USAGE =
  'usage: npm run keys -- generate [--pipe] | secret | token --sub SUB [--scope "a b"] [--sid SID] [--ttl SECONDS]'

/**
 * A new key pair. `pipe`: the private JWK alone on stdout, for `| npx wrangler secret put JWT_PRIVATE_KEY`, so it
 * never shows on a terminal or in its scrollback; the kid and the public JWK on stderr.
 */
async function generate(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { pipe: { type: 'boolean', default: false } } })
  const { privateJwk, publicJwk } = generateEd25519Jwks()
  const kid = await calculateJwkThumbprint(publicJwk)
  if (values.pipe) {
    console.error(`kid (RFC 7638 thumbprint): ${kid}`)
    console.error(`public JWK (for JWT_PUBLIC_KEYS during a rotation; safe to publish): ${JSON.stringify(publicJwk)}`)
    console.log(JSON.stringify(privateJwk))
    return
  }
  console.log(`kid (RFC 7638 thumbprint): ${kid}`)
  console.log('\nJWT_PRIVATE_KEY (secret: wrangler secret put JWT_PRIVATE_KEY [--env ENV]):')
  console.log(JSON.stringify(privateJwk))
  console.log('\npublic JWK (for JWT_PUBLIC_KEYS during a rotation; safe to publish):')
  console.log(JSON.stringify(publicJwk))
}

async function token(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      sub: { type: 'string' },
      sid: { type: 'string' },
      scope: { type: 'string', default: '' },
      ttl: { type: 'string', default: '900' },
      'dev-vars': { type: 'string', default: '.dev.vars' },
      issuer: { type: 'string', default: 'edgeward' },
      audience: { type: 'string', default: 'edgeward' },
    },
  })
  if (!values.sub) throw new Error(`--sub is required\n${USAGE}`)
  const ttl = Number(values.ttl)
  if (!Number.isInteger(ttl) || ttl < 60 || ttl > 3600) throw new Error('--ttl must be an integer from 60 to 3600')
  const vars = parseDevVars(readFileSync(values['dev-vars'], 'utf8'))
  if (!vars.JWT_PRIVATE_KEY) throw new Error(`${values['dev-vars']} has no JWT_PRIVATE_KEY: run npm run dev once`)
  const privateJwk = JSON.parse(vars.JWT_PRIVATE_KEY) as { kty: string; crv: string; x: string; d: string }
  const kid = await calculateJwkThumbprint({ kty: privateJwk.kty, crv: privateJwk.crv, x: privateJwk.x })
  const iat = Math.floor(Date.now() / 1000)
  const jwt = await new SignJWT({ sid: values.sid ?? `dev-${randomUUID()}`, scope: values.scope })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid })
    .setIssuer(values.issuer)
    .setAudience(values.audience)
    .setSubject(values.sub)
    .setJti(randomBytes(18).toString('base64url'))
    .setIssuedAt(iat)
    .setExpirationTime(iat + ttl)
    .sign(await importJWK({ ...privateJwk, alg: 'EdDSA' }, 'EdDSA'))
  console.log(jwt)
}

/**
 * @example
 *   npm run keys -- generate                 # a new Ed25519 key pair as JWKs (+ its kid)
 *   npm run --silent keys -- generate --pipe | npx wrangler secret put JWT_PRIVATE_KEY --env production
 *                                            # the private JWK straight to wrangler; kid and public JWK on stderr
 *   npm run keys -- secret                   # a new 256-bit HS256 secret
 *   npm run keys -- token --sub alice [--scope "read write"] [--sid s] [--ttl 900] [--dev-vars .dev.vars]
 *                                            # a local access token signed with .dev.vars' JWT_PRIVATE_KEY
 */
async function main(argv: string[]): Promise<void> {
  const [command, ...rest] = argv
  if (command === 'generate') return generate(rest)
  if (command === 'secret') return void console.log(generateHmacSecret())
  if (command === 'token') return token(rest)
  throw new Error(USAGE)
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : String(err))
    process.exit(2)
  })
}

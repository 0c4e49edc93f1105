/**
 * Password hashing and policy: `PBKDF2-HMAC-SHA256(HMAC-SHA256(pepper, NFKC(password)), salt)` at 100,000
 * iterations, the most deployed Workers allow (R-PWD-2, R-PWD-3 in docs/requirements.md). Local workerd allows
 * more, so this module refuses more itself. The pepper is a Worker secret, never stored. Pure: Web Crypto only.
 */
import { base64url } from 'jose'
import { COMMON_PASSWORDS } from './common-passwords'

/** The identifier at the start of every hash this module writes. */
export const PASSWORD_HASH_ALGORITHM = 'pbkdf2-sha256'
/** Iterations for new hashes. */
export const PBKDF2_ITERATIONS = 100_000
/** Hard ceiling, when hashing and when reading a stored hash: production Workers reject more (R-PWD-3). */
export const MAX_PBKDF2_ITERATIONS = 100_000
/** Floor for stored hashes: anything lower is not a hash this gateway ever wrote. */
export const MIN_PBKDF2_ITERATIONS = 10_000
export const SALT_BYTES = 16
export const HASH_BYTES = 32
/** NIST 800-63B: at least 8 characters. */
export const MIN_PASSWORD_LENGTH = 8
/** Accepted maximum, in code points after normalization (NIST asks for at least 64). */
export const MAX_PASSWORD_LENGTH = 128
/** Longer input is never hashed: it fails verification (after the same KDF work) (R-PWD-7). */
export const MAX_PASSWORD_INPUT_BYTES = 1_024

/**
 * A stored hash, self-describing so its parameters can change (R-PWD-4):
 * `pbkdf2-sha256$i=100000$<salt: 22 base64url chars>$<hash: 43 base64url chars>`, a 16-byte salt and 32-byte output.
 */
const HASH_PATTERN = /^([a-z0-9-]+)\$i=(\d{1,16})\$([A-Za-z0-9_-]{22})\$([A-Za-z0-9_-]{43})$/
const ALGORITHM_PREFIX = /^([a-z0-9-]+)\$/

/** Why a stored hash string cannot be used. No KDF runs for any of these. */
export type StoredHashProblem = 'malformed' | 'unknown_algorithm' | 'parameters_too_high' | 'parameters_too_low'

export interface ParsedPasswordHash {
  algorithm: typeof PASSWORD_HASH_ALGORITHM
  iterations: number
  salt: Uint8Array
  hash: Uint8Array
}

export type ParsePasswordHashResult = { ok: true; hash: ParsedPasswordHash } | { ok: false; reason: StoredHashProblem }

export type VerifyPasswordResult =
  | { ok: true /** The stored parameters differ from the current ones: store a fresh hash. */; needsRehash: boolean }
  | { ok: false; reason: 'mismatch' | 'unknown_user' | StoredHashProblem }

/**
 * Parses a stored hash, refusing unknown algorithms and parameters outside
 * [MIN_PBKDF2_ITERATIONS, MAX_PBKDF2_ITERATIONS], so a database row cannot make the worker burn CPU (R-PWD-4).
 */
export function parsePasswordHash(stored: string): ParsePasswordHashResult {
  if (typeof stored !== 'string' || stored.length > 200) return { ok: false, reason: 'malformed' }
  const prefix = ALGORITHM_PREFIX.exec(stored)
  if (prefix && prefix[1] !== PASSWORD_HASH_ALGORITHM) return { ok: false, reason: 'unknown_algorithm' }
  const match = HASH_PATTERN.exec(stored)
  if (!match) return { ok: false, reason: 'malformed' }
  const digits = match[2] as string
  if (digits.length > 1 && digits.startsWith('0')) return { ok: false, reason: 'malformed' }
  const iterations = Number(digits)
  if (iterations > MAX_PBKDF2_ITERATIONS) return { ok: false, reason: 'parameters_too_high' }
  if (iterations < MIN_PBKDF2_ITERATIONS) return { ok: false, reason: 'parameters_too_low' }
  const salt = decodeCanonical(match[3] as string, SALT_BYTES)
  const hash = decodeCanonical(match[4] as string, HASH_BYTES)
  if (salt === undefined || hash === undefined) return { ok: false, reason: 'malformed' }
  return { ok: true, hash: { algorithm: PASSWORD_HASH_ALGORITHM, iterations, salt, hash } }
}

/**
 * Hashes a password for storage. Check {@link checkPasswordPolicy} first; this accepts any string.
 * `options.iterations` exists for tests and migrations; above {@link MAX_PBKDF2_ITERATIONS} it throws a RangeError.
 * @example const stored = await hashPassword(password, config.passwords.pepper)
 */
export async function hashPassword(
  password: string,
  pepper: string,
  { iterations = PBKDF2_ITERATIONS }: { iterations?: number } = {},
): Promise<string> {
  if (!Number.isSafeInteger(iterations) || iterations < MIN_PBKDF2_ITERATIONS || iterations > MAX_PBKDF2_ITERATIONS)
    throw new RangeError(
      `PBKDF2 iterations must be an integer from ${MIN_PBKDF2_ITERATIONS} to ${MAX_PBKDF2_ITERATIONS}`,
    )
  const salt = crypto.getRandomValues(new Uint8Array(SALT_BYTES))
  const hash = await derive(password, pepper, salt, iterations)
  return formatHash(iterations, salt, hash)
}

/**
 * Verifies `password` against a stored hash in constant time. A stored hash that cannot be used is refused
 * before any KDF work. Never throws for bad input.
 */
export async function verifyPassword(password: string, stored: string, pepper: string): Promise<VerifyPasswordResult> {
  const parsed = parsePasswordHash(stored)
  if (!parsed.ok) return parsed
  return verifyParsed(password, parsed.hash, pepper)
}

/**
 * Like {@link verifyPassword}, but when there is no usable stored hash (unknown user, or a row this module
 * refuses) it spends the same KDF work on a fixed dummy hash and fails, so the response time does not reveal
 * whether the account exists (R-BF-5). Exactly one KDF at the current parameters runs on every path.
 * @example const result = await verifyPasswordOrDummy(body.password, user?.passwordHash, config.passwords.pepper)
 */
export async function verifyPasswordOrDummy(
  password: string,
  stored: string | undefined,
  pepper: string,
): Promise<VerifyPasswordResult> {
  const parsed = stored === undefined ? undefined : parsePasswordHash(stored)
  if (parsed?.ok) return verifyParsed(password, parsed.hash, pepper)
  await verifyParsed(password, DUMMY_HASH, pepper)
  return { ok: false, reason: parsed === undefined ? 'unknown_user' : parsed.reason }
}

/** True when `stored` was not written with the current algorithm and parameters (re-hash after a login). */
export function needsRehash(stored: string): boolean {
  const parsed = parsePasswordHash(stored)
  return !parsed.ok || parsed.hash.iterations !== PBKDF2_ITERATIONS
}

export type PasswordPolicyViolation = 'invalid' | 'too_short' | 'too_long' | 'common' | 'matches_email'

export type PasswordPolicyResult =
  | { ok: true }
  | { ok: false; reason: PasswordPolicyViolation; minLength: number; maxLength: number }

export interface PasswordPolicyOptions {
  /** Minimum length in code points, from 8 to 128. @default 8 */
  minLength?: number
  /** The account's email: a password equal to its local part (or to the whole address) is refused. */
  email?: string
}

/**
 * NIST 800-63B policy for a new password: length in code points after NFKC normalization (minimum configurable,
 * maximum 128), no composition rules, not a common password, not the email's local part (R-PWD-7).
 * Never truncates and never throws for bad input; an invalid `minLength` (configuration) throws a RangeError.
 */
export function checkPasswordPolicy(password: string, options: PasswordPolicyOptions = {}): PasswordPolicyResult {
  const { minLength = MIN_PASSWORD_LENGTH, email } = options
  if (!Number.isInteger(minLength) || minLength < MIN_PASSWORD_LENGTH || minLength > MAX_PASSWORD_LENGTH)
    throw new RangeError(`minLength must be an integer from ${MIN_PASSWORD_LENGTH} to ${MAX_PASSWORD_LENGTH}`)
  const fail = (reason: PasswordPolicyViolation): PasswordPolicyResult => ({
    ok: false,
    reason,
    minLength,
    maxLength: MAX_PASSWORD_LENGTH,
  })
  if (typeof password !== 'string' || !password.isWellFormed()) return fail('invalid')
  const normalized = normalizePassword(password)
  let length = 0
  for (const _ of normalized) length++
  if (length < minLength) return fail('too_short')
  if (length > MAX_PASSWORD_LENGTH) return fail('too_long')
  const lower = normalized.toLowerCase()
  if (COMMON_PASSWORDS.has(lower)) return fail('common')
  if (typeof email === 'string') {
    const address = normalizePassword(email.trim()).toLowerCase()
    const at = address.lastIndexOf('@')
    const local = at > 0 ? address.slice(0, at) : address
    if (lower === local || lower === address) return fail('matches_email')
  }
  return { ok: true }
}

/** NFKC, as NIST 800-63B §3.1.1.2 and R-PWD-5 ask (NFKC output is also NFC). */
function normalizePassword(password: string): string {
  return password.normalize('NFKC')
}

async function verifyParsed(
  password: string,
  stored: ParsedPasswordHash,
  pepper: string,
): Promise<VerifyPasswordResult> {
  // Over-long or non-string input still costs one KDF (on the empty string) and then fails.
  const tooLong = typeof password !== 'string' || utf8Length(password) > MAX_PASSWORD_INPUT_BYTES
  const candidate = await derive(tooLong ? '' : password, pepper, stored.salt, stored.iterations)
  // Both are HASH_BYTES long (parse checks it); timingSafeEqual throws on a length difference.
  const equal = crypto.subtle.timingSafeEqual(candidate, stored.hash)
  if (!equal || tooLong) return { ok: false, reason: 'mismatch' }
  return { ok: true, needsRehash: stored.iterations !== PBKDF2_ITERATIONS }
}

async function derive(password: string, pepper: string, salt: Uint8Array, iterations: number): Promise<Uint8Array> {
  // The ceiling again, right before the KDF: nothing reaches deriveBits above it.
  if (iterations > MAX_PBKDF2_ITERATIONS) throw new RangeError('PBKDF2 iterations above the ceiling')
  const encoder = new TextEncoder()
  const pepperKey = await crypto.subtle.importKey(
    'raw',
    encoder.encode(pepper),
    { name: 'HMAC', hash: 'SHA-256' },
    false,
    ['sign'],
  )
  const peppered = await crypto.subtle.sign('HMAC', pepperKey, encoder.encode(normalizePassword(password)))
  const kdfKey = await crypto.subtle.importKey('raw', peppered, 'PBKDF2', false, ['deriveBits'])
  const bits = await crypto.subtle.deriveBits(
    { name: 'PBKDF2', hash: 'SHA-256', salt, iterations },
    kdfKey,
    HASH_BYTES * 8,
  )
  return new Uint8Array(bits)
}

function formatHash(iterations: number, salt: Uint8Array, hash: Uint8Array): string {
  return `${PASSWORD_HASH_ALGORITHM}$i=${iterations}$${base64url.encode(salt)}$${base64url.encode(hash)}`
}

function decodeCanonical(text: string, bytes: number): Uint8Array | undefined {
  try {
    const decoded = base64url.decode(text)
    return decoded.length === bytes && base64url.encode(decoded) === text ? decoded : undefined
  } catch {
    return undefined
  }
}

function utf8Length(text: string): number {
  return new TextEncoder().encode(text).length
}

/** A fixed, well-formed hash at the current parameters; no password is known to match it. */
const DUMMY_HASH: ParsedPasswordHash = {
  algorithm: PASSWORD_HASH_ALGORITHM,
  iterations: PBKDF2_ITERATIONS,
  salt: base64url.decode('3qD5hX0n6Jm2V4c9K1sT8w'),
  hash: base64url.decode('yS7rB2kQ9mV4nX1pL6dF3hJ8tZ0wC5gA2eU7iO4sR9k'),
}

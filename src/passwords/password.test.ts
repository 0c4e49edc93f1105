import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from 'vitest'
import { COMMON_PASSWORDS } from './common-passwords'
import {
  checkPasswordPolicy,
  hashPassword,
  MAX_PBKDF2_ITERATIONS,
  needsRehash,
  PBKDF2_ITERATIONS,
  parsePasswordHash,
  verifyPassword,
  verifyPasswordOrDummy,
} from './password'

const PEPPER = 'Hn4Wq8Zt2Lk6Vb0Xc3Mj7Rp1Sd5Gf9Ya-Ue_IoTy2Qw'
const OTHER_PEPPER = 'Bq7Xr2Lm9Vt4Kc8Zp1Wn6Hd3Jf0Gs5Ya-Ue_IoTy2Qw'
const PASSWORD = 'correct horse battery staple'
const SALT = 'AAECAwQFBgcICQoLDA0ODw' // 16 bytes
const HASH = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8' // 32 bytes
const hashWith = (iterations: string | number, algorithm = 'pbkdf2-sha256') =>
  `${algorithm}$i=${iterations}$${SALT}$${HASH}`

let deriveBits: MockInstance<SubtleCrypto['deriveBits']>

// Production Workers refuse PBKDF2 above 100 000 iterations; local workerd does not (R-PWD-3 in docs/requirements.md).
// Emulate it.
beforeEach(() => {
  const original = crypto.subtle.deriveBits.bind(crypto.subtle)
  deriveBits = vi.spyOn(crypto.subtle, 'deriveBits').mockImplementation((algorithm, key, length) => {
    const iterations = (algorithm as SubtleCryptoDeriveKeyAlgorithm).iterations ?? 0
    if (iterations > MAX_PBKDF2_ITERATIONS)
      throw new DOMException(
        `iteration counts above 100000 are not supported (requested ${iterations})`,
        'NotSupportedError',
      )
    return original(algorithm, key, length)
  })
})
afterEach(() => {
  vi.restoreAllMocks()
})

const pbkdf2Iterations = () =>
  deriveBits.mock.calls.map(([algorithm]) => (algorithm as SubtleCryptoDeriveKeyAlgorithm).iterations)

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.floor(sorted.length / 2)] as number
}

async function elapsed(run: () => Promise<unknown>): Promise<number> {
  const start = Date.now()
  await run()
  return Date.now() - start
}

describe('hashPassword and verifyPassword', () => {
  it('round-trips, at 100 000 iterations, in the self-describing format (and prints the cost of one hash)', async () => {
    const times: number[] = []
    let stored = ''
    for (let i = 0; i < 3; i++) times.push(await elapsed(async () => (stored = await hashPassword(PASSWORD, PEPPER))))
    console.log(`[password] one hash (PBKDF2-SHA256, ${PBKDF2_ITERATIONS} iterations): ${times.join(', ')} ms`)
    expect(stored).toMatch(/^pbkdf2-sha256\$i=100000\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$/)
    expect(pbkdf2Iterations()).toEqual([100_000, 100_000, 100_000])
    expect(await verifyPassword(PASSWORD, stored, PEPPER)).toEqual({ ok: true, needsRehash: false })
  })

  it('refuses a wrong password', async () => {
    const stored = await hashPassword(PASSWORD, PEPPER)
    expect(await verifyPassword('correct horse battery stapler', stored, PEPPER)).toEqual({
      ok: false,
      reason: 'mismatch',
    })
  })

  it('refuses the right password under another pepper (a D1 row alone is not enough, R-PWD-5)', async () => {
    const stored = await hashPassword(PASSWORD, PEPPER)
    expect(await verifyPassword(PASSWORD, stored, OTHER_PEPPER)).toEqual({ ok: false, reason: 'mismatch' })
  })

  it('salts: the same password hashes differently every time (R-PWD-6)', async () => {
    const [a, b] = [await hashPassword(PASSWORD, PEPPER), await hashPassword(PASSWORD, PEPPER)]
    expect(a).not.toBe(b)
    expect(a.split('$')[2]).not.toBe(b.split('$')[2])
  })

  it('NFKC-normalizes before hashing: composed and decomposed forms verify alike', async () => {
    const stored = await hashPassword('caf\u00e9-au-lait', PEPPER)
    expect((await verifyPassword('cafe\u0301-au-lait', stored, PEPPER)).ok).toBe(true)
  })

  it('compares in constant time with crypto.subtle.timingSafeEqual (R-PWD-6)', async () => {
    const stored = await hashPassword(PASSWORD, PEPPER)
    const compare = vi.spyOn(crypto.subtle, 'timingSafeEqual')
    expect((await verifyPassword(PASSWORD, stored, PEPPER)).ok).toBe(true)
    expect((await verifyPassword('wrong password', stored, PEPPER)).ok).toBe(false)
    expect(compare).toHaveBeenCalledTimes(2)
  })

  it('fails input over 1 024 bytes after the same KDF work, never truncating it', async () => {
    const long = 'a'.repeat(1_025)
    const stored = await hashPassword(long, PEPPER)
    deriveBits.mockClear()
    expect(await verifyPassword(long, stored, PEPPER)).toEqual({ ok: false, reason: 'mismatch' })
    expect(pbkdf2Iterations()).toEqual([100_000])
  })

  it('refuses to hash above the ceiling', async () => {
    await expect(hashPassword(PASSWORD, PEPPER, { iterations: MAX_PBKDF2_ITERATIONS + 1 })).rejects.toThrow(RangeError)
    expect(deriveBits).not.toHaveBeenCalled()
  })
})

describe('stored hashes from the database (R-PWD-4)', () => {
  it.each([
    ['100 001 iterations', hashWith(100_001), 'parameters_too_high'],
    ['10 000 000 iterations', hashWith(10_000_000), 'parameters_too_high'],
    ['10^15 iterations', hashWith('1000000000000000'), 'parameters_too_high'],
    ['9 999 iterations', hashWith(9_999), 'parameters_too_low'],
    ['0 iterations', hashWith(0), 'parameters_too_low'],
    ['an unknown algorithm', hashWith(100_000, 'pbkdf2-sha1'), 'unknown_algorithm'],
    ['scrypt', `scrypt$32768$8$3$${SALT}$${HASH}`, 'unknown_algorithm'],
    ['argon2id', `$argon2id$v=19$m=19456,t=2,p=1$${SALT}$${HASH}`, 'malformed'],
    ['an empty string', '', 'malformed'],
    ['a bare algorithm', 'pbkdf2-sha256', 'malformed'],
    ['a missing hash', `pbkdf2-sha256$i=100000$${SALT}`, 'malformed'],
    ['a short salt', `pbkdf2-sha256$i=100000$AAECAwQFBgcICQoLDA0O$${HASH}`, 'malformed'],
    ['a non-canonical salt', hashWith(100_000).replace(SALT, `${SALT.slice(0, -1)}x`), 'malformed'],
    ['standard base64', hashWith(100_000).replace(SALT, 'AAECAwQFBgcICQoLDA0O+/'), 'malformed'],
    ['a leading zero', hashWith('0100000'), 'malformed'],
    ['a negative count', hashWith(-100_000), 'malformed'],
    ['an exponent', hashWith('1e5'), 'malformed'],
    ['trailing text', `${hashWith(100_000)}$extra`, 'malformed'],
    ['a trailing newline', `${hashWith(100_000)}\n`, 'malformed'],
    ['another parameter name', `pbkdf2-sha256$rounds=100000$${SALT}$${HASH}`, 'malformed'],
    ['a huge string', `pbkdf2-sha256$i=100000$${'A'.repeat(100_000)}`, 'malformed'],
  ])('refuses %s without running the KDF', async (_, stored, reason) => {
    expect(parsePasswordHash(stored)).toEqual({ ok: false, reason })
    const took = await elapsed(async () => {
      expect(await verifyPassword(PASSWORD, stored, PEPPER)).toEqual({ ok: false, reason })
    })
    expect(deriveBits).not.toHaveBeenCalled()
    expect(took).toBeLessThan(20)
    expect(needsRehash(stored)).toBe(true)
  })

  it('verifies an older hash with fewer iterations and asks for a rehash', async () => {
    const older = await hashPassword(PASSWORD, PEPPER, { iterations: 50_000 })
    expect(older).toMatch(/^pbkdf2-sha256\$i=50000\$/)
    expect(await verifyPassword(PASSWORD, older, PEPPER)).toEqual({ ok: true, needsRehash: true })
    expect(needsRehash(older)).toBe(true)
    expect(needsRehash(await hashPassword(PASSWORD, PEPPER))).toBe(false)
  })

  it('accepts exactly the ceiling', () => {
    expect(parsePasswordHash(hashWith(MAX_PBKDF2_ITERATIONS))).toMatchObject({
      ok: true,
      hash: { iterations: 100_000 },
    })
  })
})

describe('verifyPasswordOrDummy (R-BF-5)', () => {
  it('runs exactly one KDF at the current parameters and compares, when the user does not exist', async () => {
    const compare = vi.spyOn(crypto.subtle, 'timingSafeEqual')
    expect(await verifyPasswordOrDummy(PASSWORD, undefined, PEPPER)).toEqual({ ok: false, reason: 'unknown_user' })
    expect(pbkdf2Iterations()).toEqual([PBKDF2_ITERATIONS])
    expect(compare).toHaveBeenCalledTimes(1)
  })

  it('spends the dummy work, not the row, on a refused stored hash', async () => {
    for (const stored of [hashWith(10_000_000), hashWith(100_000, 'md5'), 'garbage']) {
      deriveBits.mockClear()
      expect((await verifyPasswordOrDummy(PASSWORD, stored, PEPPER)).ok).toBe(false)
      expect(pbkdf2Iterations()).toEqual([PBKDF2_ITERATIONS])
    }
  })

  it('verifies a real hash like verifyPassword', async () => {
    const stored = await hashPassword(PASSWORD, PEPPER)
    expect(await verifyPasswordOrDummy(PASSWORD, stored, PEPPER)).toEqual({ ok: true, needsRehash: false })
    expect(await verifyPasswordOrDummy('nope nope nope', stored, PEPPER)).toEqual({ ok: false, reason: 'mismatch' })
  })

  it('takes about as long for an unknown user as for a wrong password (client-side clock)', async () => {
    const stored = await hashPassword(PASSWORD, PEPPER)
    const unknown: number[] = []
    const wrong: number[] = []
    for (let i = 0; i < 7; i++) {
      unknown.push(await elapsed(() => verifyPasswordOrDummy('wrong password', undefined, PEPPER)))
      wrong.push(await elapsed(() => verifyPasswordOrDummy('wrong password', stored, PEPPER)))
    }
    const ratio = median(unknown) / median(wrong)
    console.log(
      `[password] unknown user: ${unknown.join(', ')} ms (median ${median(unknown)}); wrong password: ${wrong.join(', ')} ms (median ${median(wrong)}); ratio ${ratio.toFixed(2)}`,
    )
    expect(median(wrong)).toBeGreaterThan(0)
    expect(ratio).toBeGreaterThan(0.5)
    expect(ratio).toBeLessThan(2)
  })
})

describe('checkPasswordPolicy (R-PWD-7)', () => {
  const ok = { ok: true }
  const fail = (reason: string, minLength = 8) => ({ ok: false, reason, minLength, maxLength: 128 })

  it.each([
    ['7 characters', 'xk3!vq9', {}, fail('too_short')],
    ['8 characters', 'xk3!vq9z', {}, ok],
    ['no composition rules: 8 lower-case letters', 'zebratoe', {}, ok],
    ['128 characters', `${'x'.repeat(127)}y`, {}, ok],
    ['129 characters', `${'x'.repeat(128)}y`, {}, fail('too_long')],
    ['a configured minimum of 12', 'xk3!vq9zab', { minLength: 12 }, fail('too_short', 12)],
    ['12 with a minimum of 12', 'xk3!vq9zab12', { minLength: 12 }, ok],
    ['a common password', 'password123', {}, fail('common')],
    ['a common password in capitals', 'PassWord123', {}, fail('common')],
    ['Password1! (R-PWD-7)', 'Password1!', {}, fail('common')],
    ['qwertyuiop', 'qwertyuiop', {}, fail('common')],
    ['the email local part', 'Jane.Doe.1984', { email: 'jane.doe.1984@example.com' }, fail('matches_email')],
    ['the whole email', 'jd@example.com', { email: 'JD@Example.com' }, fail('matches_email')],
    ['unrelated to the email', 'violet-harbour-27', { email: 'jane@example.com' }, ok],
    // 7 emoji are 14 UTF-16 units but 7 code points: too short; 8 are enough.
    ['7 emoji', '🐢🦊🐙🦉🐝🦀🐬', {}, fail('too_short')],
    ['8 emoji', '🐢🦊🐙🦉🐝🦀🐬🐌', {}, ok],
    ['64 characters with emoji', `${'ab🐢'.repeat(21)}c`, {}, ok],
    ['128 emoji', '🐢'.repeat(128), {}, ok],
    ['129 emoji', '🐢'.repeat(129), {}, fail('too_long')],
    // 'e' + U+0301 is 2 code points before normalization, 1 after.
    ['7 letters written decomposed as 14 code points', 'e\u0301'.repeat(7), {}, fail('too_short')],
    ['128 normalized from 256 decomposed code points', 'e\u0301'.repeat(128), {}, ok],
    ['a lone surrogate', 'abcdefgh\ud800', {}, fail('invalid')],
  ])('%s', (_, password, options, expected) => {
    expect(checkPasswordPolicy(password, options)).toEqual(expected)
  })

  it('refuses a minimum below 8 or above 128 as a configuration error', () => {
    expect(() => checkPasswordPolicy('whatever-long', { minLength: 6 })).toThrow(RangeError)
    expect(() => checkPasswordPolicy('whatever-long', { minLength: 129 })).toThrow(RangeError)
  })

  it('ships about 1 000 common passwords, lower-cased', () => {
    expect(COMMON_PASSWORDS.size).toBeGreaterThanOrEqual(1_000)
    for (const word of COMMON_PASSWORDS) expect(word).toBe(word.normalize('NFKC').toLowerCase())
    for (const word of ['123456', 'password', 'iloveyou', 'qwerty123', '1q2w3e4r', 'p@ssw0rd']) {
      expect(COMMON_PASSWORDS.has(word)).toBe(true)
    }
  })
})

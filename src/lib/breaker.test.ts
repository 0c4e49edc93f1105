import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { type BreakerState, createCircuitBreaker } from './breaker'

const COOLDOWN = 1_000

function breaker(failureThreshold = 3) {
  const transitions: [BreakerState, BreakerState][] = []
  const b = createCircuitBreaker({
    failureThreshold,
    cooldownMs: COOLDOWN,
    onTransition: (from, to) => transitions.push([from, to]),
  })
  return { b, transitions }
}

/** Opens a fresh breaker at t = 0 (threshold 3). */
function opened() {
  const { b, transitions } = breaker(3)
  for (let i = 0; i < 3; i++) {
    expect(b.attempt(0)).toBe('call')
    b.failure(0)
  }
  return { b, transitions }
}

describe('createCircuitBreaker', () => {
  it.each([
    [{ failureThreshold: 0, cooldownMs: 1_000 }],
    [{ failureThreshold: 1.5, cooldownMs: 1_000 }],
    [{ failureThreshold: 3, cooldownMs: 0 }],
    [{ failureThreshold: 3, cooldownMs: Number.POSITIVE_INFINITY }],
    [{ failureThreshold: 3, cooldownMs: Number.NaN }],
  ])('rejects %o at factory time', (options) => {
    expect(() => createCircuitBreaker(options)).toThrow(TypeError)
  })

  it('starts closed and lets every call through', () => {
    const { b, transitions } = breaker()
    expect(b.state()).toBe('closed')
    for (let t = 0; t < 10; t++) expect(b.attempt(t)).toBe('call')
    expect(transitions).toEqual([])
  })

  it('opens only after failureThreshold consecutive failures; a success resets the count', () => {
    const { b, transitions } = breaker(3)
    b.failure(1)
    b.failure(2)
    b.success(3)
    b.failure(4)
    b.failure(5)
    expect(b.state()).toBe('closed')
    b.failure(6)
    expect(b.state()).toBe('open')
    expect(transitions).toEqual([['closed', 'open']])
  })

  it('skips while open, until cooldownMs has passed since it opened', () => {
    const { b, transitions } = opened()
    expect(b.attempt(1)).toBe('skip')
    expect(b.attempt(COOLDOWN - 1)).toBe('skip')
    expect(b.state()).toBe('open')
    expect(b.attempt(COOLDOWN)).toBe('probe')
    expect(b.state()).toBe('half-open')
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
    ])
  })

  it('hands out exactly one probe; concurrent callers skip', () => {
    const { b } = opened()
    const answers = Array.from({ length: 50 }, (_, i) => b.attempt(COOLDOWN + (i % 5)))
    expect(answers.filter((a) => a === 'probe')).toHaveLength(1)
    expect(answers[0]).toBe('probe')
    expect(answers.slice(1).every((a) => a === 'skip')).toBe(true)
  })

  it('closes on probe success, and then needs failureThreshold fresh failures to open again', () => {
    const { b, transitions } = opened()
    expect(b.attempt(COOLDOWN)).toBe('probe')
    b.success(COOLDOWN + 5)
    expect(b.state()).toBe('closed')
    expect(b.attempt(COOLDOWN + 6)).toBe('call')
    b.failure(COOLDOWN + 7)
    b.failure(COOLDOWN + 8)
    expect(b.state()).toBe('closed')
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ])
  })

  it('re-opens on probe failure for another full cooldown', () => {
    const { b, transitions } = opened()
    expect(b.attempt(COOLDOWN)).toBe('probe')
    b.failure(COOLDOWN + 100)
    expect(b.state()).toBe('open')
    expect(b.attempt(COOLDOWN + 101)).toBe('skip')
    expect(b.attempt(2 * COOLDOWN + 99)).toBe('skip')
    expect(b.attempt(2 * COOLDOWN + 100)).toBe('probe')
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['open', 'half-open'],
    ])
  })

  it('does not stay wedged when a probe never reports: after cooldownMs it counts as failed', () => {
    const { b, transitions } = opened()
    expect(b.attempt(COOLDOWN)).toBe('probe')
    expect(b.attempt(2 * COOLDOWN - 1)).toBe('skip')
    expect(b.state()).toBe('half-open')
    expect(b.attempt(2 * COOLDOWN)).toBe('skip')
    expect(b.state()).toBe('open')
    expect(b.attempt(3 * COOLDOWN - 1)).toBe('skip')
    expect(b.attempt(3 * COOLDOWN)).toBe('probe')
    b.success(3 * COOLDOWN + 1)
    expect(b.state()).toBe('closed')
    expect(transitions).toEqual([
      ['closed', 'open'],
      ['open', 'half-open'],
      ['half-open', 'open'],
      ['open', 'half-open'],
      ['half-open', 'closed'],
    ])
  })

  it('ignores outcomes reported while open: no early close, no longer cooldown', () => {
    const { b, transitions } = opened()
    b.success(10) // a call started before the breaker opened
    b.failure(COOLDOWN - 1)
    b.failure(COOLDOWN - 1)
    expect(b.state()).toBe('open')
    expect(b.attempt(COOLDOWN)).toBe('probe')
    // The abandoned probe's late answer, after the breaker gave up on it, changes nothing either.
    expect(b.attempt(2 * COOLDOWN)).toBe('skip')
    b.success(2 * COOLDOWN + 1)
    expect(b.state()).toBe('open')
    expect(transitions).toHaveLength(3)
  })

  it('fires onTransition exactly once per state change, in order, after the state changed', () => {
    const seen: [BreakerState, BreakerState, BreakerState][] = []
    const b = createCircuitBreaker({
      failureThreshold: 1,
      cooldownMs: COOLDOWN,
      onTransition: (from, to) => seen.push([from, to, b.state()]),
    })
    b.failure(0)
    b.failure(1)
    b.attempt(2)
    b.attempt(COOLDOWN)
    b.attempt(COOLDOWN + 1)
    b.success(COOLDOWN + 2)
    b.success(COOLDOWN + 3)
    expect(seen).toEqual([
      ['closed', 'open', 'open'],
      ['open', 'half-open', 'half-open'],
      ['half-open', 'closed', 'closed'],
    ])
  })

  it('holds its invariants over random call sequences', () => {
    type Op = { kind: 'attempt' | 'success' | 'failure'; dt: number }
    const op = fc.record({
      kind: fc.constantFrom<Op['kind']>('attempt', 'attempt', 'success', 'failure', 'failure'),
      dt: fc.integer({ min: 0, max: 600 }),
    })
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 4 }), fc.array(op, { maxLength: 200 }), (threshold, ops) => {
        const { b, transitions } = breaker(threshold)
        let now = 0
        let probesThisEpisode = 0
        let transitionsSeen = 0
        for (const { kind, dt } of ops) {
          now += dt
          const before = b.state()
          if (kind === 'attempt') {
            const answer = b.attempt(now)
            if (answer === 'call') expect(before).toBe('closed')
            if (answer === 'probe') {
              expect(before).toBe('open')
              probesThisEpisode++
              expect(probesThisEpisode).toBe(1)
            }
          } else {
            b[kind](now)
          }
          const after = b.state()
          const fired = transitions.slice(transitionsSeen)
          transitionsSeen = transitions.length
          // Exactly one event per change, none without one, and it names the real from/to.
          expect(fired).toEqual(before === after ? [] : [[before, after]])
          if (after !== 'half-open') probesThisEpisode = 0
        }
      }),
      { numRuns: 300 },
    )
  })
})

describe('createCircuitBreaker with minSources: no single source controls it', () => {
  const multi = (minSources = 3, failureThreshold = 5) =>
    createCircuitBreaker({ failureThreshold, cooldownMs: COOLDOWN, minSources })

  it('stays closed under any number of failures from one source, and opens once enough sources fail', () => {
    const b = multi()
    for (let i = 0; i < 1_000; i++) b.failure(i, 'attacker')
    expect(b.state()).toBe('closed')
    b.failure(1_000, 'client-b')
    expect(b.state()).toBe('closed')
    b.failure(1_001, 'client-c')
    expect(b.state()).toBe('open')
  })

  it('needs the threshold too: three sources failing once each are not five failures', () => {
    const b = multi(3, 5)
    for (const source of ['a', 'b', 'c']) b.failure(0, source)
    expect(b.state()).toBe('closed')
    b.failure(0, 'a')
    b.failure(0, 'a')
    expect(b.state()).toBe('open')
  })

  it('forgets the sources of a run on any success', () => {
    const b = multi()
    for (let i = 0; i < 10; i++) b.failure(0, 'a')
    b.failure(0, 'b')
    b.success(0)
    b.failure(0, 'c')
    expect(b.state()).toBe('closed')
  })

  it('caps the sources needed at the threshold', () => {
    const b = multi(10, 2)
    b.failure(0, 'a')
    b.failure(0, 'b')
    expect(b.state()).toBe('open')
  })

  it('hands one probe per source after the cooldown; one failed probe does not re-open it', () => {
    const b = multi()
    for (let i = 0; i < 5; i++) b.failure(0, `s${i % 3}`)
    expect(b.state()).toBe('open')
    expect(b.attempt(COOLDOWN - 1, 'attacker')).toBe('skip')
    expect(b.attempt(COOLDOWN, 'attacker')).toBe('probe')
    expect(b.attempt(COOLDOWN, 'attacker')).toBe('skip') // one probe per source
    b.failure(COOLDOWN + 1, 'attacker')
    expect(b.state()).toBe('half-open')
    expect(b.attempt(COOLDOWN + 2, 'attacker')).toBe('skip') // its failed probe is spent
    expect(b.attempt(COOLDOWN + 2, 'client-b')).toBe('probe')
    b.success(COOLDOWN + 3)
    expect(b.state()).toBe('closed')
  })

  it('re-opens when probes from enough sources fail, or hang for a cooldown', () => {
    const b = multi()
    for (let i = 0; i < 5; i++) b.failure(0, `s${i % 3}`)
    for (const source of ['a', 'b', 'c']) expect(b.attempt(COOLDOWN, source)).toBe('probe')
    expect(b.attempt(COOLDOWN, 'd')).toBe('skip') // three probes out at once at most
    b.failure(COOLDOWN + 1, 'a')
    b.failure(COOLDOWN + 1, 'b')
    expect(b.state()).toBe('half-open')
    expect(b.attempt(2 * COOLDOWN, 'd')).toBe('skip') // c's probe hung a cooldown long: counted as failed
    expect(b.state()).toBe('open')
  })

  it('refuses a minSources that is not a positive integer', () => {
    expect(() => createCircuitBreaker({ failureThreshold: 1, cooldownMs: 1, minSources: 0 })).toThrow(TypeError)
  })
})

import fc from 'fast-check'
import { type Context, Hono } from 'hono'
import { describe, expect, it } from 'vitest'
import type { AppEnv } from '../env'
import { asMiddleware, pipeline, type Stage } from './stage'

/** What a stage does on the way in: go on (now or after an await), answer, or throw. */
type EnterKind = 'sync' | 'async' | 'answer' | 'throw'
/** And on the way out: nothing, add a header, or throw. */
type LeaveKind = 'none' | 'header' | 'throw'
interface StageSpec {
  enter: EnterKind
  leave: LeaveKind
}

/** Stages that record what they did in `trace`, and a handler that answers or throws. */
function build(specs: StageSpec[], trace: string[]): Stage<string>[] {
  return specs.map(({ enter, leave }, i) => ({
    enter(c: Context<AppEnv>): string | Response | Promise<string | Response> {
      trace.push(`enter ${i}`)
      if (enter === 'answer') return c.text(`answered by ${i}`, 202)
      if (enter === 'throw') throw new Error(`enter ${i}`)
      return enter === 'async' ? Promise.resolve(`state ${i}`) : `state ${i}`
    },
    ...(leave === 'none'
      ? {}
      : {
          leave(c: Context<AppEnv>, state: string) {
            trace.push(`leave ${i} ${state} ${c.res.status}`)
            if (leave === 'throw') throw new Error(`leave ${i}`)
            c.res.headers.append('x-left', String(i))
          },
        }),
  }))
}

const onError = (error: Error, c: Context<AppEnv>) => c.text(`error: ${error.message}`, 500)

function appWith(mount: (app: Hono<AppEnv>) => void, handler: 'ok' | 'throw', trace: string[]) {
  const app = new Hono<AppEnv>()
  mount(app)
  app.get('/', (c) => {
    trace.push('handler')
    if (handler === 'throw') throw new Error('handler')
    return c.text('ok')
  })
  app.onError(onError)
  return app
}

async function outcome(app: Hono<AppEnv>, trace: string[]) {
  const res = await app.request('/')
  return { trace, status: res.status, body: await res.text(), left: res.headers.get('x-left') }
}

const specArb = fc.record({
  enter: fc.constantFrom<EnterKind>('sync', 'async', 'answer', 'throw'),
  leave: fc.constantFrom<LeaveKind>('none', 'header', 'throw'),
})

describe('pipeline(): stages in one middleware, by hono rules', () => {
  it('enters in order, runs the handler, leaves in reverse order with each stage its own state', async () => {
    const trace: string[] = []
    const specs: StageSpec[] = [
      { enter: 'sync', leave: 'header' },
      { enter: 'async', leave: 'header' },
      { enter: 'sync', leave: 'none' },
    ]
    const app = appWith((a) => a.use(pipeline(build(specs, trace), onError)), 'ok', trace)
    expect(await outcome(app, trace)).toEqual({
      trace: ['enter 0', 'enter 1', 'enter 2', 'handler', 'leave 1 state 1 200', 'leave 0 state 0 200'],
      status: 200,
      body: 'ok',
      left: '1, 0',
    })
  })

  it("a stage's answer skips the later stages and the handler; the earlier stages leave on it", async () => {
    const trace: string[] = []
    const specs: StageSpec[] = [
      { enter: 'sync', leave: 'header' },
      { enter: 'answer', leave: 'header' },
      { enter: 'sync', leave: 'header' },
    ]
    const app = appWith((a) => a.use(pipeline(build(specs, trace), onError)), 'ok', trace)
    expect(await outcome(app, trace)).toEqual({
      trace: ['enter 0', 'enter 1', 'leave 0 state 0 202'],
      status: 202,
      body: 'answered by 1',
      left: '0',
    })
  })

  it('an error in a stage is the error handler’s answer, and only the stages before it leave', async () => {
    const trace: string[] = []
    const specs: StageSpec[] = [
      { enter: 'sync', leave: 'header' },
      { enter: 'throw', leave: 'header' },
      { enter: 'sync', leave: 'header' },
    ]
    const app = appWith((a) => a.use(pipeline(build(specs, trace), onError)), 'ok', trace)
    expect(await outcome(app, trace)).toEqual({
      trace: ['enter 0', 'enter 1', 'leave 0 state 0 500'],
      status: 500,
      body: 'error: enter 1',
      left: '0',
    })
  })

  it('an error while leaving is answered, and the stages before it still leave', async () => {
    const trace: string[] = []
    const specs: StageSpec[] = [
      { enter: 'sync', leave: 'header' },
      { enter: 'sync', leave: 'throw' },
    ]
    const app = appWith((a) => a.use(pipeline(build(specs, trace), onError)), 'ok', trace)
    expect(await outcome(app, trace)).toEqual({
      trace: ['enter 0', 'enter 1', 'handler', 'leave 1 state 1 200', 'leave 0 state 0 500'],
      status: 500,
      body: 'error: leave 1',
      left: '0',
    })
  })

  it('sets c.error to what the error handler answered', async () => {
    let seen: unknown
    const app = new Hono<AppEnv>()
    const failing: Stage = {
      enter() {
        throw new Error('refused')
      },
    }
    const watcher: Stage = {
      enter() {},
      leave(c) {
        seen = c.error
      },
    }
    app.use(pipeline([watcher, failing], onError))
    app.get('/', (c) => c.text('ok'))
    const res = await app.request('/')
    expect(res.status).toBe(500)
    expect(seen).toBeInstanceOf(Error)
    expect((seen as Error).message).toBe('refused')
  })

  it('gives the error handler its own error when it fails, so the stages still leave on a response', async () => {
    const trace: string[] = []
    let calls = 0
    const flaky = (error: Error, c: Context<AppEnv>) => {
      calls++
      if (calls === 1) throw new Error('handler failed')
      return c.text(`error: ${error.message}`, 500)
    }
    const app = new Hono<AppEnv>()
    app.use(
      pipeline(
        build(
          [
            { enter: 'sync', leave: 'header' },
            { enter: 'throw', leave: 'header' },
          ],
          trace,
        ),
        flaky,
      ),
    )
    app.get('/', (c) => c.text('ok'))
    app.onError(onError)
    const res = await app.request('/')
    expect([res.status, await res.text(), res.headers.get('x-left')]).toEqual([500, 'error: handler failed', '0'])
    expect(trace).toEqual(['enter 0', 'enter 1', 'leave 0 state 0 500'])
  })

  it('wraps a value that is not an Error, so it is answered like one instead of escaping hono', async () => {
    let handled: Error | undefined
    const app = new Hono<AppEnv>()
    const throwsString: Stage = {
      enter() {
        throw 'not an error'
      },
    }
    app.use(
      pipeline([throwsString], (error, c) => {
        handled = error
        return c.text('handled', 500)
      }),
    )
    app.get('/', (c) => c.text('ok'))
    const res = await app.request('/')
    expect([res.status, await res.text()]).toEqual([500, 'handled'])
    expect(handled?.message).toBe('A non-Error value was thrown.')
    expect(handled?.cause).toBe('not an error')
  })

  it('answers exactly as the same stages mounted one middleware each (fuzzed)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(specArb, { minLength: 1, maxLength: 6 }),
        fc.constantFrom<'ok' | 'throw'>('ok', 'throw'),
        async (specs, handler) => {
          const combined: string[] = []
          const separate: string[] = []
          const one = appWith((a) => a.use(pipeline(build(specs, combined), onError)), handler, combined)
          const each = appWith(
            (a) => {
              for (const stage of build(specs, separate)) a.use(asMiddleware(stage))
            },
            handler,
            separate,
          )
          expect(await outcome(one, combined)).toEqual(await outcome(each, separate))
        },
      ),
      { numRuns: 300 },
    )
  })
})

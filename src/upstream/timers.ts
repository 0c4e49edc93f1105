/** The forwarder's waiting: a custom fetcher's call raced against the head timeout, and the retry's delay. */

/** `call`, or undefined once the timer calls the function `arm` is given; a call that loses settles unobserved. */
export function raceTimer(call: Promise<Response>, arm: (wake: () => void) => void): Promise<Response | undefined> {
  call.catch(() => {})
  return Promise.race([call, new Promise<undefined>((resolve) => arm(() => resolve(undefined)))])
}

/** A delay between half of `baseMs` and all of it. */
export function jitter(baseMs: number, random: () => number): number {
  return baseMs / 2 + random() * (baseMs / 2)
}

export function sleep(ms: number): Promise<void> {
  return ms <= 0 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms))
}

/** D1 seen through a counter: how many statements a request prepared, batched or executed (0 on the hot path). */
export function countingD1(db: D1Database): { db: D1Database; calls(): number } {
  let calls = 0
  const counted = new Proxy(db, {
    get(target, property, receiver) {
      if (property === 'prepare' || property === 'batch' || property === 'exec') calls++
      const value = Reflect.get(target, property, receiver)
      return typeof value === 'function' ? value.bind(target) : value
    },
  })
  return { db: counted, calls: () => calls }
}

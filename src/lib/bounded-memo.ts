/**
 * A bounded memo for per-isolate results that repeat across requests (the hash of a client's identity, the
 * revocation keys of a token): at most `maxEntries`, the oldest forgotten first, so a flood of distinct inputs
 * cannot grow it. A rejected computation is not remembered.
 */
export function boundedMemo<T>(
  maxEntries: number,
  compute: (input: string) => Promise<T>,
): (input: string) => Promise<T> {
  const entries = new Map<string, Promise<T>>()
  return (input) => {
    const known = entries.get(input)
    if (known !== undefined) return known
    const result = compute(input)
    if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string)
    entries.set(input, result)
    result.catch(() => entries.delete(input))
    return result
  }
}

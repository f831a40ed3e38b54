// Bounded parallelism over a list.

/**
 * Runs `fn` on each item with at most `limit` running at once, in list order; stops starting new items once
 * `stop` aborts (running ones finish). Rejects with the first error `fn` throws.
 */
export async function eachLimited<T>(
  items: readonly T[],
  limit: number,
  fn: (item: T, index: number) => Promise<unknown>,
  stop?: AbortSignal,
): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop?.aborted) {
      const i = next++;
      await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(0, Math.min(limit, items.length)) }, worker));
}

// Waiting. Two behaviours on abort, chosen by the caller: `sleep` ends the wait early and resolves (loops that check
// their own stop signal afterwards), `sleepOrAbort` rejects with the signal's reason (work that must stop there).

/** Resolves after `ms`, or as soon as `signal` aborts (at once when it already has). Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Resolves after `ms`; rejects with the signal's reason as soon as `signal` aborts (at once when it already has). */
export function sleepOrAbort(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const reason = () => signal?.reason ?? new Error("aborted");
    if (signal?.aborted) return reject(reason());
    const onAbort = () => {
      clearTimeout(timer);
      reject(reason());
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

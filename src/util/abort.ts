// Small helpers to make work stop promptly on abort, whether or not the awaited code honours its signal.

export function abortReason(signal: AbortSignal): string {
  const reason = signal.reason;
  if (reason instanceof Error) return reason.message;
  if (reason === undefined) return "aborted";
  return String(reason);
}

/** Rejects with the signal's reason as soon as it aborts; the original promise is left to settle on its own. */
export function raceAbort<T>(work: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) {
    work.catch(() => undefined);
    return Promise.reject(signal.reason ?? new Error("aborted"));
  }
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason ?? new Error("aborted"));
    signal.addEventListener("abort", onAbort, { once: true });
    work.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (err) => {
        signal.removeEventListener("abort", onAbort);
        reject(err);
      },
    );
  });
}

/** A signal that aborts when any of `signals` does; `dispose` detaches it from them. */
export function linkedSignal(
  ...signals: AbortSignal[]
): { controller: AbortController; signal: AbortSignal; dispose(): void } {
  const controller = new AbortController();
  const listeners: Array<[AbortSignal, () => void]> = [];
  for (const s of signals) {
    if (s.aborted) {
      controller.abort(s.reason);
      break;
    }
    const onAbort = () => controller.abort(s.reason);
    s.addEventListener("abort", onAbort, { once: true });
    listeners.push([s, onAbort]);
  }
  return {
    controller,
    signal: controller.signal,
    dispose: () => {
      for (const [s, l] of listeners) s.removeEventListener("abort", l);
    },
  };
}

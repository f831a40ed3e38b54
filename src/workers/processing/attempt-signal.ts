// The abort signal of one task attempt: it aborts on a forced stop, on loss of the message's hold, or when the
// task timeout passes, and tells whether the timeout was the cause.

export interface AttemptSignal {
  signal: AbortSignal;
  readonly timedOut: boolean;
  dispose(): void;
}

export function attemptSignal(stop: AbortSignal, lost: AbortSignal, timeoutSeconds: number): AttemptSignal {
  const controller = new AbortController();
  let timedOut = false;
  const onStop = () => controller.abort(stop.reason);
  const onLost = () => controller.abort(lost.reason);
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort(new Error(`timed out after ${timeoutSeconds} s`));
  }, timeoutSeconds * 1000);
  stop.addEventListener("abort", onStop, { once: true });
  lost.addEventListener("abort", onLost, { once: true });
  if (stop.aborted) onStop();
  if (lost.aborted) onLost();
  return {
    signal: controller.signal,
    get timedOut() {
      return timedOut;
    },
    dispose() {
      clearTimeout(timer);
      stop.removeEventListener("abort", onStop);
      lost.removeEventListener("abort", onLost);
    },
  };
}

// Polling a long-running operation (202 + Operation-Location) until it succeeds, fails or runs out of time. The
// wait between polls starts at the service's Retry-After (or `firstDelayMs`) and grows by half each time up to
// `maxDelayMs`. Polling stops at once when the signal aborts (task timeout or drain): the services have no cancel
// call for analyses, so the operation is left to finish or expire on the service.
import { sleepOrAbort } from "../../util/sleep.ts";
import { AiServiceError, errorDetail } from "./service-error.ts";

export interface PollAnswer<T> {
  /** The operation's status as the service spells it (succeeded, Running, notStarted, …). */
  status: string;
  value: T;
  /** The service's error object when it failed. */
  error?: unknown;
  retryAfterMs?: number;
}

export interface PollOptions<T> {
  poll: () => Promise<PollAnswer<T>>;
  signal: AbortSignal;
  firstDelayMs: number;
  maxDelayMs: number;
  /** Give up after this long (none: only the signal ends it). */
  timeoutMs?: number;
  /** "Document Intelligence analysis", used in messages. */
  what: string;
}

export async function pollUntilDone<T>(options: PollOptions<T>): Promise<{ value: T; polls: number }> {
  const started = Date.now();
  let delay = options.firstDelayMs;
  for (let polls = 1;; polls++) {
    options.signal.throwIfAborted();
    const answer = await options.poll();
    const status = answer.status.toLowerCase();
    if (status === "succeeded") return { value: answer.value, polls };
    if (status === "failed" || status === "canceled" || status === "cancelled") {
      const { code, detail } = errorDetail(answer.error ?? {});
      throw new AiServiceError(`${options.what} ${status}${detail ? `: ${detail}` : ""}`, undefined, code);
    }
    if (status !== "running" && status !== "notstarted") {
      throw new AiServiceError(`${options.what}: unexpected operation status '${answer.status}'`);
    }
    const wait = Math.min(answer.retryAfterMs ?? delay, options.maxDelayMs);
    if (options.timeoutMs !== undefined && Date.now() - started + wait > options.timeoutMs) {
      throw new AiServiceError(
        `${options.what} still ${status} after ${Math.round((Date.now() - started) / 1000)} s ` +
          `(limit ${options.timeoutMs / 1000} s)`,
      );
    }
    await sleepOrAbort(wait, options.signal);
    delay = Math.min(delay * 1.5, options.maxDelayMs);
  }
}

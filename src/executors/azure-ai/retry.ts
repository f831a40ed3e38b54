// Retries for calls to Azure AI services: 408, 429, 500, 502, 503 and 504 answers, network errors and requests that
// got no answer in time are tried again. A Retry-After header (seconds or an HTTP date; retry-after-ms and
// x-ms-retry-after-ms too) sets the wait; otherwise the wait grows exponentially with jitter. Every wait is capped and
// ends at once when the caller's signal aborts. Shared by the SDK pipeline policy (service-pipeline.ts) and the plain
// fetch calls (service-fetch.ts).

export const RETRYABLE_STATUSES: ReadonlySet<number> = new Set([408, 429, 500, 502, 503, 504]);

export interface RetryOptions {
  /** Retries after the first attempt. */
  maxRetries: number;
  /** First wait without Retry-After; grows by `multiplier` per retry. */
  baseDelayMs: number;
  /** No wait is longer than this, whatever Retry-After says. */
  maxDelayMs: number;
  /** Growth of the wait per retry (default 2). */
  multiplier?: number;
}

export const DEFAULT_RETRY: RetryOptions = { maxRetries: 3, baseDelayMs: 1000, maxDelayMs: 60_000 };

/** Milliseconds the service asked us to wait, from retry-after-ms, x-ms-retry-after-ms or Retry-After. */
export function retryAfterMs(
  header: (name: string) => string | null | undefined,
  now = Date.now(),
): number | undefined {
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const value = header(name)?.trim();
    if (value && /^\d+(\.\d+)?$/.test(value)) return Number(value);
  }
  const value = header("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/** The wait before retry number `retry` (0 = the first retry). */
export function retryDelayMs(retry: number, options: RetryOptions, serverAskedMs?: number): number {
  if (serverAskedMs !== undefined) return Math.min(serverAskedMs, options.maxDelayMs);
  const exponential = options.baseDelayMs * (options.multiplier ?? 2) ** retry;
  const withJitter = exponential / 2 + Math.random() * (exponential / 2);
  return Math.min(withJitter, options.maxDelayMs);
}

/** Resolves after `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}

/** One attempt's outcome as the retry loop sees it. */
export type AttemptOutcome<T> =
  | { done: true; value: T }
  | { done: false; value: T; status: number; retryAfterMs?: number }
  | { done: false; error: unknown; retryable: boolean };

/**
 * Runs `attempt` until it is done, not retryable, or out of retries. The last answer (or error) is returned (or
 * thrown) as is, with `attempts` counting the tries made.
 */
export async function withRetries<T>(
  attempt: (n: number) => Promise<AttemptOutcome<T>>,
  options: RetryOptions,
  signal?: AbortSignal,
  onRetry?: (info: { retry: number; delayMs: number; status?: number }) => void,
): Promise<{ value: T; attempts: number }> {
  for (let n = 0;; n++) {
    signal?.throwIfAborted();
    const outcome = await attempt(n);
    if (outcome.done) return { value: outcome.value, attempts: n + 1 };
    const retryable = "error" in outcome ? outcome.retryable : RETRYABLE_STATUSES.has(outcome.status);
    if (!retryable || n >= options.maxRetries || signal?.aborted) {
      if ("error" in outcome) throw withAttempts(outcome.error, n + 1);
      return { value: outcome.value, attempts: n + 1 };
    }
    const asked = "error" in outcome ? undefined : outcome.retryAfterMs;
    const delayMs = retryDelayMs(n, options, asked);
    onRetry?.({ retry: n + 1, delayMs, status: "error" in outcome ? undefined : outcome.status });
    await sleep(delayMs, signal);
  }
}

function withAttempts(err: unknown, attempts: number): unknown {
  if (attempts > 1 && err instanceof Error && !/\(after \d+ attempts\)$/.test(err.message)) {
    err.message = `${err.message} (after ${attempts} attempts)`;
  }
  return err;
}

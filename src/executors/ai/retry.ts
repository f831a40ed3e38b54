// Retries of Azure AI calls: which answers are worth another try, how long to wait (the service's Retry-After when it
// gives one, else capped exponential backoff with jitter), and a loop that stops at once when the task is cancelled.
import { sleepOrAbort } from "../../util/sleep.ts";
import { exponentialDelay, withJitter } from "../../util/backoff.ts";

export interface RetryPolicy {
  /** Further attempts after the first one. */
  maxRetries: number;
  /** Wait before the first retry when the service gives no Retry-After. */
  initialDelayMs: number;
  /** Each further retry waits this many times longer. */
  factor: number;
  /** No wait is longer than this, whatever the service or the backoff says. */
  maxDelayMs: number;
}

/** Statuses that a later attempt may get past: timeouts, throttling and server-side failures. */
export function isRetryableStatus(status: number): boolean {
  return status === 408 || status === 409 || status === 429 || status >= 500;
}

// Calls that start billed work (an analyze POST of Document Intelligence or Content Understanding) must not run twice:
// they are sent again only when the service surely did not take them. What "may have taken" means is here;
// failed-try.ts applies it to a failed try for both HTTP paths (service-fetch.ts for our own REST calls,
// service-pipeline.ts for the SDK clients).

/**
 * Answers after which the service may have accepted the request and started the work: a server error (500), a
 * gateway's failure or time-out (502, 504), a request time-out (408). A billed call is not sent again after them. The
 * service's refusals that start nothing (409, 429, 503) are retried as usual.
 */
export function mayHaveAccepted(status: number): boolean {
  return status === 408 || status === 500 || status === 502 || status === 504;
}

/**
 * Error codes of a connection that never opened (Node's, and Bun's ConnectionRefused and FailedToOpenSocket): the
 * request cannot have reached the service. Errors without a code (Deno's) count as possibly sent.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "ConnectionRefused",
  "FailedToOpenSocket",
]);

/**
 * Whether a failure without an answer may have reached the service: no answer in time, or any error but a
 * connection that never opened (its code, here or in a cause, says so).
 */
export function mayHaveReached(err: unknown, timedOut: boolean): boolean {
  if (timedOut) return true;
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && NOT_SENT_CODES.has(code)) return false;
  }
  return true;
}

/** Added to the message of a billed call that failed and was not sent again. */
export const NOT_SENT_AGAIN = "; not sent again: the service may have accepted it, and a resend could bill it twice";

/**
 * How long the service asked us to wait, from `retry-after-ms` (Azure OpenAI), `x-ms-retry-after-ms` or `Retry-After`
 * (delay in seconds or an HTTP-date). Undefined when absent or unreadable.
 */
export function retryAfterMs(headers: Headers | undefined, now = Date.now()): number | undefined {
  if (!headers) return undefined;
  for (const name of ["retry-after-ms", "x-ms-retry-after-ms"]) {
    const raw = headers.get(name)?.trim();
    if (raw && /^\d+(\.\d+)?$/.test(raw)) return Math.ceil(Number(raw));
  }
  const raw = headers.get("retry-after")?.trim();
  if (!raw) return undefined;
  if (/^\d+(\.\d+)?$/.test(raw)) return Math.ceil(Number(raw) * 1000);
  const date = Date.parse(raw);
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - now);
}

/**
 * The wait before retry number `retry` (0 for the first retry): the service's Retry-After when given, else
 * `initialDelayMs * factor^retry` with up to 20% jitter; never more than `maxDelayMs`.
 */
export function retryDelayMs(
  policy: RetryPolicy,
  retry: number,
  serviceAskedMs?: number,
  random: () => number = Math.random,
): number {
  if (serviceAskedMs !== undefined) return Math.min(serviceAskedMs, policy.maxDelayMs);
  const base = exponentialDelay(policy.initialDelayMs, retry, Infinity, policy.factor);
  return Math.min(Math.round(withJitter(base, 0.8, 0.2, random)), policy.maxDelayMs);
}

/** What the retry loop needs to know about a failure. */
export interface FailureVerdict {
  retryable: boolean;
  /** The service's Retry-After, when it sent one. */
  retryAfterMs?: number;
}

export interface RetryEvent {
  retry: number;
  delayMs: number;
  error: unknown;
}

/**
 * Runs `attempt` until it succeeds, the failure is not retryable, `policy.maxRetries` retries are spent, or `signal`
 * aborts (during an attempt or a wait). The last failure is thrown as it is; `attempts` on the returned/thrown path
 * can be read from the `onRetry` events.
 */
export async function withRetries<T>(
  attempt: (attemptNumber: number) => Promise<T>,
  opts: {
    policy: RetryPolicy;
    signal?: AbortSignal;
    classify: (error: unknown) => FailureVerdict;
    onRetry?: (event: RetryEvent) => void;
  },
): Promise<T> {
  for (let retry = 0;; retry++) {
    opts.signal?.throwIfAborted();
    try {
      return await attempt(retry + 1);
    } catch (error) {
      if (opts.signal?.aborted) throw opts.signal.reason ?? error;
      const verdict = opts.classify(error);
      if (!verdict.retryable || retry >= opts.policy.maxRetries) throw error;
      const delayMs = retryDelayMs(opts.policy, retry, verdict.retryAfterMs);
      opts.onRetry?.({ retry: retry + 1, delayMs, error });
      await sleepOrAbort(delayMs, opts.signal);
    }
  }
}

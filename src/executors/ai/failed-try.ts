// A failed try of an Azure AI call, as both HTTP paths (service-fetch.ts for our own REST calls, service-pipeline.ts
// for the SDK clients) throw it inside their retry loop, and the one rule that decides whether it is tried again.
// A call that starts billed work (an analyze POST) is sent again only when the service surely did not take it
// (retry.ts: mayHaveAccepted, mayHaveReached).
import { type FailureVerdict, mayHaveAccepted, NOT_SENT_AGAIN } from "./retry.ts";
import { AiServiceError } from "./service-error.ts";

/** A try without an answer (connection error, no answer in time) that another try may get past. */
export class TransientFailure extends AiServiceError {
  override name = "AiServiceError";
  /** Whether the request may have reached the service (anything but a connection that never opened). */
  constructor(message: string, readonly maybeSent: boolean) {
    super(message);
  }
}

/**
 * An answer with a retryable status (retry.ts isRetryableStatus), thrown inside the retry loop; `answer` is what
 * the path hands back (or turns into its error) when the retries are spent or the call may not be sent again.
 */
export class RetryableAnswer<T> extends Error {
  override name = "RetryableAnswer";
  constructor(readonly status: number, readonly retryAfterMs: number | undefined, readonly answer: T) {
    super(`HTTP ${status}`);
  }
}

/** True when this retryable answer of a billed call (`runsOnce`) means the service may have taken it. */
export function keptFromResend(failure: RetryableAnswer<unknown>, runsOnce: boolean): boolean {
  return runsOnce && mayHaveAccepted(failure.status);
}

/**
 * Whether a failed try is tried again: a retryable answer (after the service's Retry-After, when it gave one) and a
 * try without an answer are, other errors are not; for a billed call (`runsOnce`), not once the service may have
 * taken it. A try without an answer that is not sent again for that reason says so in its message.
 */
export function classifyFailedTry(err: unknown, runsOnce: boolean): FailureVerdict {
  if (err instanceof RetryableAnswer) {
    return keptFromResend(err, runsOnce) ? { retryable: false } : { retryable: true, retryAfterMs: err.retryAfterMs };
  }
  if (!(err instanceof TransientFailure)) return { retryable: false };
  if (runsOnce && err.maybeSent) {
    err.message += NOT_SENT_AGAIN;
    return { retryable: false };
  }
  return { retryable: true };
}

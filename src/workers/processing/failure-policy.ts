// What the processing worker does with a message, as pure decisions: before running a task (already done? delivered
// too often?) and after an attempt failed (abandon, interrupted, fail and poison, or retry later). No I/O here;
// handle-task.ts carries the actions out.

/** The state of a delivery before its task runs. */
export interface DeliveryCheck {
  /** Status of the execution record, if there is one. */
  recordStatus?: string;
  /** This delivery's number (the message's dequeue count, 1 on the first). */
  delivery: number;
  /** MAX_TASK_RETRIES: the most deliveries a task gets. */
  maxDeliveries: number;
  /** The message is a re-drive (poison requeue) that a later re-drive of the same execution replaced. */
  supersededByRedrive?: boolean;
}

export type DeliveryAction =
  /** The execution already completed: delete the message without running the task again. */
  | { kind: "acknowledge-duplicate" }
  /** A later re-drive of the execution replaced this message: delete it without running. */
  | { kind: "acknowledge-superseded" }
  /** Delivered more often than allowed (a task that crashes its worker never reaches the failure path). */
  | { kind: "fail"; reason: string }
  | { kind: "run" };

export function decideDelivery(check: DeliveryCheck): DeliveryAction {
  if (check.recordStatus === "completed") return { kind: "acknowledge-duplicate" };
  if (check.supersededByRedrive) return { kind: "acknowledge-superseded" };
  if (check.delivery > check.maxDeliveries) {
    return {
      kind: "fail",
      reason: `delivered ${check.delivery} times, more than MAX_TASK_RETRIES=${check.maxDeliveries}`,
    };
  }
  return { kind: "run" };
}

/** A failed attempt, described by what the worker knows when it ends. */
export interface FailedAttempt {
  /** The error as text (stored in the execution record and the poison record). */
  error: string;
  /** The message's lease was lost: another delivery may own the task now. */
  leaseLost: boolean;
  /** The worker is being stopped (drain budget spent); the consumer already made the message visible again. */
  stopping: boolean;
  /** Retrying cannot help (missing pipeline, invalid claim-check blob, malformed execution record, …). */
  permanent: boolean;
  /** The attempt failed because Cosmos DB was unreachable (its record cannot be written either). */
  storeUnavailable: boolean;
  /** The task itself is known (decoded, claim-check resolved), so its record can be updated. */
  taskKnown: boolean;
  /** This delivery's number (dequeue count). */
  delivery: number;
  /** MAX_TASK_RETRIES. */
  maxDeliveries: number;
  /** Visibility delay a retry would get (computed by the caller; it has jitter). */
  retryDelaySeconds: number;
}

export type FailureAction =
  /** Leave the message and the record alone: the lease is gone and another delivery owns the task. */
  | { kind: "abandon" }
  /** Forced shutdown: mark the record interrupted (when the task is known); the message is already queued again. */
  | { kind: "interrupted"; recordInterruption: boolean }
  /** Final: mark the execution failed with `reason` and move the message to the poison queue. */
  | { kind: "fail"; reason: string }
  /** Make the message visible again after `delaySeconds`; note the failed attempt in the record when asked. */
  | { kind: "retry"; delaySeconds: number; recordAttempt: boolean };

/**
 * The decision table, first match wins:
 * lease lost → abandon; stopping and not permanent → interrupted; permanent or last allowed delivery → fail and
 * poison; otherwise → retry after the delay (the record notes the attempt unless Cosmos is what failed).
 */
export function decideFailure(attempt: FailedAttempt): FailureAction {
  if (attempt.leaseLost) return { kind: "abandon" };
  if (attempt.stopping && !attempt.permanent) return { kind: "interrupted", recordInterruption: attempt.taskKnown };
  if (attempt.permanent) return { kind: "fail", reason: attempt.error };
  if (attempt.delivery >= attempt.maxDeliveries) {
    return {
      kind: "fail",
      reason: `failed on delivery ${attempt.delivery} of ${attempt.maxDeliveries} (MAX_TASK_RETRIES): ${attempt.error}`,
    };
  }
  return {
    kind: "retry",
    delaySeconds: attempt.retryDelaySeconds,
    recordAttempt: attempt.taskKnown && !attempt.storeUnavailable,
  };
}

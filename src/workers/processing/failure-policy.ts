// What the processing worker does with a message, as pure decisions: before running a task (already done? budget
// spent? delivered absurdly often?) and after an attempt failed (abandon, interrupted, fail and poison, count the
// failed run, or retry later without counting). No I/O here; handle-task.ts carries the actions out.
//
// The retry budget (MAX_TASK_RETRIES) counts failed runs of the task, kept in its execution record
// (`task_failures`, see store/executions.ts): a pipeline error or timeout. Deliveries spent on infrastructure — a
// Cosmos or storage outage, a drain that released the message, a lost hold — are not failures of the task and
// never poison it. Nor is a run whose worker stopped under it (the next delivery finds the record still running):
// the supervisor kills a hung worker with every task in it, and a crash takes them all, so such a run is counted
// apart (`interruptions`, runs in a row that never ended). A task with an interruption runs alone in its worker
// (run-gate.ts), so a further kill while it runs is its own doing; after MAX_INTERRUPTIONS in a row it is set
// aside. The queue's dequeue count is only a safety net far above the budget, for a message that can never get as
// far as its record.
import type { ExecutionDoc } from "../../model/documents.ts";
import { type StartVerdict, unfinishedRun } from "../../store/executions.ts";

/** Runs in a row whose worker stopped under them (killed as hung, crashed) before a task is set aside. The first
 * may be any task's fault; from then on the task runs alone in its worker, so the others are its own. */
export const MAX_INTERRUPTIONS = 3;

/** Deliveries after which a task that never finishes is poisoned anyway: ten times its budget. */
export function deliveryCap(maxFailures: number): number {
  return 10 * maxFailures;
}

/** The state of a delivery before its task runs. */
export interface DeliveryCheck {
  /** Status of the execution record, if there is one. */
  recordStatus?: string;
  /** Failed runs the record counts (task_failures). */
  recordFailures?: number;
  /** Runs in a row the record counts as never ended (interruptions). */
  recordInterruptions?: number;
  /** This delivery's number (the message's dequeue count, 1 on the first). */
  delivery: number;
  /** MAX_TASK_RETRIES: the failed runs a task may have. */
  maxFailures: number;
  /** The message is a re-drive (poison requeue) that a later re-drive of the same execution replaced. */
  supersededByRedrive?: boolean;
}

export type DeliveryAction =
  /** The execution already completed: delete the message without running the task again. */
  | { kind: "acknowledge-duplicate" }
  /** A later re-drive of the execution replaced this message: delete it without running. */
  | { kind: "acknowledge-superseded" }
  /** Do not run: poison the message; `markRecord` false when the record already is failed for good. */
  | { kind: "fail"; reason: string; markRecord: boolean }
  | { kind: "run" };

export function decideDelivery(check: DeliveryCheck): DeliveryAction {
  if (check.recordStatus === "completed") return { kind: "acknowledge-duplicate" };
  if (check.supersededByRedrive) return { kind: "acknowledge-superseded" };
  const failures = check.recordFailures ?? 0;
  if (check.recordStatus === "failed" && failures >= check.maxFailures) {
    // The final failure was recorded, but moving the message to the poison queue did not happen.
    return {
      kind: "fail",
      reason: `failed ${failures} time(s) already (MAX_TASK_RETRIES=${check.maxFailures}); not run again`,
      markRecord: false,
    };
  }
  if (check.recordStatus === "failed" && (check.recordInterruptions ?? 0) >= MAX_INTERRUPTIONS) {
    return {
      kind: "fail",
      reason: `its worker stopped under it ${check.recordInterruptions} times in a row; not run again`,
      markRecord: false,
    };
  }
  const cap = deliveryCap(check.maxFailures);
  if (check.delivery > cap) {
    return {
      kind: "fail",
      reason: `delivered ${check.delivery} times without finishing (safety limit ${cap}: 10 × MAX_TASK_RETRIES)`,
      markRecord: true,
    };
  }
  return { kind: "run" };
}

/** A failed attempt, described by what the worker knows when it ends. */
export interface FailedAttempt {
  /** The error as text (stored in the execution record and the poison record). */
  error: string;
  /** The message's hold was lost or given up: another delivery may own the task now. */
  holdLost: boolean;
  /** The worker is being stopped (drain budget spent); the consumer already made the message visible again. */
  stopping: boolean;
  /** Retrying cannot help (missing pipeline, invalid claim-check blob, malformed execution record, …). */
  permanent: boolean;
  /** The task's own run failed: its pipeline reported an error or it timed out. */
  taskFailure: boolean;
  /** The attempt failed because Cosmos DB was unreachable (its record cannot be written either). */
  storeUnavailable: boolean;
  /** This delivery set the execution record running (so it is the one to move it on). */
  begun: boolean;
  /** Visibility delay a retry would get (computed by the caller; it has jitter). */
  retryDelaySeconds: number;
}

export type FailureAction =
  /** Leave the message alone: the hold is gone and another delivery owns the task. `releaseRecord`: set this
   * delivery's running record back to pending (Cosmos permitting), so the next one does not count a dead run. */
  | { kind: "abandon"; releaseRecord: boolean }
  /** Forced shutdown: mark the record interrupted (when this delivery began it); the message is already queued. */
  | { kind: "interrupted"; recordInterruption: boolean }
  /** Final: mark the execution failed with `reason` and move the message to the poison queue. */
  | { kind: "fail"; reason: string }
  /** The run failed: count it in the record (final once the budget is spent: then fail and poison), else retry. */
  | { kind: "count-failure"; delaySeconds: number }
  /** Not the task's fault: make the message visible again after the delay without counting anything; a running
   * record of this delivery goes back to pending when Cosmos can be written. */
  | { kind: "retry"; delaySeconds: number; releaseRecord: boolean };

/**
 * The decision table, first match wins:
 * hold lost → abandon; stopping and not permanent → interrupted; permanent → fail and poison; the task's own run
 * failed → count the failure; anything else (an outage, a storage error) → retry later, not counted.
 */
export function decideFailure(attempt: FailedAttempt): FailureAction {
  const releaseRecord = attempt.begun && !attempt.storeUnavailable;
  if (attempt.holdLost) return { kind: "abandon", releaseRecord };
  if (attempt.stopping && !attempt.permanent) return { kind: "interrupted", recordInterruption: attempt.begun };
  if (attempt.permanent) return { kind: "fail", reason: attempt.error };
  if (attempt.taskFailure) return { kind: "count-failure", delaySeconds: attempt.retryDelaySeconds };
  return { kind: "retry", delaySeconds: attempt.retryDelaySeconds, releaseRecord };
}

/** The record as far as a start decision reads it. */
export type StartRecord = Pick<ExecutionDoc, "status" | "attempt" | "task_failures" | "interruptions" | "error">;

/**
 * Before a delivery runs its task (the record is not completed): a record still running for another delivery is a
 * run that never ended — an interruption, not a failure. Set aside once the failed runs reach `maxFailures`
 * (MAX_TASK_RETRIES) or the interruptions in a row reach MAX_INTERRUPTIONS; else start with the new counts.
 */
export function decideStart(record: StartRecord, attempt: number, maxFailures: number): StartVerdict {
  const unfinished = unfinishedRun(record, attempt);
  const failures = record.task_failures ?? 0;
  const interruptions = (record.interruptions ?? 0) + (unfinished ? 1 : 0);
  // A record already failed for good needs no second write (the poison move after it did not happen).
  const write = !(record.status === "failed" && !unfinished);
  if (failures >= maxFailures) {
    const reason = record.status === "failed" && record.error && !unfinished
      ? record.error
      : `failed ${failures} time(s) (MAX_TASK_RETRIES=${maxFailures})`;
    return { kind: "exhausted", reason, failures, interruptions, write };
  }
  if (interruptions >= MAX_INTERRUPTIONS) {
    const reason = record.status === "failed" && record.error && !unfinished
      ? record.error
      : `its worker stopped under it ${interruptions} times in a row (killed as hung, crashed or lost; ` +
        `from the second on it ran alone in its worker), so it is likely the cause; set aside`;
    return { kind: "exhausted", reason, failures, interruptions, write };
  }
  return { kind: "start", failures, interruptions };
}

/** A task whose last run never ended (or whose record counts such runs) runs alone in its worker: see run-gate.ts. */
export function runsAlone(
  record: Pick<ExecutionDoc, "status" | "attempt" | "interruptions"> | undefined,
  attempt: number,
): boolean {
  if (!record) return false;
  return (record.interruptions ?? 0) > 0 || unfinishedRun(record, attempt);
}

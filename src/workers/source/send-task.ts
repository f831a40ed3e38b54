// Queueing one planned task, the same way for the source worker's crawl and the `enqueue` command: the pending
// execution record is written first, then the message is sent; when the send fails the record is marked failed
// (etag-checked, so a record a processing worker already took is left alone) instead of staying pending for ever.
import type { Container } from "@azure/cosmos";
import { errorSummary } from "../../util/errors.ts";
import { createPendingExecution, markExecutionFailed } from "../../store/execution-records.ts";
import { claimCheckBlobName, type PlannedTask, type SendResult, type TaskSender } from "../../queue/sender.ts";

export interface SendTaskDeps {
  /** The vault_executions container. */
  executions: Container;
  sender: TaskSender;
  /** Written as created_by / source_worker_id of the record. */
  workerId: string;
  /** CLAIM_CHECK_CONTAINER_NAME, recorded for a task that goes to a claim-check blob. */
  claimCheckContainer: string;
}

/** What became of the record after a failed send. */
export type MarkedState = "marked failed" | "not marked failed: it is no longer pending" | "could not be marked failed";

/** "marked failed", or why not. */
export function markedText(marked: { state: MarkedState; error?: unknown }): string {
  return marked.error ? `${marked.state}: ${errorSummary(marked.error)}` : marked.state;
}

/** The task was not queued: its record could not be written, or its message could not be sent. */
export class SendTaskError extends Error {
  constructor(
    message: string,
    readonly step: "record" | "send",
    readonly executionId: string,
    /** The cause in one line. */
    readonly detail: string,
    /** After a failed send: the record's state, and the error when marking it failed did not work. */
    readonly marked?: { state: MarkedState; error?: unknown },
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "SendTaskError";
  }
}

/** Writes the pending record of `planned`, then sends it; throws SendTaskError when the task is not queued. */
export async function sendTaskWithRecord(deps: SendTaskDeps, planned: PlannedTask): Promise<SendResult> {
  const executionId = planned.message.payload.execution_id;
  const claimCheck = planned.claimCheck
    ? { container: deps.claimCheckContainer, blob: claimCheckBlobName(planned.message) }
    : undefined;
  let ref;
  try {
    ref = await createPendingExecution(deps.executions, planned.message, { workerId: deps.workerId, claimCheck });
  } catch (err) {
    const detail = errorSummary(err);
    const message = `cannot create execution record '${executionId}': ${detail}`;
    throw new SendTaskError(message, "record", executionId, detail, undefined, { cause: err });
  }
  try {
    return await deps.sender.send(planned);
  } catch (err) {
    const detail = errorSummary(err);
    const reason = `failed to send the task to queue '${deps.sender.queueName}': ${detail}`;
    let marked: { state: MarkedState; error?: unknown };
    try {
      marked = (await markExecutionFailed(deps.executions, ref, reason))
        ? { state: "marked failed" }
        : { state: "not marked failed: it is no longer pending" };
    } catch (markErr) {
      marked = { state: "could not be marked failed", error: markErr };
    }
    const message = `${reason} (execution ${executionId} ${markedText(marked)})`;
    throw new SendTaskError(message, "send", executionId, detail, marked, { cause: err });
  }
}

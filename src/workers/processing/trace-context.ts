// The trace a task message continues: the W3C traceparent its sender put in the envelope (or claim-check
// pointer), and what its span says about the task before it runs (task, execution, pipeline, vault), read only
// when telemetry is on.
import { decodeMessage } from "../../queue/decode.ts";
import { parseTraceparent } from "../../telemetry/traceparent.ts";
import { taskIdentityAttributes } from "../../telemetry/task-span.ts";
import type { SpanAttributes } from "../../telemetry/types.ts";

/** The valid traceparent a task message carries, if any. */
export function messageTraceparent(text: string): string | undefined {
  return taskTraceContext(text).traceparent;
}

/**
 * A task message's traceparent and its task's ids as span attributes (a claim-check pointer names the task and
 * execution only; the pipeline is added once the blob is read).
 */
export function taskTraceContext(text: string): { traceparent?: string; attributes: SpanAttributes } {
  const decoded = decodeMessage(text);
  if (decoded.kind === "invalid") {
    return { attributes: { "contentflow.task_id": decoded.taskId, "contentflow.execution_id": decoded.executionId } };
  }
  const value = decoded.message.traceparent;
  const traceparent = parseTraceparent(value) ? value : undefined;
  const attributes = decoded.kind === "task"
    ? taskIdentityAttributes(decoded.message.payload)
    : taskIdentityAttributes(decoded.message.claim_check);
  return { traceparent, attributes };
}

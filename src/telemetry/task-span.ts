// Attributes of the span around one task message, from what the queue says about it.

import type { SpanAttributes } from "./types.ts";

export interface QueuedMessage {
  id: string;
  dequeueCount: number;
  insertedOn?: Date;
}

/** Message id, attempt (the queue's dequeue count) and queue wait: enqueue → receive, in milliseconds. */
export function taskSpanAttributes(message: QueuedMessage, receivedAt: number): SpanAttributes {
  const inserted = message.insertedOn?.getTime();
  return {
    "messaging.system": "azure_storage_queue",
    "messaging.message.id": message.id,
    "contentflow.attempt": message.dequeueCount,
    "contentflow.queue_wait_ms": inserted !== undefined && Number.isFinite(inserted)
      ? Math.max(0, receivedAt - inserted)
      : undefined,
  };
}

/**
 * A task's outcome, from the counter the processing worker counts when the task ends (handle-task.ts): the task
 * span's contentflow.outcome, and whether the span is marked failed. Read where the counters are recorded, so the
 * task code needs no telemetry calls of its own for it; the last one counted wins (failed, then retried or poisoned).
 */
export const TASK_OUTCOMES: Readonly<Record<string, { outcome: string; failed: boolean }>> = {
  tasks_processed_total: { outcome: "completed", failed: false },
  tasks_failed_total: { outcome: "failed", failed: true },
  tasks_retried_total: { outcome: "retried", failed: false },
  tasks_poisoned_total: { outcome: "poisoned", failed: true },
  tasks_skipped_duplicate_total: { outcome: "duplicate", failed: false },
  tasks_superseded_total: { outcome: "superseded", failed: false },
  tasks_abandoned_total: { outcome: "abandoned", failed: false },
};

/** Identity of a task for its span: task, execution, pipeline (id and name) and vault. */
export function taskIdentityAttributes(task: {
  task_id?: string;
  execution_id?: string;
  pipeline_id?: string;
  pipeline_name?: string | null;
  vault_id?: string | null;
}): SpanAttributes {
  return {
    "contentflow.task_id": task.task_id,
    "contentflow.execution_id": task.execution_id,
    "contentflow.pipeline_id": task.pipeline_id,
    "contentflow.pipeline_name": task.pipeline_name || undefined,
    "contentflow.vault_id": task.vault_id ?? undefined,
  };
}

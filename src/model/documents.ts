// Cosmos documents written by the ContentFlow API (pipelines, vaults) and by the workers (executions).
// Validated when read: a malformed document is reported precisely instead of failing somewhere downstream.
import * as v from "valibot";

export const PipelineDocSchema = v.looseObject({
  id: v.string(),
  name: v.optional(v.string(), ""),
  yaml: v.pipe(v.string("pipeline.yaml must be a string"), v.minLength(1, "pipeline.yaml is empty")),
  enabled: v.optional(v.nullable(v.boolean()), true),
  _etag: v.optional(v.string()),
});
export type PipelineDoc = v.InferOutput<typeof PipelineDocSchema>;

export const VaultDocSchema = v.looseObject({
  id: v.string(),
  name: v.optional(v.nullable(v.string())),
  pipeline_id: v.string(),
  pipeline_name: v.optional(v.nullable(v.string())),
  save_execution_output: v.optional(v.nullable(v.boolean()), false),
  enabled: v.optional(v.nullable(v.boolean()), true),
  _etag: v.optional(v.string()),
});
export type VaultDoc = v.InferOutput<typeof VaultDocSchema>;

export const EXECUTION_STATUSES = ["pending", "running", "completed", "failed"] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export const ExecutionDocSchema = v.looseObject({
  id: v.string(),
  pipeline_id: v.optional(v.nullable(v.string())),
  pipeline_name: v.optional(v.nullable(v.string())),
  vault_id: v.optional(v.nullable(v.string())),
  status: v.picklist(EXECUTION_STATUSES),
  status_message: v.optional(v.nullable(v.string())),
  task_id: v.optional(v.nullable(v.string())),
  source_worker_id: v.optional(v.nullable(v.string())),
  processing_worker_id: v.optional(v.nullable(v.string())),
  /** The delivery (the message's dequeue count) whose run the record describes; with processing_worker_id it names
   * the one run allowed to finish the record. */
  attempt: v.optional(v.nullable(v.number())),
  /** Runs of the task that failed (an error or a timeout): the retry budget. */
  task_failures: v.optional(v.nullable(v.number())),
  /** Runs in a row that never ended because their worker stopped (killed as hung, crashed, lost): not failures;
   * the task is set aside after a few (workers/processing/failure-policy.ts). Ours; the Python worker has none. */
  interruptions: v.optional(v.nullable(v.number())),
  content: v.optional(v.nullable(v.array(v.unknown()))),
  number_of_items: v.optional(v.nullable(v.number())),
  created_at: v.optional(v.nullable(v.string())),
  created_by: v.optional(v.nullable(v.string())),
  updated_at: v.optional(v.nullable(v.string())),
  started_at: v.optional(v.nullable(v.string())),
  completed_at: v.optional(v.nullable(v.string())),
  error: v.optional(v.nullable(v.string())),
  executor_outputs: v.optional(v.nullable(v.record(v.string(), v.unknown()))),
  events: v.optional(v.nullable(v.array(v.unknown()))),
  _etag: v.optional(v.string()),
});
export type ExecutionDoc = v.InferOutput<typeof ExecutionDocSchema>;

/** `exec_<12 hex>` / `task_<12 hex>` as the Python source worker generates them. */
export function newId(prefix: "exec" | "task"): string {
  return `${prefix}_${crypto.randomUUID().replace(/-/g, "").slice(0, 12)}`;
}

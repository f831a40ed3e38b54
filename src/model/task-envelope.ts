// The queue message contract shared with the Python worker and the ContentFlow API:
// {"task_type":"content_processing","payload":{ContentProcessingTask}}; the payload may also take the README's shape
// (`content_id` + `content_data`, one content item), and decode.ts reads a bare task (the payload alone) too.
// Read: plain JSON or base64 JSON (Azure Functions writes base64). Write: plain JSON (what the Python source
// worker writes), or a claim-check envelope when the payload would not fit in one message.
import * as v from "valibot";
import { type Content, ContentSchema, nowIso } from "./content.ts";
import { newId } from "./documents.ts";

export const PRIORITIES = ["low", "normal", "high", "critical"] as const;
export type Priority = (typeof PRIORITIES)[number];

export const ContentProcessingTaskSchema = v.looseObject({
  task_id: v.pipe(v.string(), v.minLength(1, "payload.task_id must not be empty")),
  task_type: v.optional(v.literal("content_processing"), "content_processing"),
  priority: v.optional(v.picklist(PRIORITIES, "payload.priority must be low, normal, high or critical"), "normal"),
  pipeline_id: v.pipe(v.string(), v.minLength(1, "payload.pipeline_id must not be empty")),
  pipeline_name: v.optional(v.string(), ""),
  execution_id: v.pipe(v.string(), v.minLength(1, "payload.execution_id must not be empty")),
  vault_id: v.optional(v.nullable(v.string())),
  content: v.array(ContentSchema),
  executed_input_executor: v.optional(v.nullable(v.string())),
  created_at: v.optional(v.string()),
  retry_count: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 0),
  max_retries: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0)), 3),
  /** Set by our source worker: fencing epoch of the lease under which the task was created. */
  lease_epoch: v.optional(v.number()),
  /** Set by `poison requeue`: the task runs only while its execution record names this re-drive. */
  redrive_id: v.optional(v.string()),
});

export type ContentProcessingTask = v.InferOutput<typeof ContentProcessingTaskSchema>;

function isPlainObject(x: unknown): x is Record<string, unknown> {
  return typeof x === "object" && x !== null && !Array.isArray(x);
}

/**
 * The task shape both versions of the ContentFlow worker README document (and a client written from them sends):
 * `content_id` and `content_data` instead of `content`. The Python worker's model refuses it ("content: Field
 * required"); we read it as one content item.
 */
function isReadmeTaskShape(payload: unknown): payload is Record<string, unknown> {
  return isPlainObject(payload) && payload.content === undefined && payload.content_id !== undefined;
}

function readmeShapeValid(payload: unknown): boolean {
  if (!isReadmeTaskShape(payload)) return true;
  const { content_id, content_data } = payload;
  const idOk = (typeof content_id === "string" && content_id.trim() !== "") || typeof content_id === "number";
  return idOk && (content_data === undefined || content_data === null || isPlainObject(content_data));
}

/**
 * A README-shaped task as the task with one content item: `content_id` → its id (canonical and unique), and
 * `content_data` → its data. Any other payload is returned as it is.
 */
export function fromReadmeTaskShape(payload: unknown): unknown {
  if (!isReadmeTaskShape(payload)) return payload;
  const { content_id, content_data, ...rest } = payload;
  const id = String(content_id);
  return {
    ...rest,
    content: [{
      id: { canonical_id: id, unique_id: id },
      data: content_data ?? {},
      summary_data: {},
      executor_logs: [],
    }],
  };
}

/** A task payload as written by the Python worker, by us, or in the README's `content_id` shape. */
export const TaskPayloadSchema = v.pipe(
  v.unknown(),
  v.check(
    readmeShapeValid,
    "payload.content_id must be a non-empty string and payload.content_data an object (the README task shape)",
  ),
  v.transform(fromReadmeTaskShape),
  ContentProcessingTaskSchema,
);

/**
 * W3C trace context of the span that sent the message (ours, when telemetry is on), so one trace covers discovery
 * and processing. Optional; the Python worker's pydantic models ignore unknown fields. A malformed value is
 * dropped, never a reason to refuse the task.
 */
const TraceparentField = v.fallback(v.optional(v.pipe(v.string(), v.maxLength(64))), undefined);

export const TaskMessageSchema = v.object({
  task_type: v.literal("content_processing"),
  payload: TaskPayloadSchema,
  traceparent: TraceparentField,
});
export type TaskMessage = v.InferOutput<typeof TaskMessageSchema>;

/** A payload stored in a blob because it exceeded the queue's 64 KiB limit. */
export const ClaimCheckMessageSchema = v.object({
  task_type: v.literal("content_processing"),
  claim_check: v.object({
    container: v.string(),
    blob: v.string(),
    task_id: v.string(),
    execution_id: v.string(),
    /** As payload.redrive_id, for a re-driven claim-check task. */
    redrive_id: v.optional(v.string()),
  }),
  traceparent: TraceparentField,
});
export type ClaimCheckMessage = v.InferOutput<typeof ClaimCheckMessageSchema>;

/** Azure Storage Queue limit for a message body (UTF-8 bytes as sent). */
export const QUEUE_MESSAGE_LIMIT_BYTES = 64 * 1024;

/** What a new task is about; the ids and creation time are generated unless given. */
export interface TaskSpec {
  pipelineId: string;
  pipelineName: string;
  vaultId: string | null;
  items: Content[];
  /** The executor the processing worker leaves out (the source's input executor), or null to run them all. */
  executedInputExecutor: string | null;
  /** MAX_TASK_RETRIES of the writer, as the Python worker records it. */
  maxRetries: number;
  priority?: Priority;
  /** Fencing epoch of the source's crawl lease (our source worker only). */
  leaseEpoch?: number;
  createdAt?: string;
  taskId?: string;
  executionId?: string;
}

/** The task message for `spec`, as the Python source worker writes it (the one builder of task messages). */
export function buildTaskMessage(spec: TaskSpec): TaskMessage {
  return {
    task_type: "content_processing",
    payload: {
      task_id: spec.taskId ?? newId("task"),
      task_type: "content_processing",
      priority: spec.priority ?? "normal",
      pipeline_id: spec.pipelineId,
      pipeline_name: spec.pipelineName,
      execution_id: spec.executionId ?? newId("exec"),
      vault_id: spec.vaultId,
      content: spec.items,
      executed_input_executor: spec.executedInputExecutor,
      created_at: spec.createdAt ?? nowIso(),
      retry_count: 0,
      max_retries: spec.maxRetries,
      ...(spec.leaseEpoch !== undefined ? { lease_epoch: spec.leaseEpoch } : {}),
    },
  };
}

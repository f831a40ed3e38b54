// Records written to the poison queue: the original message text and why it was taken out of the task queue.
// A record must fit in one queue message; when the original text does not fit next to the metadata, the text goes
// to a blob and the record names it (never silently cut).
import * as v from "valibot";
import { QUEUE_MESSAGE_LIMIT_BYTES } from "../model/task-envelope.ts";
import { queueTextBytes } from "./sender.ts";
import { redactText } from "../util/redact.ts";

export const PoisonRecordSchema = v.object({
  /** The original message text, exactly as received (unless `message_blob` is set). */
  message: v.string(),
  reason: v.string(),
  dequeue_count: v.number(),
  worker_id: v.string(),
  time: v.string(),
  /** The task queue the message came from. */
  queue: v.string(),
  message_id: v.string(),
  inserted_on: v.optional(v.string()),
  task_id: v.optional(v.string()),
  execution_id: v.optional(v.string()),
  /** Where the full original text was stored when it did not fit in the record; `message` is then its start. */
  message_blob: v.optional(v.object({ container: v.string(), blob: v.string() })),
  message_truncated: v.optional(v.boolean()),
});
export type PoisonRecord = v.InferOutput<typeof PoisonRecordSchema>;

export interface PoisonInput {
  text: string;
  reason: string;
  dequeueCount: number;
  workerId: string;
  queue: string;
  messageId: string;
  insertedOn?: Date;
  taskId?: string;
  executionId?: string;
}

const MAX_REASON_CHARS = 4000;

export function poisonRecord(input: PoisonInput): PoisonRecord {
  // The reason quotes errors, which may carry keys or signed URLs. The message is kept as it was queued (it is what
  // an operator re-sends).
  const reason = redactText(input.reason);
  return {
    message: input.text,
    reason: reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason,
    dequeue_count: input.dequeueCount,
    worker_id: input.workerId,
    time: new Date().toISOString(),
    queue: input.queue,
    message_id: input.messageId,
    ...(input.insertedOn ? { inserted_on: input.insertedOn.toISOString() } : {}),
    ...(input.taskId ? { task_id: input.taskId } : {}),
    ...(input.executionId ? { execution_id: input.executionId } : {}),
  };
}

export function fitsInQueueMessage(record: PoisonRecord): boolean {
  return queueTextBytes(JSON.stringify(record)) <= QUEUE_MESSAGE_LIMIT_BYTES;
}

/** The record with `message` replaced by its first characters, for when the full text lives elsewhere (or nowhere). */
export function withMessagePrefix(record: PoisonRecord, extra: Partial<PoisonRecord>): PoisonRecord {
  let keep = 8192;
  for (;;) {
    const out = { ...record, ...extra, message: record.message.slice(0, keep), message_truncated: true };
    if (fitsInQueueMessage(out) || keep === 0) return out;
    keep = Math.floor(keep / 2);
  }
}

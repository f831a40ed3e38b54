// Execution records (vault_executions) written from the source side: `pending` for a queued batch (created
// BEFORE its message is sent), `failed` when a crawl cannot run. Field names follow the ContentFlow API model
// (the ContentFlow API's vault execution document); the processing worker later updates pending records with If-Match.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import type { TaskMessage } from "../model/task-envelope.ts";
import { nowIso } from "../model/content.ts";
import { cosmosStatus } from "./cosmos.ts";
import { redactText } from "../util/redact.ts";
import { type ExecutionDoc, ExecutionDocSchema, newId } from "../model/documents.ts";
import { readDoc } from "./read-doc.ts";

export const FAILED_STATUS_MESSAGE = "Execution failed. View error for details.";

export interface RecordRef {
  id: string;
  etag: string;
}

export interface PendingRecordOptions {
  workerId: string;
  /** Set when the payload went to a claim-check blob instead of the message. */
  claimCheck?: { container: string; blob: string };
}

/** The pending record for a task message. `content` holds the items' identifiers only (not their data). */
export function pendingExecutionDoc(message: TaskMessage, opts: PendingRecordOptions): ExecutionDoc {
  const task = message.payload;
  const n = task.content.length;
  return v.parse(ExecutionDocSchema, {
    id: task.execution_id,
    pipeline_id: task.pipeline_id,
    pipeline_name: task.pipeline_name,
    vault_id: task.vault_id ?? null,
    status: "pending",
    status_message: `Task queued for processing with input content of size ${n}`,
    task_id: task.task_id,
    source_worker_id: opts.workerId,
    content: task.content.map((c) => c.id),
    number_of_items: n,
    created_at: task.created_at ?? nowIso(),
    created_by: opts.workerId,
    updated_at: task.created_at ?? nowIso(),
    started_at: null,
    completed_at: null,
    error: null,
    executor_outputs: {},
    events: [],
    executed_input_executor: task.executed_input_executor ?? null,
    lease_epoch: task.lease_epoch ?? null,
    ...(opts.claimCheck ? { claim_check: opts.claimCheck } : {}),
  });
}

export async function createPendingExecution(
  container: Container,
  message: TaskMessage,
  opts: PendingRecordOptions,
): Promise<RecordRef> {
  const doc = pendingExecutionDoc(message, opts);
  const { resource } = await container.items.create(doc);
  return { id: doc.id, etag: resource?._etag ?? "" };
}

/**
 * Marks a pending record failed (its message never reached the queue). Conditional on the etag from creation: if
 * the record changed in any way since (a processing worker took the task after all — the send may have succeeded
 * without our hearing it — and perhaps set it back to pending for a retry), it is left alone and false returned.
 */
export async function markExecutionFailed(container: Container, ref: RecordRef, error: string): Promise<boolean> {
  const current = await readExecution(container, ref.id);
  if (!current || current.status !== "pending" || (current._etag && current._etag !== ref.etag)) return false;
  const at = nowIso();
  const { _etag: _e, ...rest } = current;
  try {
    await container.item(ref.id, ref.id).replace(
      {
        ...stripSystem(rest),
        status: "failed",
        status_message: FAILED_STATUS_MESSAGE,
        error: redactText(error),
        updated_at: at,
        completed_at: at,
      },
      { accessCondition: { type: "IfMatch", condition: ref.etag } },
    );
    return true;
  } catch (err) {
    if (cosmosStatus(err) === 412) return false;
    throw err;
  }
}

export interface FailureOrigin {
  pipelineId: string | null;
  pipelineName: string | null;
  vaultId: string;
  workerId: string;
  executorId?: string | null;
}

/** A `failed` record for a crawl that could not run (no task, no content). */
export async function createFailedExecution(
  container: Container,
  origin: FailureOrigin,
  error: string,
): Promise<RecordRef> {
  const at = nowIso();
  const doc = v.parse(ExecutionDocSchema, {
    id: newId("exec"),
    pipeline_id: origin.pipelineId,
    pipeline_name: origin.pipelineName,
    vault_id: origin.vaultId,
    status: "failed",
    status_message: FAILED_STATUS_MESSAGE,
    task_id: null,
    source_worker_id: origin.workerId,
    content: null,
    number_of_items: null,
    created_at: at,
    created_by: origin.workerId,
    updated_at: at,
    started_at: at,
    completed_at: at,
    error: redactText(error),
    executor_outputs: {},
    events: [],
    executed_input_executor: origin.executorId ?? null,
    occurrences: 1,
    last_occurred_at: at,
  });
  const { resource } = await container.items.create(doc);
  return { id: doc.id, etag: resource?._etag ?? "" };
}

/** The same failure happened again: count it on the existing record instead of writing a new one. */
export async function countRepeatedFailure(
  container: Container,
  ref: RecordRef,
  occurrences: number,
): Promise<RecordRef | undefined> {
  const current = await readExecution(container, ref.id);
  if (!current) return undefined;
  const at = nowIso();
  const { _etag: etag, ...rest } = current;
  try {
    const { resource } = await container.item(ref.id, ref.id).replace(
      { ...stripSystem(rest), occurrences, last_occurred_at: at, updated_at: at },
      { accessCondition: { type: "IfMatch", condition: etag ?? ref.etag } },
    );
    return { id: ref.id, etag: resource?._etag ?? "" };
  } catch (err) {
    if (cosmosStatus(err) === 412) return ref;
    throw err;
  }
}

/** The record exists but does not follow the schema; retrying will not help. */
export class MalformedExecutionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "MalformedExecutionError";
  }
}

/** The record, validated; undefined when there is none. */
export async function readExecution(container: Container, id: string): Promise<ExecutionDoc | undefined> {
  const read = await readDoc(container, id, ExecutionDocSchema);
  if (read.kind === "malformed") throw new MalformedExecutionError(`execution ${id} is malformed: ${read.problem}`);
  return read.kind === "found" ? read.doc : undefined;
}

function stripSystem<T extends Record<string, unknown>>(doc: T): T {
  const { _rid: _r, _self: _s, _ts: _t, _attachments: _a, ...rest } = doc;
  return rest as T;
}

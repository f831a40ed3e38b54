// The execution record's side of a re-drive (a poison record sent back to the task queue by
// `contentflow-worker poison requeue`). Each re-drive gets a fresh id, written to the record BEFORE its task message
// is sent and carried in that message; the processing worker runs a re-driven task only while the record names the
// message's id. So a requeue killed after sending and run again queues a second message, but the first one is
// then superseded and acknowledged without running: one execution, never two.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { nowIso } from "../model/content.ts";
import { type ExecutionDoc, ExecutionDocSchema } from "../model/documents.ts";
import { cosmosStatus } from "./cosmos.ts";
import { readExecution } from "./execution-records.ts";

export const RedriveSchema = v.looseObject({
  /** Carried as `redrive_id` in the re-driven task message. */
  id: v.string(),
  /** "sending": written before the message was sent; "queued": the message is on the task queue. */
  state: v.picklist(["sending", "queued"]),
  poison_message_id: v.string(),
  at: v.string(),
  previous_reason: v.optional(v.string()),
  /** Re-drives of this execution so far, this one included. */
  count: v.optional(v.number(), 1),
});
export type Redrive = v.InferOutput<typeof RedriveSchema>;

/** The record's current re-drive, if it has a valid one. */
export function currentRedrive(doc: ExecutionDoc | undefined): Redrive | undefined {
  const parsed = v.safeParse(RedriveSchema, (doc as Record<string, unknown> | undefined)?.redrive);
  return parsed.success ? parsed.output : undefined;
}

/**
 * Whether a task message may run, given the execution record: a message that carries a re-drive id runs only while
 * the record names that id (a later requeue superseded it otherwise). Messages without one always may.
 */
export function redriveSuperseded(redriveId: string | undefined, doc: ExecutionDoc | undefined): boolean {
  if (!redriveId) return false;
  const current = currentRedrive(doc);
  return current !== undefined && current.id !== redriveId;
}

export class RedriveConflictError extends Error {
  override name = "RedriveConflictError";
}

function withoutSystem(doc: ExecutionDoc): Record<string, unknown> {
  const { _etag: _e, _rid: _r, _self: _s, _ts: _t, _attachments: _a, ...rest } = doc as Record<string, unknown>;
  return rest;
}

/** The record as written by a replace (with its new etag), to start the next etag-checked write from. */
function written(resource: unknown): ExecutionDoc | undefined {
  const parsed = v.safeParse(ExecutionDocSchema, resource);
  return parsed.success ? parsed.output : undefined;
}

/**
 * Sets the record back to pending with a new re-drive in state "sending" (etag-checked; re-read on a conflict).
 * A missing record is left missing: the processing worker creates it from the task. Returns the new re-drive id and
 * the record as written (pass it to redriveQueued to save a read). `known`: the record as just read by the caller,
 * tried first instead of reading it again (a stale one only costs a conflict and a re-read).
 */
export async function beginRedrive(
  container: Container,
  executionId: string,
  info: { poisonMessageId: string; reason: string },
  known?: ExecutionDoc,
): Promise<{ redriveId: string; recordFound: boolean; record?: ExecutionDoc }> {
  const redriveId = `redrive_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`;
  for (let attempt = 0; attempt < 5; attempt++) {
    const doc = attempt === 0 && known ? known : await readExecution(container, executionId);
    if (!doc) return { redriveId, recordFound: false };
    const at = nowIso();
    const previous = currentRedrive(doc);
    const next: Redrive = {
      id: redriveId,
      state: "sending",
      poison_message_id: info.poisonMessageId,
      at,
      previous_reason: info.reason.slice(0, 2000),
      count: (previous?.count ?? 0) + (previous?.poison_message_id === info.poisonMessageId ? 0 : 1),
    };
    try {
      const { resource } = await container.item(executionId, executionId).replace({
        ...withoutSystem(doc),
        status: "pending",
        status_message: `Re-driven from the poison queue at ${at}`,
        error: null,
        completed_at: null,
        updated_at: at,
        // A fresh retry budget: the failed runs that poisoned it are not held against the re-driven task.
        task_failures: 0,
        interruptions: 0,
        redrive: next,
      }, { accessCondition: { type: "IfMatch", condition: doc._etag ?? "" } });
      return { redriveId, recordFound: true, record: written(resource) };
    } catch (err) {
      if (cosmosStatus(err) === 412) continue;
      throw err;
    }
  }
  throw new RedriveConflictError(`execution ${executionId} kept changing; re-drive not recorded`);
}

/**
 * Marks the re-drive "queued" once its message is on the queue (only if the record still names it). `known`: the
 * record as beginRedrive wrote it, tried first instead of reading it again.
 */
export async function redriveQueued(
  container: Container,
  executionId: string,
  redriveId: string,
  known?: ExecutionDoc,
): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const doc = attempt === 0 && known ? known : await readExecution(container, executionId);
    const current = currentRedrive(doc);
    if (!doc || current?.id !== redriveId || current.state === "queued") return;
    try {
      await container.item(executionId, executionId).replace(
        { ...withoutSystem(doc), redrive: { ...current, state: "queued" } },
        { accessCondition: { type: "IfMatch", condition: doc._etag ?? "" } },
      );
      return;
    } catch (err) {
      if (cosmosStatus(err) === 412) continue;
      throw err;
    }
  }
  throw new RedriveConflictError(`execution ${executionId} kept changing; re-drive state not recorded`);
}

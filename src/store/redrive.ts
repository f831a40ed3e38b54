// The execution record's side of a re-drive (a task sent back to the task queue by `poison requeue` or `executions
// retry`; the steps and their guarantees are in src/redrive/redrive-task.ts). Each re-drive gets a fresh id, written
// to the record BEFORE its task message is sent and carried in that message; the processing worker runs a re-driven
// task only while the record names the message's id. Here: the marker's shape, the worker's check, and the
// etag-checked reads and writes the re-drive steps make on Cosmos DB.
import * as v from "valibot";
import type { Container } from "@azure/cosmos";
import { type ExecutionDoc, ExecutionDocSchema } from "../model/documents.ts";
import { cosmosStatus } from "./cosmos.ts";
import { readExecution } from "./execution-records.ts";

export const RedriveSchema = v.looseObject({
  /** Carried as `redrive_id` in the re-driven task message. */
  id: v.string(),
  /** "sending": written before the message was sent; "queued": the message is on the task queue. */
  state: v.picklist(["sending", "queued"]),
  /** What is re-driven: the poison record's message id, or `execution-retry:<time of the failure>`. */
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

function withoutSystem(doc: ExecutionDoc): Record<string, unknown> {
  const { _etag: _e, _rid: _r, _self: _s, _ts: _t, _attachments: _a, ...rest } = doc as Record<string, unknown>;
  return rest;
}

/** The record as written (with its new etag), to start the next etag-checked write from. */
function written(resource: unknown, fallback: ExecutionDoc): ExecutionDoc {
  const parsed = v.safeParse(ExecutionDocSchema, resource);
  return parsed.success ? parsed.output : fallback;
}

/** The execution record reads and conditional writes a re-drive makes (RedriveRecords of redrive-task.ts). */
export function cosmosRedriveRecords(container: Container): {
  read(id: string): Promise<ExecutionDoc | undefined>;
  create(doc: ExecutionDoc): Promise<ExecutionDoc | undefined>;
  replace(doc: ExecutionDoc, etag: string): Promise<ExecutionDoc | undefined>;
} {
  return {
    read: (id) => readExecution(container, id),
    create: async (doc) => {
      try {
        const { resource } = await container.items.create(withoutSystem(doc), {
          abortSignal: AbortSignal.timeout(30_000),
        });
        return written(resource, doc);
      } catch (err) {
        if (cosmosStatus(err) === 409) return undefined;
        throw err;
      }
    },
    replace: async (doc, etag) => {
      try {
        const { resource } = await container.item(doc.id, doc.id).replace(withoutSystem(doc), {
          accessCondition: { type: "IfMatch", condition: etag },
          abortSignal: AbortSignal.timeout(30_000),
        });
        return written(resource, doc);
      } catch (err) {
        if (cosmosStatus(err) === 412) return undefined;
        throw err;
      }
    },
  };
}

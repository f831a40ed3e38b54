// Re-driving one task: sending it back to the task queue for an execution that failed, so that a command killed at
// any step and run again neither loses the task nor runs it twice, and never runs a completed execution again.
// `poison requeue` and `executions retry` both go through redriveTask; the queue and the execution records are
// behind the two small interfaces below (Cosmos DB and Azure Storage in admin.ts, in-memory fakes in the unit tests).
//
// The record carries a durable re-drive marker (store/redrive.ts): `redrive = {id, state, poison_message_id (the
// key: which poison record or which failure is re-driven), …}`. The task message carries the marker's id, and the
// processing worker runs a re-driven message only while the record names that id (an older one is acknowledged
// without running; checked when it reads the record and again in the write that starts the run, ExecutionStore.begin),
// and never runs an execution that is completed.
//
// The steps, each one write:
//   1. begin    record → pending, redrive {id: R, state: "sending", key}   (If-Match on the record whose status was
//                                                                          checked: failed, or pending when allowed)
//   2. send     the task message carrying R
//   3. queued   redrive.state → "queued"                                  (If-Match; only while the record names R)
//   4. settle   `poison requeue` deletes the poison record (after queued, already-queued or completed; never before)
//
// A run (first or again) reads the record and decides from what it finds, so it resumes wherever a kill left it:
//   missing                         → create it pending with the marker (create fails if it exists: read again) → 2
//   completed                       → never re-driven: "completed" (nothing sent)
//   marker is ours, state queued    → "already-queued" (an earlier run finished steps 1–3)
//   marker is ours, state sending:
//     status running or failed      → the message was sent and a worker took it: mark queued, "already-queued"
//     status pending                → killed between 1 and 3; the message may or may not exist. Write a NEW id R'
//                                     (If-Match on the pending record), send with R', mark queued: a first message
//                                     still on the queue now names R, so the worker acknowledges it without running.
//                                     If a worker took the first message meanwhile, the write meets a new etag, the
//                                     record is read again and shows running: nothing is sent.
//   another key's marker, queued,
//     status pending                → the task is already on the queue: "already-queued"
//   status running                  → a worker runs the task now: "refused"
//   status failed (or pending when the caller allows it) → steps 1–3: "queued"
// Every write is conditional on the etag of the record it was decided from; on a conflict the record is read again
// and the decision made afresh. So between a completed record and a re-drive there is always a status check that
// the write depends on: a completed execution is never re-driven.
import { nowIso } from "../model/content.ts";
import type { ExecutionDoc } from "../model/documents.ts";
import { currentRedrive, type Redrive } from "../store/redrive.ts";

/** The execution records, with conditional writes (undefined: the record changed or exists; read again). */
export interface RedriveRecords {
  read(id: string): Promise<ExecutionDoc | undefined>;
  /** Creates the record; undefined when one exists already. Returns the record as written (with its etag). */
  create(doc: ExecutionDoc): Promise<ExecutionDoc | undefined>;
  /** Replaces the record if its etag still is `etag`; undefined when it changed. Returns the record as written. */
  replace(doc: ExecutionDoc, etag: string): Promise<ExecutionDoc | undefined>;
}

/** The task queue. */
export interface RedriveQueue {
  send(text: string): Promise<unknown>;
}

export interface RedriveDeps {
  records: RedriveRecords;
  queue: RedriveQueue;
  /** New re-drive ids (default: random); the unit tests make them predictable. */
  newId?: () => string;
}

export interface RedriveRequest {
  executionId: string;
  /** What is re-driven (the poison record's id, or `execution-retry:<failure time>`): a rerun finds its marker. */
  key: string;
  /** Why the task had failed (kept on the marker). */
  reason: string;
  /** The task message carrying `redriveId`, or why it cannot be sent (too large, …). */
  message(redriveId: string): { text: string } | { problem: string };
  /** The record to create when there is none (from the task); without it a missing record is refused. */
  seed?: () => ExecutionDoc;
  /** Statuses a new re-drive may start from (default: failed). */
  startFrom?: ReadonlyArray<ExecutionDoc["status"]>;
  /** The record as the caller just read it (saves a read; a stale one only costs a conflict). */
  known?: ExecutionDoc;
  /**
   * Step 4: settles what the task was re-driven from (deletes the poison record), once the task is on the queue or
   * its execution is completed; not when refused.
   */
  settle?: () => Promise<void>;
}

export type RedriveResult =
  /** This run sent the task. */
  | { kind: "queued"; redriveId: string }
  /** The task is on the queue already (an earlier run, or another re-drive, sent it): nothing sent. */
  | { kind: "already-queued"; redriveId: string; other?: boolean }
  /** The execution is completed: never re-driven. */
  | { kind: "completed" }
  /** Not re-driven, with the reason (running, a status it may not start from, no record, too large). */
  | { kind: "refused"; reason: string };

export class RedriveConflictError extends Error {
  override name = "RedriveConflictError";
}

const MAX_ROUNDS = 6;
const MAX_REASON_CHARS = 2000;

function randomRedriveId(): string {
  return `redrive_${crypto.randomUUID().replace(/-/g, "").slice(0, 16)}`;
}

type Step =
  | { do: "done"; result: RedriveResult }
  | { do: "begin"; doc?: ExecutionDoc; previous?: Redrive }
  | { do: "mark-queued"; doc: ExecutionDoc; marker: Redrive; result: RedriveResult };

/** What to do with the record as found (the table in the header). Pure. */
export function decideRedrive(doc: ExecutionDoc | undefined, req: RedriveRequest): Step {
  if (!doc) {
    return req.seed
      ? { do: "begin" }
      : { do: "done", result: { kind: "refused", reason: "no execution record to re-drive" } };
  }
  if (doc.status === "completed") return { do: "done", result: { kind: "completed" } };
  const marker = currentRedrive(doc);
  if (marker?.poison_message_id === req.key) {
    if (marker.state === "queued") return { do: "done", result: { kind: "already-queued", redriveId: marker.id } };
    if (doc.status === "running" || doc.status === "failed") {
      return { do: "mark-queued", doc, marker, result: { kind: "already-queued", redriveId: marker.id } };
    }
    return { do: "begin", doc, previous: marker };
  }
  if (marker?.state === "queued" && doc.status === "pending") {
    return { do: "done", result: { kind: "already-queued", redriveId: marker.id, other: true } };
  }
  if (doc.status === "running") {
    return {
      do: "done",
      result: { kind: "refused", reason: "a worker is running it now (status running); not re-driven" },
    };
  }
  const startFrom = req.startFrom ?? ["failed"];
  if (!startFrom.includes(doc.status)) {
    return {
      do: "done",
      result: { kind: "refused", reason: `its status is ${doc.status}; only ${startFrom.join(" or ")} is re-driven` },
    };
  }
  return { do: "begin", doc, previous: marker };
}

/** The record as step 1 writes it. */
function begun(doc: ExecutionDoc, req: RedriveRequest, redriveId: string, previous?: Redrive): ExecutionDoc {
  const at = nowIso();
  const marker: Redrive = {
    id: redriveId,
    state: "sending",
    poison_message_id: req.key,
    at,
    previous_reason: req.reason.slice(0, MAX_REASON_CHARS),
    count: (previous?.count ?? 0) + (previous?.poison_message_id === req.key ? 0 : 1),
  };
  return {
    ...doc,
    status: "pending",
    status_message: `Re-driven at ${at}`,
    error: null,
    completed_at: null,
    updated_at: at,
    // A fresh retry budget: the failed and interrupted runs that poisoned it are not held against the re-driven task.
    task_failures: 0,
    interruptions: 0,
    redrive: marker,
  } as ExecutionDoc;
}

/**
 * Re-drives one task (the steps and the table in the header). Throws what the queue or the records throw (the
 * caller reports it; running again resumes), RedriveConflictError when the record kept changing.
 */
export async function redriveTask(deps: RedriveDeps, req: RedriveRequest): Promise<RedriveResult> {
  const result = await redriveSteps(deps, req);
  if (result.kind !== "refused") await req.settle?.();
  return result;
}

/**
 * The key of a retry rebuilt from the execution record: the failure it retries (`execution-retry:<its time>`), or,
 * for a record a re-drive set pending, that re-drive's own key: a retry killed before queuing its message is then
 * finished by the next run, and one that queued it is reported as queued. Undefined when the record is neither
 * failed nor pending from a re-drive.
 */
export function retryKeyFor(doc: ExecutionDoc): string | undefined {
  const marker = currentRedrive(doc);
  if (doc.status === "pending" && marker) return marker.poison_message_id;
  if (doc.status !== "failed") return undefined;
  return `execution-retry:${doc.completed_at ?? doc.updated_at ?? ""}`;
}

async function redriveSteps(deps: RedriveDeps, req: RedriveRequest): Promise<RedriveResult> {
  const newId = deps.newId ?? randomRedriveId;
  let doc = req.known ?? await deps.records.read(req.executionId);
  for (let round = 0; round < MAX_ROUNDS; round++, doc = await deps.records.read(req.executionId)) {
    const step = decideRedrive(doc, req);
    if (step.do === "done") return step.result;
    if (step.do === "mark-queued") {
      await markQueued(deps.records, step.doc, step.marker.id);
      return step.result;
    }
    const redriveId = newId();
    const message = req.message(redriveId);
    if ("problem" in message) return { kind: "refused", reason: message.problem };
    const next = begun(step.doc ?? req.seed!(), req, redriveId, step.previous);
    const wrote = step.doc ? await deps.records.replace(next, step.doc._etag ?? "") : await deps.records.create(next);
    if (!wrote) continue; // changed (or created) since read: decide again
    await deps.queue.send(message.text);
    await markQueued(deps.records, wrote, redriveId);
    return { kind: "queued", redriveId };
  }
  throw new RedriveConflictError(`execution ${req.executionId} kept changing; not re-driven (run again)`);
}

/** Step 3: the marker → queued, while the record still names `redriveId` (whatever its status by now). */
async function markQueued(records: RedriveRecords, known: ExecutionDoc, redriveId: string): Promise<void> {
  let doc: ExecutionDoc | undefined = known;
  for (let round = 0; round < MAX_ROUNDS; round++, doc = await records.read(known.id)) {
    const marker = currentRedrive(doc);
    if (!doc || marker?.id !== redriveId || marker.state === "queued") return;
    if (await records.replace({ ...doc, redrive: { ...marker, state: "queued" } } as ExecutionDoc, doc._etag ?? "")) {
      return;
    }
  }
  throw new RedriveConflictError(`execution ${known.id} kept changing; its re-drive is not marked queued (run again)`);
}

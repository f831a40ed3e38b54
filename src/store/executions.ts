// Execution records (vault_executions) as the processing worker moves them along:
// pending → running → completed | failed, with "pending" again while a failed attempt waits for its retry.
//
// Every write is read → change → replace with If-Match on the _etag; on 412 the record is read again and the
// change re-applied (bounded), so concurrent writers never lose each other's fields (the Python worker wrote without an etag check).
// A completed record is final: nothing moves it back to running or failed (a late duplicate cannot undo it).
// A run is owned by one delivery: `begin` writes the worker id and the delivery's dequeue count (`attempt`), and
// the run's own later writes (completed, failed attempt, released) are declined once the record names another
// delivery — a worker whose lease ran out cannot overwrite the record of the delivery that took over.
// `task_failures` is the retry budget: it counts failed runs (errors, timeouts), never deliveries spent on outages
// or shutdowns. A run whose worker died (found `running` by the next delivery) counts in `interruptions` instead,
// runs in a row that never ended; a run that ends by itself resets it.
// Status and output go in one write (the Python worker wrote them separately, and a failed output write turned a
// completed run into a failed one that was then run again); output too large for a Cosmos item is reduced
// (identifiers only, then fewer events, …) with a note, never at the cost of the status. `content` is always a list
// (the Python worker stored a single result as an object, which the ContentFlow API does not expect).
import { Buffer } from "node:buffer";
import type { Container } from "@azure/cosmos";
import type { ContentProcessingTask } from "../model/task-envelope.ts";
import type { PipelineResult } from "../pipeline/index.ts";
import { cosmosStatus } from "./cosmos.ts";
import type { ExecutionDoc } from "../model/documents.ts";
import { readExecution } from "./execution-records.ts";
import { redriveSuperseded } from "./redrive.ts";
import { redactDeep, redactText } from "../util/redact.ts";
import { sleep } from "../util/sleep.ts";

export const STATUS_MESSAGES = {
  running: "Execution is running",
  completed: "Execution completed",
  failed: "Execution failed. View error details.",
} as const;

export { MalformedExecutionError } from "./execution-records.ts";

/** Other writers kept changing the record; every round of read-change-replace lost the race. */
export class ExecutionConflictError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "ExecutionConflictError";
  }
}

export interface ExecutionStoreOptions {
  /** Written to processing_worker_id. */
  workerId: string;
  /** Largest serialized record we write (Cosmos' item limit is 2 MB including system fields). */
  maxDocBytes?: number;
  /** Read-change-replace rounds before giving up on concurrent writers. */
  maxAttempts?: number;
}

export interface ExecutionRef {
  executionId: string;
  /** When known, a missing record is created from it (the API lists executions by vault_id). */
  task?: ContentProcessingTask;
}

/**
 * Returns the new record (a new object, e.g. `{ ...doc, status }`), or undefined to leave it as it is. Gets the
 * record as read or last written, which it must not modify.
 */
export type ExecutionChange = (doc: Readonly<ExecutionDoc>) => ExecutionDoc | undefined;

export interface UpdateResult {
  /** The record as written, or as found when the change declined (undefined: no record and none created). */
  doc?: ExecutionDoc;
  written: boolean;
}

export const MAX_EVENTS = 500;
const MAX_ERROR_CHARS = 8000;
const MAX_EVENT_ERROR_CHARS = 2000;
const SYSTEM_FIELDS = ["_rid", "_self", "_etag", "_ts", "_attachments"];

const now = () => new Date().toISOString();

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max)}… (${text.length - max} more characters)` : text;
}

function bytes(doc: unknown): number {
  return Buffer.byteLength(JSON.stringify(doc), "utf8");
}

/** A content item → its ContentIdentifier dict (items that already are identifiers stay as they are). */
function identifierOf(item: unknown): unknown {
  if (item && typeof item === "object" && "id" in item && typeof (item as { id: unknown }).id === "object") {
    return (item as { id: unknown }).id;
  }
  return item;
}

/** Events and executor outputs of a run, bounded: at most MAX_EVENTS events, long error texts clipped. */
export function boundedRunDetails(result: Pick<PipelineResult, "events" | "executor_outputs">): {
  events: unknown[];
  executor_outputs: Record<string, unknown>;
  events_dropped?: number;
} {
  let events = result.events;
  let dropped = 0;
  if (events.length > MAX_EVENTS) {
    // Keep the start (what ran first) and the end (how it finished).
    dropped = events.length - MAX_EVENTS;
    events = [...events.slice(0, MAX_EVENTS / 5), ...events.slice(events.length - (MAX_EVENTS - MAX_EVENTS / 5))];
  }
  const clipped = events.map((e) => (e.error ? { ...e, error: clip(e.error, MAX_EVENT_ERROR_CHARS) } : e));
  const outputs: Record<string, unknown> = {};
  for (const [id, out] of Object.entries(result.executor_outputs)) {
    outputs[id] = out.error ? { ...out, error: clip(out.error, MAX_EVENT_ERROR_CHARS) } : out;
  }
  return { events: clipped, executor_outputs: outputs, ...(dropped ? { events_dropped: dropped } : {}) };
}

/** A content item with its executor log entries (our own messages, errors included) redacted; its data untouched. */
function withRedactedExecutorLogs(item: unknown): unknown {
  if (!item || typeof item !== "object" || !Array.isArray((item as { executor_logs?: unknown }).executor_logs)) {
    return item;
  }
  const logs = (item as { executor_logs: unknown[] }).executor_logs;
  return { ...item, executor_logs: redactDeep(logs) };
}

/**
 * The record reduced until it fits, in steps: 1 content → identifiers, 2 no events, 3 no content list and no
 * executor outputs. `minLevel` > 0 forces at least that step (after Cosmos answered 413).
 */
export function fitExecutionDoc(
  doc: ExecutionDoc,
  maxBytes: number,
  minLevel = 0,
): { doc: ExecutionDoc; level: number } {
  const out = { ...doc } as ExecutionDoc & Record<string, unknown>;
  for (const field of SYSTEM_FIELDS) delete out[field];
  // Errors and events quote executors' and services' messages, which may carry keys or signed URLs.
  if (typeof out.error === "string") out.error = clip(redactText(out.error), MAX_ERROR_CHARS);
  if (typeof out.status_message === "string") out.status_message = redactText(out.status_message);
  if (out.events) out.events = redactDeep(out.events);
  if (out.executor_outputs) out.executor_outputs = redactDeep(out.executor_outputs);
  if (Array.isArray(out.content)) out.content = out.content.map(withRedactedExecutorLogs);
  let level = 0;
  // Serialized once per state of the record (a pass-through task's two writes used to serialize it twice each).
  let size = bytes(out);
  const original = size;
  const note = (what: string) => {
    out.output_truncated = true;
    out.output_note = `Output too large for Cosmos DB (${original} bytes): ${what}. ` +
      "View the output saved by the pipeline's output executor(s).";
  };
  while (level < 3 && (level < minLevel || size > maxBytes)) {
    level++;
    if (level === 1) {
      out.content = (out.content ?? []).map(identifierOf);
      note("only content identifiers are stored");
    } else if (level === 2) {
      out.events_dropped = (typeof out.events_dropped === "number" ? out.events_dropped : 0) +
        (out.events?.length ?? 0);
      out.events = [];
      note("only content identifiers are stored, events are dropped");
    } else {
      out.content = [];
      out.executor_outputs = {};
      note(`content identifiers (${out.number_of_items ?? "?"} items), events and executor outputs are dropped`);
    }
    size = bytes(out);
  }
  return { doc: out, level };
}

/** What a delivery does with a record that is not completed, before it runs the task. */
export type StartVerdict =
  /** Run it; the record's counts become these. */
  | { kind: "start"; failures: number; interruptions: number }
  /** Do not run it: set aside for `reason`; `write`: mark the record failed with these counts (false when it
   * already is failed for that reason). */
  | { kind: "exhausted"; reason: string; failures: number; interruptions: number; write: boolean };

/** Decides a delivery's start from the record (not completed) and the delivery's number. */
export type StartPolicy = (doc: ExecutionDoc, attempt: number) => StartVerdict;

/** A record still running for another delivery: that run never ended. */
export function unfinishedRun(doc: Pick<ExecutionDoc, "status" | "attempt">, attempt: number): boolean {
  return doc.status === "running" && doc.attempt !== attempt;
}

/** The policy without limits: an unfinished run counts as an interruption, the task starts. */
function countInterruption(doc: ExecutionDoc, attempt: number): StartVerdict {
  return {
    kind: "start",
    failures: doc.task_failures ?? 0,
    interruptions: (doc.interruptions ?? 0) + (unfinishedRun(doc, attempt) ? 1 : 0),
  };
}

export class ExecutionStore {
  private readonly maxDocBytes: number;
  private readonly maxAttempts: number;

  constructor(private readonly container: Container, private readonly opts: ExecutionStoreOptions) {
    this.maxDocBytes = opts.maxDocBytes ?? 1_900_000;
    this.maxAttempts = opts.maxAttempts ?? 12;
  }

  async read(id: string): Promise<ExecutionDoc | undefined> {
    return await readExecution(this.container, id);
  }

  /**
   * Applies `change` to the current record and replaces it if its _etag is unchanged; on a conflict reads and
   * re-applies. A missing record is created from `seed` (when given). Errors other than conflicts are thrown.
   * `known` is the record as this worker last read or wrote it (null: known to be missing); the first round uses
   * it instead of reading again, and the etag check still catches any write since.
   */
  async update(
    id: string,
    change: ExecutionChange,
    seed?: () => ExecutionDoc,
    known?: ExecutionDoc | null,
  ): Promise<UpdateResult> {
    let level = 0;
    for (let attempt = 1; attempt <= this.maxAttempts; attempt++) {
      const current = attempt === 1 && known !== undefined ? known ?? undefined : await this.read(id);
      if (!current && !seed) return { written: false };
      // `change` returns a new record and leaves `current` as read (a declined change or a failed write keeps
      // it for the next round); fitExecutionDoc copies what it redacts or drops, so no deep copy is needed.
      const changed = change(current ?? seed!());
      if (!changed) return { doc: current, written: false };
      const fitted = fitExecutionDoc({ ...changed, id, updated_at: now() }, this.maxDocBytes, level);
      try {
        const response = current
          ? await this.container.item(id, id).replace(fitted.doc, {
            accessCondition: { type: "IfMatch", condition: current._etag ?? "" },
          })
          : await this.container.items.create(fitted.doc);
        return { doc: (response.resource as ExecutionDoc | undefined) ?? fitted.doc, written: true };
      } catch (err) {
        const status = cosmosStatus(err);
        if (status === 413) {
          if (fitted.level >= 3) throw err;
          level = fitted.level + 1;
          continue;
        }
        // 412: someone wrote since our read; 409: someone created it since our read.
        if (status !== 412 && status !== 409) throw err;
        await sleep(Math.random() * 20 * attempt);
      }
    }
    throw new ExecutionConflictError(`execution ${id}: gave up after ${this.maxAttempts} rounds of concurrent updates`);
  }

  /** A record for a task whose pending record is missing (e.g. enqueued by hand or deleted). */
  seedFromTask(task: ContentProcessingTask): ExecutionDoc {
    const at = now();
    return {
      id: task.execution_id,
      pipeline_id: task.pipeline_id,
      pipeline_name: task.pipeline_name,
      vault_id: task.vault_id ?? null,
      status: "pending",
      status_message: "Execution record created by the processing worker (none was found for the task)",
      task_id: task.task_id,
      content: task.content.map(identifierOf),
      number_of_items: task.content.length,
      created_at: task.created_at ?? at,
      created_by: this.opts.workerId,
      updated_at: at,
      started_at: null,
      completed_at: null,
      error: null,
      executor_outputs: {},
      events: [],
    };
  }

  private seedFor(ref: ExecutionRef): (() => ExecutionDoc) | undefined {
    const task = ref.task;
    return task ? () => this.seedFromTask(task) : undefined;
  }

  /** pending|failed|running → running. Returns "completed" (and writes nothing) when it already is. */
  async start(task: ContentProcessingTask, attempt: number): Promise<"running" | "completed"> {
    return (await this.begin(task, attempt)).completed ? "completed" : "running";
  }

  /**
   * As start(), from the record as last read (see update's `known`); returns the record as written. A record still
   * `running` for an earlier delivery means that run never ended (its worker died, hung or lost the lease): `policy`
   * (workers/processing/failure-policy.ts) decides what that and the record's counts mean — start with the counts
   * it returns, or set the task aside (`exhausted` says why; the record becomes failed when `write`). Without a
   * policy an unfinished run counts as an interruption and the task always starts.
   */
  async begin(
    task: ContentProcessingTask,
    attempt: number,
    known?: ExecutionDoc | null,
    policy: StartPolicy = countInterruption,
  ): Promise<{ completed: boolean; doc?: ExecutionDoc; exhausted?: string }> {
    let completed = false;
    let exhausted: string | undefined;
    const written = await this.update(
      task.execution_id,
      (doc) => {
        completed = false;
        exhausted = undefined;
        if (doc.status === "completed") {
          completed = true;
          return undefined;
        }
        // Checked again on every round: a re-drive may have replaced this message since the worker read the record
        // (store/redrive.ts). Thrown, the attempt is retried later, and that delivery acknowledges it unrun.
        if (redriveSuperseded(task.redrive_id, doc)) {
          throw new ExecutionConflictError(`execution ${task.execution_id}: a later re-drive replaced this message`);
        }
        const verdict = policy(doc, attempt);
        if (verdict.kind === "exhausted") {
          exhausted = verdict.reason;
          if (!verdict.write) return undefined;
          return {
            ...doc,
            status: "failed",
            status_message: STATUS_MESSAGES.failed,
            error: verdict.reason,
            completed_at: now(),
            task_failures: verdict.failures,
            interruptions: verdict.interruptions,
          };
        }
        return {
          ...doc,
          status: "running",
          status_message: STATUS_MESSAGES.running,
          started_at: doc.started_at ?? now(),
          completed_at: null,
          processing_worker_id: this.opts.workerId,
          attempt,
          task_failures: verdict.failures,
          interruptions: verdict.interruptions,
        };
      },
      this.seedFor({ executionId: task.execution_id, task }),
      known,
    );
    return { completed, doc: written.doc, ...(exhausted ? { exhausted } : {}) };
  }

  /** True when the record's current run is the one `attempt` of this worker began (and it is still running). */
  private owns(doc: ExecutionDoc, attempt: number): boolean {
    return doc.status === "running" && doc.processing_worker_id === this.opts.workerId && doc.attempt === attempt;
  }

  /**
   * → completed with the run's output: the full content list when the vault saves execution output, else the
   * items' identifiers. Leaves an already completed record alone.
   */
  async complete(
    task: ContentProcessingTask,
    result: PipelineResult,
    saveFullOutput: boolean,
    known?: ExecutionDoc | null,
    /** The delivery that began the run: the write is declined (`superseded`) once the record names another. */
    attempt?: number,
  ): Promise<UpdateResult & { superseded: boolean }> {
    const content = saveFullOutput ? result.content : result.content.map(identifierOf);
    const details = boundedRunDetails(result);
    let superseded = false;
    const written = await this.update(
      task.execution_id,
      (doc) => {
        superseded = false;
        if (doc.status === "completed") return undefined;
        if (attempt !== undefined && !this.owns(doc, attempt)) {
          superseded = true;
          return undefined;
        }
        return {
          ...doc,
          status: "completed",
          status_message: STATUS_MESSAGES.completed,
          completed_at: now(),
          error: null,
          processing_worker_id: this.opts.workerId,
          number_of_items: result.content.length,
          content,
          duration_seconds: result.duration_seconds,
          ...details,
        };
      },
      this.seedFor({ executionId: task.execution_id, task }),
      known,
    );
    return { ...written, superseded };
  }

  /** → failed (final). `result` adds the failed run's events and executor outputs. */
  async fail(ref: ExecutionRef, error: string, result?: PipelineResult): Promise<UpdateResult> {
    const details = result ? boundedRunDetails(result) : {};
    return await this.update(ref.executionId, (doc) => {
      if (doc.status === "completed") return undefined;
      return {
        ...doc,
        status: "failed",
        status_message: STATUS_MESSAGES.failed,
        error,
        completed_at: now(),
        processing_worker_id: this.opts.workerId,
        ...details,
      };
    }, this.seedFor(ref));
  }

  /** A failed attempt that will be retried: back to pending, with the error and when the next attempt is due. */
  async retrying(
    task: ContentProcessingTask,
    error: string,
    info: { attempt: number; maxAttempts: number; delaySeconds: number },
    result?: PipelineResult,
  ): Promise<UpdateResult> {
    const details = result ? boundedRunDetails(result) : {};
    return await this.update(task.execution_id, (doc) => {
      if (doc.status === "completed" || doc.status === "failed") return undefined;
      return {
        ...doc,
        status: "pending",
        status_message: `Attempt ${info.attempt} of ${info.maxAttempts} failed; retrying in ${info.delaySeconds} s`,
        error,
        processing_worker_id: this.opts.workerId,
        next_attempt_at: new Date(Date.now() + info.delaySeconds * 1000).toISOString(),
        ...details,
      };
    }, this.seedFor({ executionId: task.execution_id, task }));
  }

  /**
   * A run of this worker ended without a result and its message is (or will be) delivered again — shutdown, lost
   * lease, an outage: running → pending, not counted as a failure. Only the run's own delivery (`attempt`, when
   * given) may do it.
   */
  async interrupted(task: ContentProcessingTask, reason: string, attempt?: number): Promise<UpdateResult> {
    return await this.update(task.execution_id, (doc) => {
      if (doc.status !== "running" || doc.processing_worker_id !== this.opts.workerId) return undefined;
      if (attempt !== undefined && doc.attempt !== attempt) return undefined;
      return { ...doc, status: "pending", status_message: `Interrupted (${reason}); the task is queued again` };
    });
  }

  /**
   * A run of delivery `attempt` failed (pipeline error or timeout): counts it in `task_failures`. Below
   * `maxFailures` the record waits as pending for the retry; at it the record is failed (final) and `final` is true.
   * Declined (`superseded`) when the record names another delivery's run.
   */
  async runFailed(
    task: ContentProcessingTask,
    error: string,
    info: { attempt: number; maxFailures: number; delaySeconds: number },
    result?: PipelineResult,
  ): Promise<{ failures: number; final: boolean; superseded: boolean; reason: string }> {
    const details = result ? boundedRunDetails(result) : {};
    let out = { failures: 0, final: false, superseded: false, reason: error };
    await this.update(task.execution_id, (doc) => {
      if (doc.status === "completed" || !this.owns(doc, info.attempt)) {
        out = { failures: doc.task_failures ?? 0, final: false, superseded: true, reason: error };
        return undefined;
      }
      const failures = (doc.task_failures ?? 0) + 1;
      const final = failures >= info.maxFailures;
      const reason = final ? `failed ${failures} time(s) (MAX_TASK_RETRIES=${info.maxFailures}): ${error}` : error;
      out = { failures, final, superseded: false, reason };
      return final
        ? {
          ...doc,
          status: "failed",
          status_message: STATUS_MESSAGES.failed,
          error: reason,
          completed_at: now(),
          processing_worker_id: this.opts.workerId,
          task_failures: failures,
          interruptions: 0,
          ...details,
        }
        : {
          ...doc,
          status: "pending",
          status_message: `Run ${failures} of at most ${info.maxFailures} failed; retrying in ${info.delaySeconds} s`,
          error,
          processing_worker_id: this.opts.workerId,
          task_failures: failures,
          interruptions: 0,
          next_attempt_at: new Date(Date.now() + info.delaySeconds * 1000).toISOString(),
          ...details,
        };
    });
    return out;
  }
}

// The operators' API over the poison queue and failed executions, for the CLI (`poison …`, `executions retry`) and
// for library users alike: describe a poison record, re-drive it, rebuild a failed execution's task from its record,
// purge a record with its blobs. Every re-drive goes through redriveTask (redrive-task.ts: the steps and why a kill
// at any of them is safe); every claim-check or spilled blob named by a record is checked by the one rule of
// queue/claim-check.ts before it is read or deleted.
import * as v from "valibot";
import type { BlobServiceClient } from "@azure/storage-blob";
import type { Config } from "../config/schema.ts";
import { taskQueues } from "../queue/clients.ts";
import { describeOriginal, type OriginalTask, type PoisonEntry, PoisonQueue } from "../queue/poison-queue.ts";
import { claimCheckAccess, spilledOriginalProblem } from "../queue/claim-check.ts";
import { decodeClaimCheckBlob } from "../queue/decode.ts";
import { queueTextBytes, TaskSender } from "../queue/sender.ts";
import { blobServiceClient } from "../executors/blob-clients.ts";
import { type CosmosStore, openCosmosStore } from "../store/cosmos.ts";
import { pendingExecutionDoc } from "../store/execution-records.ts";
import { cosmosRedriveRecords } from "../store/redrive.ts";
import { buildTaskMessage, QUEUE_MESSAGE_LIMIT_BYTES, type TaskMessage } from "../model/task-envelope.ts";
import { ContentIdentifierSchema } from "../model/content.ts";
import type { ExecutionDoc } from "../model/documents.ts";
import { type RedriveDeps, type RedriveResult, redriveTask, retryKeyFor } from "./redrive-task.ts";
import { describeDependencyError } from "../util/dependency-error.ts";

export interface Described {
  entry: PoisonEntry;
  original?: OriginalTask;
  /** Why the original could not be read (blob gone, a blob name refused, …). */
  problem?: string;
}

export interface PoisonOutcome {
  id: string;
  execution_id: string | null;
  result: "requeued" | "finished-earlier-requeue" | "already-completed" | "would-requeue" | "skipped";
  detail?: string;
}

const BLOB_TIMEOUT_MS = 60_000;
const WORKER_ID = "contentflow-worker-cli";

export class RedriveAdmin {
  readonly poison: PoisonQueue;
  readonly tasks: TaskSender;
  private blobs?: BlobServiceClient;
  private store?: Promise<CosmosStore>;

  constructor(readonly config: Config) {
    const queues = taskQueues(config);
    this.poison = new PoisonQueue(queues.poison);
    this.tasks = new TaskSender(config, { queue: queues.tasks });
  }

  blobService = (): BlobServiceClient => (this.blobs ??= blobServiceClient(this.config));

  /** Claim-check reads and deletes, confined as the worker's are (queue/claim-check.ts). */
  readonly claimChecks = () =>
    claimCheckAccess(this.blobService, {
      container: this.config.CLAIM_CHECK_CONTAINER_NAME,
      maxBytes: this.config.MAX_CLAIM_CHECK_BYTES,
    });

  cosmos(): Promise<CosmosStore> {
    this.store ??= openCosmosStore(this.config);
    return this.store;
  }

  async close(): Promise<void> {
    if (this.store) (await this.store.catch(() => undefined))?.close();
  }

  private async redriveDeps(): Promise<RedriveDeps> {
    const store = await this.cosmos();
    return { records: cosmosRedriveRecords(store.executions), queue: { send: (t) => this.tasks.sendText(t) } };
  }

  /** The poison record with its original task (read back from its spilled blob if it has one). */
  async describe(entry: PoisonEntry): Promise<Described> {
    if (!entry.record) return { entry };
    try {
      const text = await this.poison.originalText(
        entry.record,
        this.blobService,
        this.config.CLAIM_CHECK_CONTAINER_NAME,
      );
      return { entry, original: describeOriginal(text, entry.record) };
    } catch (err) {
      return { entry, problem: `the original message could not be read: ${describeDependencyError(err).text}` };
    }
  }

  /** The task a claim-check pointer names, from its blob; a problem when it cannot be used. */
  private async claimCheckTask(d: Described): Promise<{ task: TaskMessage } | { problem: string } | undefined> {
    if (d.original?.decoded.kind !== "claim-check") return undefined;
    const claim = d.original.decoded.message;
    const read = await this.claimChecks().read(claim, AbortSignal.timeout(BLOB_TIMEOUT_MS));
    if (!read.found) return { problem: read.problem ?? `claim-check blob ${claim.claim_check.blob} is gone` };
    const decoded = decodeClaimCheckBlob(read.text, claim);
    return decoded.ok ? { task: decoded.message } : { problem: decoded.reason };
  }

  /** Pipeline and vault of a claim-check task live in its blob. */
  async withClaimCheckIds(d: Described): Promise<Described> {
    const read = await this.claimCheckTask(d).catch((err) => ({ problem: (err as Error).message }));
    if (!read) return d;
    if ("problem" in read) return { ...d, problem: read.problem };
    return {
      ...d,
      original: {
        ...d.original!,
        pipelineId: read.task.payload.pipeline_id,
        vaultId: read.task.payload.vault_id ?? undefined,
      },
    };
  }

  /**
   * Sends a poison record's task back to the task queue with a fresh retry budget and deletes the record once the
   * task is on the queue (or its execution completed: then there is nothing to re-drive). Never throws for the
   * record's own faults: they are a "skipped" outcome; errors of Cosmos or storage are thrown (run again).
   */
  async requeue(d: Described, opts: { dryRun: boolean }): Promise<PoisonOutcome> {
    const base = { id: d.entry.id, execution_id: d.original?.executionId ?? d.entry.record?.execution_id ?? null };
    const skipped = (detail?: string): PoisonOutcome => ({ ...base, result: "skipped", detail });
    if (!d.entry.record) return skipped(d.entry.unreadable);
    if (d.problem || !d.original) return skipped(d.problem);
    const decoded = d.original.decoded;
    if (decoded.kind === "invalid") return skipped(`the original message is not a valid task: ${decoded.reason}`);
    let task: TaskMessage;
    if (decoded.kind === "claim-check") {
      const read = await this.claimCheckTask(d);
      if (!read || "problem" in read) return skipped(read?.problem);
      task = read.task;
    } else {
      task = decoded.message;
    }
    if (opts.dryRun) return { ...base, result: "would-requeue" };
    const result = await redriveTask(await this.redriveDeps(), {
      executionId: task.payload.execution_id,
      key: d.entry.id,
      reason: d.entry.record.reason,
      // A record left pending by a worker that could not mark it failed (Cosmos was down) is re-driven too.
      startFrom: ["failed", "pending"],
      seed: () => pendingExecutionDoc(task, { workerId: WORKER_ID }),
      settle: () => this.poison.delete(d.entry),
      message: (redriveId) => {
        const text = decoded.kind === "task"
          ? JSON.stringify({
            ...decoded.message,
            payload: { ...decoded.message.payload, retry_count: 0, redrive_id: redriveId },
          })
          : JSON.stringify({
            ...decoded.message,
            claim_check: { ...decoded.message.claim_check, redrive_id: redriveId },
          });
        return queueTextBytes(text) > QUEUE_MESSAGE_LIMIT_BYTES
          ? { problem: "the task with its re-drive id no longer fits in one queue message" }
          : { text };
      },
    });
    if (result.kind === "refused") return skipped(result.reason);
    if (result.kind === "completed") {
      return { ...base, result: "already-completed", detail: "its execution is completed; not run again" };
    }
    return result.kind === "queued" ? { ...base, result: "requeued" } : { ...base, result: "finished-earlier-requeue" };
  }

  /**
   * Rebuilds a failed execution's task from its record (the items' identifiers) and re-drives it; only for pipelines
   * that read the content themselves (`readable` says whether this one does, or why not). A retry killed half way
   * and run again resumes its own re-drive (the record's marker keeps the key).
   */
  async retryFromRecord(
    doc: ExecutionDoc,
    opts: { dryRun: boolean; readable: () => Promise<true | string> },
  ): Promise<RedriveResult | { kind: "would-rebuild" }> {
    const refused = (reason: string): RedriveResult => ({ kind: "refused", reason });
    // Killed between marking the record pending and queuing its message, a retry is finished by the next run.
    const key = retryKeyFor(doc);
    if (!key) {
      if (doc.status === "completed") return { kind: "completed" };
      return refused(`its status is ${doc.status}; only failed executions are retried`);
    }
    if (!doc.pipeline_id) return refused("the record names no pipeline");
    const items = v.safeParse(v.array(ContentIdentifierSchema), doc.content ?? []);
    if (!items.success || items.output.length === 0) {
      return refused("the record holds no item identifiers to rebuild the task from");
    }
    const readable = await opts.readable();
    if (readable !== true) return refused(readable);
    if (opts.dryRun) return { kind: "would-rebuild" };
    const record = doc as ExecutionDoc & { executed_input_executor?: string | null };
    const message = buildTaskMessage({
      taskId: doc.task_id ?? undefined,
      executionId: doc.id,
      pipelineId: doc.pipeline_id,
      pipelineName: doc.pipeline_name ?? doc.pipeline_id,
      vaultId: doc.vault_id ?? null,
      items: items.output.map((cid) => ({ id: cid, data: {}, summary_data: {}, executor_logs: [] })),
      executedInputExecutor: record.executed_input_executor ?? null,
      // The record does not keep the original retry budget: the configured one.
      maxRetries: this.config.MAX_TASK_RETRIES,
    });
    return await redriveTask(await this.redriveDeps(), {
      executionId: doc.id,
      key,
      reason: doc.error ?? doc.status_message ?? "failed",
      known: doc,
      message: (redriveId) => {
        const text = JSON.stringify({ ...message, payload: { ...message.payload, redrive_id: redriveId } });
        return queueTextBytes(text) > QUEUE_MESSAGE_LIMIT_BYTES
          ? { problem: "the rebuilt task does not fit in one queue message" }
          : { text };
      },
    });
  }

  /**
   * Deletes a poison record and the blobs only it can use: its spilled original and its claim-check payload, each
   * only when its name is one the worker writes (a record naming another blob has that blob left alone).
   */
  async purge(d: Described): Promise<void> {
    const spilled = d.entry.record?.message_blob;
    if (spilled && spilledOriginalProblem(spilled, this.config.CLAIM_CHECK_CONTAINER_NAME) === undefined) {
      await this.blobService().getContainerClient(spilled.container).getBlockBlobClient(spilled.blob).deleteIfExists({
        abortSignal: AbortSignal.timeout(30_000),
      });
    }
    if (d.original?.decoded.kind === "claim-check") {
      await this.claimChecks().delete(d.original.decoded.message, AbortSignal.timeout(30_000));
    }
    await this.poison.delete(d.entry);
  }
}

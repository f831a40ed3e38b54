// Reading and settling the poison queue for operators (`contentflow-worker poison …`). A storage queue can only be
// read by receiving: records are claimed (received, so invisible to others) while a command looks at them and made
// visible again (list, show, a dry run) or deleted (requeue, purge) afterwards. Nothing here changes a record.
import type { QueueClient } from "@azure/storage-queue";
import type { BlobServiceClient } from "@azure/storage-blob";
import * as v from "valibot";
import { type PoisonRecord, PoisonRecordSchema } from "./poison.ts";
import { type DecodedMessage, decodeMessage } from "./decode.ts";
import { issuesText } from "../util/valibot-issues.ts";
import { spilledOriginalProblem } from "./claim-check.ts";

/** A poison record as received, with what is needed to settle it. */
export interface PoisonEntry {
  /** The poison queue's own message id: what `poison show|requeue --id` take. */
  id: string;
  popReceipt: string;
  /** When the record was put on the poison queue. */
  insertedOn?: Date;
  /** How often commands have claimed this record (not the task's delivery count). */
  reads: number;
  /** When this command's claim on the record ends (local clock, counted from before the request was sent). */
  claimEndsAt: number;
  /** The record, or why it cannot be read (written by something else, or not JSON). */
  record?: PoisonRecord;
  unreadable?: string;
}

/** What the original task says, for filters and output. */
export interface OriginalTask {
  text: string;
  decoded: DecodedMessage;
  pipelineId?: string;
  vaultId?: string;
  taskId?: string;
  executionId?: string;
}

export interface ScanOptions {
  /** At most this many records (default: all). */
  limit?: number;
  /** How long records stay claimed by this command (a PoisonClaimKeeper can renew them; see poison-claims.ts). */
  claimSeconds: number;
  /** Called with each page as it is received, before the next is asked for (to start keeping its claims). */
  onPage?: (entries: PoisonEntry[]) => void;
}

function parseEntry(m: {
  messageId: string;
  popReceipt: string;
  messageText: string;
  insertedOn?: Date;
  dequeueCount: number;
}, claimEndsAt: number): PoisonEntry {
  const base = {
    id: m.messageId,
    popReceipt: m.popReceipt,
    insertedOn: m.insertedOn,
    reads: m.dequeueCount,
    claimEndsAt,
  };
  let json: unknown;
  try {
    json = JSON.parse(m.messageText);
  } catch {
    return { ...base, unreadable: "not a JSON poison record" };
  }
  const parsed = v.safeParse(PoisonRecordSchema, json);
  if (!parsed.success) return { ...base, unreadable: `not a poison record: ${issuesText(parsed.issues)}` };
  return { ...base, record: parsed.output };
}

export class PoisonQueue {
  constructor(readonly queue: QueueClient, private readonly requestTimeoutMs = 30_000) {}

  private timeout() {
    return { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) };
  }

  /** Approximate number of records (cheap; what /metrics reports). */
  async depth(): Promise<number> {
    if (!(await this.queue.exists(this.timeout()))) return 0;
    return (await this.queue.getProperties(this.timeout())).approximateMessagesCount ?? 0;
  }

  /** Claims up to `limit` records (all by default), 32 per call, until the queue shows no more. */
  async scan(opts: ScanOptions): Promise<PoisonEntry[]> {
    if (!(await this.queue.exists(this.timeout()))) return [];
    const out: PoisonEntry[] = [];
    const limit = opts.limit ?? Number.POSITIVE_INFINITY;
    while (out.length < limit) {
      const claimEndsAt = Date.now() + opts.claimSeconds * 1000;
      const { receivedMessageItems } = await this.queue.receiveMessages({
        numberOfMessages: Math.min(32, limit - out.length),
        visibilityTimeout: opts.claimSeconds,
        ...this.timeout(),
      });
      if (receivedMessageItems.length === 0) break;
      const page = receivedMessageItems.map((m) => parseEntry(m, claimEndsAt));
      out.push(...page);
      opts.onPage?.(page);
    }
    return out;
  }

  /** Makes claimed records visible again at once (after list/show/dry runs); failures are reported, not thrown. */
  async release(entries: PoisonEntry[]): Promise<number> {
    let failed = 0;
    await Promise.all(entries.map(async (e) => {
      try {
        const r = await this.queue.updateMessage(e.id, e.popReceipt, undefined, 0, this.timeout());
        if (r.popReceipt) e.popReceipt = r.popReceipt;
      } catch {
        failed++;
      }
    }));
    return failed;
  }

  /** Claims a record this command holds for `claimSeconds` more from now (a new pop receipt). */
  async renew(entry: PoisonEntry, claimSeconds: number): Promise<void> {
    const claimEndsAt = Date.now() + claimSeconds * 1000;
    const r = await this.queue.updateMessage(entry.id, entry.popReceipt, undefined, claimSeconds, this.timeout());
    if (r.popReceipt) entry.popReceipt = r.popReceipt;
    entry.claimEndsAt = claimEndsAt;
  }

  /** Deletes a claimed record; a record already gone counts as deleted. */
  async delete(entry: PoisonEntry): Promise<void> {
    try {
      await this.queue.deleteMessage(entry.id, entry.popReceipt, this.timeout());
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
    }
  }

  /**
   * The original message text: in the record, or in the blob it was spilled to when it did not fit. That blob is
   * read only when its name is one the worker writes in `container` (CLAIM_CHECK_CONTAINER_NAME; claim-check.ts).
   */
  async originalText(record: PoisonRecord, blobs: () => BlobServiceClient, container: string): Promise<string> {
    if (!record.message_blob) return record.message;
    const problem = spilledOriginalProblem(record.message_blob, container);
    if (problem) throw new Error(problem);
    const { blob } = record.message_blob;
    const client = blobs().getContainerClient(container).getBlockBlobClient(blob);
    const buffer = await client.downloadToBuffer(0, undefined, { abortSignal: AbortSignal.timeout(60_000) });
    return buffer.toString("utf8");
  }
}

/** Ids of the original task, from the decoded message or, for unreadable ones, from the record. */
export function describeOriginal(text: string, record: PoisonRecord): OriginalTask {
  const decoded = decodeMessage(text);
  if (decoded.kind === "task") {
    const p = decoded.message.payload;
    return {
      text,
      decoded,
      pipelineId: p.pipeline_id,
      vaultId: p.vault_id ?? undefined,
      taskId: p.task_id,
      executionId: p.execution_id,
    };
  }
  if (decoded.kind === "claim-check") {
    const c = decoded.message.claim_check;
    return { text, decoded, taskId: c.task_id, executionId: c.execution_id };
  }
  return {
    text,
    decoded,
    taskId: decoded.taskId ?? record.task_id,
    executionId: decoded.executionId ?? record.execution_id,
  };
}

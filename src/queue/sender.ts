// Enqueues content_processing tasks as plain JSON text (what the Python source worker writes).
//
// A batch whose message would exceed the queue's 64 KiB limit is split into smaller messages (planTaskMessages,
// before any execution record exists: one record per message). A single item too large on its own is stored as
// a claim-check blob: the blob `<CLAIM_CHECK_CONTAINER_NAME>/tasks/<task_id>.json` holds the complete task
// message (`{"task_type":"content_processing","payload":{…}}`, valid against TaskMessageSchema) and the queue gets
// a ClaimCheckMessage naming it. Nothing is ever dropped. The processing side deletes the blob when done.
import { Buffer } from "node:buffer";
import type { QueueClient } from "@azure/storage-queue";
import type { BlobServiceClient } from "@azure/storage-blob";
import type { Content } from "../model/content.ts";
import type { Config } from "../config/schema.ts";
import { blobServiceClient } from "../executors/blob-clients.ts";
import { taskQueues } from "./clients.ts";
import { claimCheckBlobName as claimCheckBlobNameOf } from "./claim-check.ts";
import { type ClaimCheckMessage, QUEUE_MESSAGE_LIMIT_BYTES, type TaskMessage } from "../model/task-envelope.ts";
import { activeTraceparent } from "../telemetry/index.ts";

/**
 * Bytes the service counts for a message text. The SDK sends it inside XML, so `&`, `<` and `>` grow to entities;
 * counting them keeps us under the limit whichever form the service measures.
 */
export function queueTextBytes(text: string): number {
  let extra = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 38) extra += 4; // &amp;
    else if (c === 60 || c === 62) extra += 3; // &lt; &gt;
  }
  return Buffer.byteLength(text, "utf8") + extra;
}

export interface PlannedTask {
  message: TaskMessage;
  text: string;
  bytes: number;
  /** The message is over the limit with a single item: it goes to a claim-check blob. */
  claimCheck: boolean;
}

/**
 * Splits `items` into task messages that each fit in one queue message (greedy, order kept). `build` makes the
 * message for a group of items; ids it generates must have a fixed length (exec_/task_ + 12 hex).
 */
export function planTaskMessages(
  items: Content[],
  build: (items: Content[]) => TaskMessage,
  limit = QUEUE_MESSAGE_LIMIT_BYTES,
): PlannedTask[] {
  if (items.length === 0) return [];
  const plan = (group: Content[]): PlannedTask => {
    const message = build(group);
    const text = JSON.stringify(message);
    const bytes = queueTextBytes(text);
    return { message, text, bytes, claimCheck: bytes > limit };
  };
  // content:[a,b] = overhead of content:[] + each item + one comma between items.
  const overhead = queueTextBytes(JSON.stringify(build([])));
  const out: PlannedTask[] = [];
  let group: Content[] = [];
  let size = overhead;
  const flush = () => {
    if (group.length === 0) return;
    const planned = plan(group);
    if (planned.bytes > limit && group.length > 1) {
      // Only if the estimate was off (e.g. ids of different length): split in halves and plan again.
      const half = Math.ceil(group.length / 2);
      out.push(
        ...planTaskMessages(group.slice(0, half), build, limit),
        ...planTaskMessages(group.slice(half), build, limit),
      );
    } else {
      out.push(planned);
    }
    group = [];
    size = overhead;
  };
  for (const item of items) {
    const itemBytes = queueTextBytes(JSON.stringify(item));
    if (group.length > 0 && size + 1 + itemBytes > limit) flush();
    size += (group.length > 0 ? 1 : 0) + itemBytes;
    group.push(item);
  }
  flush();
  return out;
}

/** The claim-check blob of a task message (the name rule lives in claim-check.ts). */
export function claimCheckBlobName(message: TaskMessage): string {
  return claimCheckBlobNameOf(message.payload.task_id);
}

export interface SendResult {
  messageId: string;
  bytes: number;
  claimCheck?: { container: string; blob: string };
}

export interface TaskSenderDeps {
  queue?: QueueClient;
  blobService?: BlobServiceClient;
}

function isQueueNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e?.statusCode === 404 || e?.code === "QueueNotFound";
}

function isContainerNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e?.statusCode === 404 || e?.code === "ContainerNotFound";
}

/** A message text (a JSON object) with a top-level `traceparent` added as its last field. */
export function withTraceparent(text: string, traceparent: string): string {
  return `${text.slice(0, text.lastIndexOf("}"))},"traceparent":${JSON.stringify(traceparent)}}`;
}

export class TaskSender {
  readonly queue: QueueClient;
  private blobService?: BlobServiceClient;

  constructor(private readonly config: Config, deps: TaskSenderDeps = {}) {
    this.queue = deps.queue ?? taskQueues(config).tasks;
    this.blobService = deps.blobService;
  }

  get queueName(): string {
    return this.queue.name;
  }

  /**
   * Sends a planned task; over-limit single items go to a claim-check blob first. The envelope carries the active
   * span's traceparent when telemetry is on and the message still fits with it.
   */
  async send(planned: PlannedTask): Promise<SendResult> {
    const traceparent = activeTraceparent();
    if (!planned.claimCheck) {
      const traced = traceparent ? withTraceparent(planned.text, traceparent) : undefined;
      if (traced && queueTextBytes(traced) <= QUEUE_MESSAGE_LIMIT_BYTES) {
        return { messageId: await this.sendText(traced), bytes: queueTextBytes(traced) };
      }
      return { messageId: await this.sendText(planned.text), bytes: planned.bytes };
    }
    const container = this.config.CLAIM_CHECK_CONTAINER_NAME;
    const blob = claimCheckBlobName(planned.message);
    await this.uploadClaimCheck(container, blob, planned.text);
    const pointer: ClaimCheckMessage = {
      task_type: "content_processing",
      claim_check: {
        container,
        blob,
        task_id: planned.message.payload.task_id,
        execution_id: planned.message.payload.execution_id,
      },
      ...(traceparent ? { traceparent } : {}),
    };
    const text = JSON.stringify(pointer);
    let messageId: string;
    try {
      messageId = await this.sendText(text);
    } catch (err) {
      // No message points at the blob (its execution is marked failed by the caller): remove it again rather than
      // leave an orphan behind. Best effort; the send error is what the caller needs to see.
      await this.deleteClaimCheck(container, blob).catch(() => undefined);
      throw err;
    }
    return { messageId, bytes: queueTextBytes(text), claimCheck: { container, blob } };
  }

  private async deleteClaimCheck(containerName: string, blobName: string): Promise<void> {
    this.blobService ??= blobServiceClient(this.config);
    await this.blobService.getContainerClient(containerName).getBlobClient(blobName).deleteIfExists({
      abortSignal: AbortSignal.timeout(30_000),
    });
  }

  /** Sends a message text as it is (creating the queue if it is missing); returns the message id. */
  async sendText(text: string): Promise<string> {
    try {
      return (await this.queue.sendMessage(text)).messageId;
    } catch (err) {
      if (!isQueueNotFound(err)) throw err;
      await this.queue.createIfNotExists();
      return (await this.queue.sendMessage(text)).messageId;
    }
  }

  private async uploadClaimCheck(containerName: string, blobName: string, text: string): Promise<void> {
    this.blobService ??= blobServiceClient(this.config);
    const container = this.blobService.getContainerClient(containerName);
    const blob = container.getBlockBlobClient(blobName);
    const body = Buffer.from(text, "utf8");
    const options = { blobHTTPHeaders: { blobContentType: "application/json" } };
    try {
      await blob.uploadData(body, options);
    } catch (err) {
      if (!isContainerNotFound(err)) throw err;
      await container.createIfNotExists();
      await blob.uploadData(body, options);
    }
  }
}

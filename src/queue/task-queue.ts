// The task queue over @azure/storage-queue: receive under a hold (visibility timeout = hold), and moving a message to
// the poison queue. Settling a message (delete, retry delay) is on HeldMessage.
import type { QueueClient } from "@azure/storage-queue";
import type { TaskQueues } from "./clients.ts";
import { isQueueNotFound } from "./errors.ts";
import { HeldMessage, type HoldListener, type SettleOutcome } from "./held-message.ts";
import { fitsInQueueMessage, type PoisonRecord, poisonRecord, withMessagePrefix } from "./poison.ts";

/** The Get Messages API returns at most 32 messages per call. */
export const MAX_RECEIVE_BATCH = 32;

export interface TaskQueueOptions {
  holdSeconds: number;
  /** Time limit of one storage call; default 30 s. */
  requestTimeoutMs?: number;
  listener?: HoldListener;
  /** Stores the original text of a poison record too large for one message; returns where it went. */
  storeOversized?: (name: string, text: string) => Promise<{ container: string; blob: string }>;
}

export interface PoisonMeta {
  workerId: string;
  taskId?: string;
  executionId?: string;
}

export interface PoisonResult {
  record: PoisonRecord;
  /** How the message left the task queue ("lost": another consumer holds it now; it may come back). */
  outcome: SettleOutcome;
}

export class TaskQueue {
  readonly requestTimeoutMs: number;

  constructor(readonly queues: TaskQueues, private readonly opts: TaskQueueOptions) {
    this.requestTimeoutMs = opts.requestTimeoutMs ?? 30_000;
  }

  get name(): string {
    return this.queues.tasks.name;
  }

  get poisonName(): string {
    return this.queues.poison.name;
  }

  get holdSeconds(): number {
    return this.opts.holdSeconds;
  }

  private timeout(): { abortSignal: AbortSignal } {
    return { abortSignal: AbortSignal.timeout(this.requestTimeoutMs) };
  }

  /** Creates the task queue and the poison queue when they are missing. */
  async ensureQueues(): Promise<void> {
    await this.queues.tasks.createIfNotExists(this.timeout());
    await this.queues.poison.createIfNotExists(this.timeout());
  }

  /** Receives up to `max` messages (1-32), each hidden from other consumers for the hold. */
  async receive(max: number): Promise<HeldMessage[]> {
    const numberOfMessages = Math.min(MAX_RECEIVE_BATCH, Math.max(1, Math.floor(max)));
    const heldFrom = Date.now();
    const response = await this.queues.tasks.receiveMessages({
      numberOfMessages,
      visibilityTimeout: this.opts.holdSeconds,
      ...this.timeout(),
    });
    return response.receivedMessageItems.map((item) =>
      new HeldMessage(this.queues.tasks, item, {
        holdSeconds: this.opts.holdSeconds,
        requestTimeoutMs: this.requestTimeoutMs,
        listener: this.opts.listener,
        heldFrom,
      })
    );
  }

  /**
   * Writes a poison record (original text, reason, delivery count, worker, time, source queue) to the poison queue,
   * creating it if needed, then deletes the message from the task queue. The record is written first: a crash in
   * between leaves a duplicate record, never a lost message. Poison records never expire.
   */
  async poison(message: HeldMessage, reason: string, meta: PoisonMeta): Promise<PoisonResult> {
    message.stopRenewal();
    let record = poisonRecord({
      text: message.text,
      reason,
      dequeueCount: message.dequeueCount,
      workerId: meta.workerId,
      queue: this.name,
      messageId: message.id,
      insertedOn: message.insertedOn,
      taskId: meta.taskId,
      executionId: meta.executionId,
    });
    if (!fitsInQueueMessage(record)) record = await this.spill(record);
    await this.sendToPoison(JSON.stringify(record));
    return { record, outcome: await message.delete() };
  }

  private async spill(record: PoisonRecord): Promise<PoisonRecord> {
    if (this.opts.storeOversized) {
      try {
        const where = await this.opts.storeOversized(`poison/${this.name}/${record.message_id}.txt`, record.message);
        return withMessagePrefix(record, { message_blob: where });
      } catch {
        // Fall through: a record with the start of the text still says what happened.
      }
    }
    return withMessagePrefix(record, {});
  }

  private async sendToPoison(text: string): Promise<void> {
    const send = (q: QueueClient) => q.sendMessage(text, { messageTimeToLive: -1, ...this.timeout() });
    try {
      await send(this.queues.poison);
    } catch (err) {
      if (!isQueueNotFound(err)) throw err;
      await this.queues.poison.createIfNotExists(this.timeout());
      await send(this.queues.poison);
    }
  }
}

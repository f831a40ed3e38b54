// The task queue: leased receive, lease renewal with the newest pop receipt, delete, retry delay, poison.
import type { DequeuedMessageItem } from "@azure/storage-queue";
import type { TaskQueues } from "./clients.ts";
import type { Logger } from "../log/logger.ts";

/** A received message whose lease is renewed until it is settled. Operations on it are serialized. */
export class LeasedMessage {
  private popReceipt: string;
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: ReturnType<typeof setInterval>;
  settled = false;
  renewals = 0;

  constructor(
    private readonly queues: TaskQueues,
    readonly item: DequeuedMessageItem,
    private readonly leaseSeconds: number,
    private readonly onRenewal: (ok: boolean, err?: unknown) => void,
  ) {
    this.popReceipt = item.popReceipt;
  }

  get id(): string {
    return this.item.messageId;
  }
  get dequeueCount(): number {
    return this.item.dequeueCount;
  }

  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  /** Renew at half the lease while the task runs. */
  startRenewal(): void {
    this.timer = setInterval(() => {
      this.serial(async () => {
        if (this.settled) return;
        const r = await this.queues.tasks.updateMessage(this.id, this.popReceipt, undefined, this.leaseSeconds);
        this.popReceipt = r.popReceipt!;
        this.renewals++;
      }).then(() => this.onRenewal(true), (err) => this.onRenewal(false, err));
    }, Math.max(500, (this.leaseSeconds * 1000) / 2));
  }

  private stopRenewal(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  delete(): Promise<void> {
    this.stopRenewal();
    return this.serial(async () => {
      if (this.settled) return;
      this.settled = true;
      await this.queues.tasks.deleteMessage(this.id, this.popReceipt);
    });
  }

  /** Make the message visible again after `delaySeconds` (0 = at once). */
  release(delaySeconds: number): Promise<void> {
    this.stopRenewal();
    return this.serial(async () => {
      if (this.settled) return;
      this.settled = true;
      await this.queues.tasks.updateMessage(this.id, this.popReceipt, undefined, Math.max(0, Math.round(delaySeconds)));
    });
  }

  /** Copy to the poison queue with the reason, then delete from the task queue. */
  async poison(reason: string, workerId: string): Promise<void> {
    const record = {
      reason,
      dequeue_count: this.dequeueCount,
      worker_id: workerId,
      time: new Date().toISOString(),
      queue: this.queues.tasks.name,
      message_id: this.id,
      inserted_on: this.item.insertedOn?.toISOString(),
      message: this.item.messageText,
    };
    let text = JSON.stringify(record);
    if (Buffer.byteLength(text) > 60_000) text = JSON.stringify({ ...record, message: this.item.messageText.slice(0, 30_000), message_truncated: true });
    await this.queues.poison.sendMessage(text, { messageTimeToLive: -1 });
    await this.delete();
  }
}

export class TaskQueue {
  constructor(private readonly queues: TaskQueues, private readonly leaseSeconds: number, private readonly logger: Logger) {}

  get name(): string {
    return this.queues.tasks.name;
  }

  async ensureQueues(): Promise<void> {
    await this.queues.tasks.createIfNotExists();
    await this.queues.poison.createIfNotExists();
  }

  async receive(max: number, onRenewal: (ok: boolean, err?: unknown) => void): Promise<LeasedMessage[]> {
    const r = await this.queues.tasks.receiveMessages({ numberOfMessages: Math.min(32, Math.max(1, max)), visibilityTimeout: this.leaseSeconds });
    return r.receivedMessageItems.map((item) => new LeasedMessage(this.queues, item, this.leaseSeconds, onRenewal));
  }
}

/** Exponential backoff with ±20 % jitter. */
export function backoffMs(attempt: number, baseMs: number, maxMs: number, random = Math.random): number {
  const raw = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(raw * (0.8 + random() * 0.4));
}

// A received message held under a lease (its visibility timeout) until it is settled: deleted, or made visible
// again after a delay. The lease is renewed at half its length while the task runs. Every renewal returns a new pop
// receipt; renewals and settlements run one at a time, so a delete always uses the newest receipt
// (the bug class of Azure/azure-functions-host#1600).
// The lease is also tracked locally: when renewals keep failing, the message is given up (`lost` aborts, so the
// task is cancelled) a margin before the lease can run out, because after that another consumer may be running
// the same task. `held` says whether the lease is still safely ours, for checks right before committing a result.
import type { DequeuedMessageItem, QueueClient } from "@azure/storage-queue";
import { isLeaseLost, isTransientStorageError } from "./errors.ts";
import { sleep } from "../util/sleep.ts";

export type SettleOutcome =
  /** Done now. */
  | "settled"
  /** Someone settled it before (e.g. drain released it while the task was finishing). */
  | "already-settled"
  /** The message is no longer ours (lease expired and it was received again, or it is gone). */
  | "lost";

export interface LeaseListener {
  renewed?(message: LeasedMessage): void;
  /** `lost` = ownership is gone for good and renewal stops; otherwise it is retried sooner. */
  renewalFailed?(message: LeasedMessage, err: unknown, lost: boolean): void;
  /** The lease was about to run out without a successful renewal; the message is given up. */
  expired?(message: LeasedMessage): void;
}

export interface LeaseOptions {
  leaseSeconds: number;
  /** Time limit of one storage call (renew, delete, update). */
  requestTimeoutMs: number;
  listener?: LeaseListener;
  /** When the receive call that leased the message was sent (the lease counts from no earlier); default: now. */
  leasedAt?: number;
}

/** The lease on a message ran out (or was about to) before its task finished. */
export class LeaseExpiredError extends Error {
  override name = "LeaseExpiredError";
}

/** How long before the lease runs out a message is given up: a fifth of the lease, from 250 ms to 5 s. */
export function expiryMarginMs(leaseSeconds: number): number {
  return Math.min(5000, Math.max(250, (leaseSeconds * 1000) / 5));
}

const SETTLE_ATTEMPTS = 3;

export class LeasedMessage {
  readonly id: string;
  readonly dequeueCount: number;
  readonly text: string;
  readonly insertedOn?: Date;
  renewals = 0;
  private receipt: string;
  private state: "leased" | "settled" | "lost" = "leased";
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: ReturnType<typeof setTimeout>;
  private deadlineTimer?: ReturnType<typeof setTimeout>;
  /** The latest time the lease can run out (counted from when the receive or renewal was sent). */
  private leaseUntil: number;
  private readonly lostController = new AbortController();

  constructor(private readonly client: QueueClient, item: DequeuedMessageItem, private readonly opts: LeaseOptions) {
    this.id = item.messageId;
    this.dequeueCount = item.dequeueCount;
    this.text = item.messageText;
    this.insertedOn = item.insertedOn;
    this.receipt = item.popReceipt;
    this.leaseUntil = (opts.leasedAt ?? Date.now()) + opts.leaseSeconds * 1000;
  }

  /** The lease is ours and not about to run out: a result may still be committed on its behalf. */
  get held(): boolean {
    return this.state === "leased" && Date.now() < this.giveUpAt;
  }

  /** When the message is given up unless renewed before. */
  get giveUpAt(): number {
    return this.leaseUntil - expiryMarginMs(this.opts.leaseSeconds);
  }

  get popReceipt(): string {
    return this.receipt;
  }

  /** Settled by us or lost: nothing more can be done with it. */
  get settled(): boolean {
    return this.state !== "leased";
  }

  /** Aborted when the lease is lost (another consumer may be running the task now). */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  private get renewIntervalMs(): number {
    return Math.max(250, (this.opts.leaseSeconds * 1000) / 2);
  }

  /** Runs storage operations on this message one at a time, in call order. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private markLost(reason?: Error): void {
    if (this.state === "leased") this.state = "lost";
    this.stopRenewal();
    if (!this.lostController.signal.aborted) {
      this.lostController.abort(reason ?? new Error(`lease on message ${this.id} lost`));
    }
  }

  /** Gives the message up: the lease runs out within the margin and no renewal has succeeded. */
  private expire(): void {
    if (this.state !== "leased") return;
    this.markLost(
      new LeaseExpiredError(
        `lease on message ${this.id} about to run out (no successful renewal); its task is abandoned`,
      ),
    );
    this.opts.listener?.expired?.(this);
  }

  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    if (this.state !== "leased") return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      if (Date.now() >= this.giveUpAt) this.expire();
      else this.armDeadline();
    }, Math.max(0, this.giveUpAt - Date.now()));
  }

  startRenewal(): void {
    if (this.state !== "leased") return;
    if (!this.timer) this.schedule(this.renewIntervalMs);
    if (!this.deadlineTimer) this.armDeadline();
  }

  stopRenewal(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
  }

  private schedule(ms: number): void {
    this.timer = setTimeout(() => void this.renewTick(), ms);
  }

  private async renewTick(): Promise<void> {
    this.timer = undefined;
    try {
      await this.renew();
      if (this.state === "leased") this.schedule(this.renewIntervalMs);
    } catch (err) {
      const lost = isLeaseLost(err);
      this.opts.listener?.renewalFailed?.(this, err, lost);
      // A failed renewal is tried again sooner, so one slow call does not let the lease run out.
      if (!lost && this.state === "leased") this.schedule(Math.max(250, this.renewIntervalMs / 2));
    }
  }

  /** Extends the lease by its full length from now; keeps the new pop receipt. */
  renew(): Promise<void> {
    return this.serial(async () => {
      if (this.state !== "leased") return;
      if (Date.now() >= this.giveUpAt) {
        this.expire();
        throw this.lost.reason;
      }
      const sentAt = Date.now();
      try {
        const r = await this.client.updateMessage(this.id, this.receipt, undefined, this.opts.leaseSeconds, {
          abortSignal: AbortSignal.timeout(this.opts.requestTimeoutMs),
        });
        if (r.popReceipt) this.receipt = r.popReceipt;
        this.renewals++;
        if (this.state === "leased") {
          this.leaseUntil = sentAt + this.opts.leaseSeconds * 1000;
          if (this.deadlineTimer) this.armDeadline();
        }
      } catch (err) {
        if (isLeaseLost(err)) this.markLost();
        throw err;
      }
      this.opts.listener?.renewed?.(this);
    });
  }

  /** Removes the message from the queue (the task is done or moved to the poison queue). */
  delete(): Promise<SettleOutcome> {
    this.stopRenewal();
    return this.settle(() =>
      this.client.deleteMessage(this.id, this.receipt, { abortSignal: AbortSignal.timeout(this.opts.requestTimeoutMs) })
    );
  }

  /** Makes the message visible again after `delaySeconds` (0 = at once); its next receive counts a delivery. */
  retryAfter(delaySeconds: number): Promise<SettleOutcome> {
    this.stopRenewal();
    const seconds = Math.max(0, Math.round(delaySeconds));
    return this.settle(() =>
      this.client.updateMessage(this.id, this.receipt, undefined, seconds, {
        abortSignal: AbortSignal.timeout(this.opts.requestTimeoutMs),
      })
    );
  }

  private settle(op: () => Promise<unknown>): Promise<SettleOutcome> {
    return this.serial(async () => {
      if (this.state === "leased" && Date.now() >= this.giveUpAt) this.expire();
      if (this.state === "lost") return "lost";
      if (this.state === "settled") return "already-settled";
      for (let attempt = 1;; attempt++) {
        try {
          await op();
          this.state = "settled";
          return "settled";
        } catch (err) {
          if (isLeaseLost(err)) {
            this.markLost();
            return "lost";
          }
          if (!isTransientStorageError(err) || attempt >= SETTLE_ATTEMPTS) throw err;
          await sleep(200 * 3 ** (attempt - 1));
        }
      }
    });
  }
}

// A received message, held (invisible to other consumers for its visibility timeout: the hold) until it is settled:
// deleted, or made visible again after a delay. The hold is renewed every third of its length while the task runs
// (a renewal then has more than a quarter of the hold to answer before the message is given up, below). Every
// renewal returns a new pop receipt; renewals and settlements run one at a time, so a delete always uses the newest
// receipt (the bug class of Azure/azure-functions-host#1600).
// The hold is also tracked locally: when renewals keep failing, the message is given up (`lost` aborts, so the
// task is cancelled) a margin before the hold can run out, because after that another consumer may be running
// the same task. `held` says whether the hold is still safely ours, for checks right before committing a result.
// ("Hold" is the message's invisibility window; "claim" a poison record a command works on; "lease" the crawl lock.)
import type { DequeuedMessageItem, QueueClient } from "@azure/storage-queue";
import { isHoldLost, isTransientStorageError } from "./errors.ts";
import { sleep } from "../util/sleep.ts";

export type SettleOutcome =
  /** Done now. */
  | "settled"
  /** Someone settled it before (e.g. drain released it while the task was finishing). */
  | "already-settled"
  /** The message is no longer ours (its hold expired and it was received again, or it is gone). */
  | "lost";

export interface HoldListener {
  renewed?(message: HeldMessage): void;
  /** `lost` = ownership is gone for good and renewal stops; otherwise it is retried sooner. */
  renewalFailed?(message: HeldMessage, err: unknown, lost: boolean): void;
  /** The hold was about to run out without a successful renewal; the message is given up. */
  expired?(message: HeldMessage): void;
}

export interface HoldOptions {
  holdSeconds: number;
  /** Time limit of one storage call (renew, delete, update). */
  requestTimeoutMs: number;
  listener?: HoldListener;
  /** When the receive call that took the message was sent (the hold counts from no earlier); default: now. */
  heldFrom?: number;
}

/** The hold on a message ran out (or was about to) before its task finished. */
export class HoldExpiredError extends Error {
  override name = "HoldExpiredError";
}

/** How long before the hold runs out a message is given up: a fifth of the hold, from 250 ms to 5 s. */
export function expiryMarginMs(holdSeconds: number): number {
  return Math.min(5000, Math.max(250, (holdSeconds * 1000) / 5));
}

const SETTLE_ATTEMPTS = 3;

export class HeldMessage {
  readonly id: string;
  readonly dequeueCount: number;
  readonly text: string;
  readonly insertedOn?: Date;
  renewals = 0;
  private receipt: string;
  private state: "held" | "settled" | "lost" = "held";
  private chain: Promise<unknown> = Promise.resolve();
  private timer?: ReturnType<typeof setTimeout>;
  private deadlineTimer?: ReturnType<typeof setTimeout>;
  /** The latest time the hold can run out (counted from when the receive or renewal was sent). */
  private holdUntil: number;
  private readonly lostController = new AbortController();

  constructor(private readonly client: QueueClient, item: DequeuedMessageItem, private readonly opts: HoldOptions) {
    this.id = item.messageId;
    this.dequeueCount = item.dequeueCount;
    this.text = item.messageText;
    this.insertedOn = item.insertedOn;
    this.receipt = item.popReceipt;
    this.holdUntil = (opts.heldFrom ?? Date.now()) + opts.holdSeconds * 1000;
  }

  /** The hold is ours and not about to run out: a result may still be committed on its behalf. */
  get held(): boolean {
    return this.state === "held" && Date.now() < this.giveUpAt;
  }

  /** When the message is given up unless renewed before. */
  get giveUpAt(): number {
    return this.holdUntil - expiryMarginMs(this.opts.holdSeconds);
  }

  get popReceipt(): string {
    return this.receipt;
  }

  /** Settled by us or lost: nothing more can be done with it. */
  get settled(): boolean {
    return this.state !== "held";
  }

  /** Aborted when the hold is lost (another consumer may be running the task now). */
  get lost(): AbortSignal {
    return this.lostController.signal;
  }

  private get renewIntervalMs(): number {
    return Math.max(250, (this.opts.holdSeconds * 1000) / 3);
  }

  /** Time until the next renewal is due: a third of the hold after the one in force began (as estimated), so a
   * receive or renewal that was slow to answer is followed up sooner. */
  private get renewDueInMs(): number {
    const holdMs = this.opts.holdSeconds * 1000;
    return Math.max(0, this.holdUntil - holdMs + this.renewIntervalMs - Date.now());
  }

  /** Runs storage operations on this message one at a time, in call order. */
  private serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.chain.then(op, op);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private markLost(reason?: Error): void {
    if (this.state === "held") this.state = "lost";
    this.stopRenewal();
    if (!this.lostController.signal.aborted) {
      this.lostController.abort(reason ?? new Error(`lease on message ${this.id} lost`));
    }
  }

  /** Gives the message up: the hold runs out within the margin and no renewal has succeeded. */
  private expire(): void {
    if (this.state !== "held") return;
    this.markLost(
      new HoldExpiredError(
        `lease on message ${this.id} about to run out (no successful renewal); its task is abandoned`,
      ),
    );
    this.opts.listener?.expired?.(this);
  }

  private armDeadline(): void {
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    if (this.state !== "held") return;
    this.deadlineTimer = setTimeout(() => {
      this.deadlineTimer = undefined;
      if (Date.now() >= this.giveUpAt) this.expire();
      else this.armDeadline();
    }, Math.max(0, this.giveUpAt - Date.now()));
  }

  startRenewal(): void {
    if (this.state !== "held") return;
    if (!this.timer) this.schedule(this.renewDueInMs);
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
      if (this.state === "held") this.schedule(this.renewDueInMs);
    } catch (err) {
      const lost = isHoldLost(err);
      this.opts.listener?.renewalFailed?.(this, err, lost);
      // A failed renewal is tried again sooner, so one slow call does not let the hold run out.
      if (!lost && this.state === "held") this.schedule(Math.max(250, this.renewIntervalMs / 2));
    }
  }

  /** Extends the hold by its full length from now; keeps the new pop receipt. */
  renew(): Promise<void> {
    return this.serial(async () => {
      if (this.state !== "held") return;
      if (Date.now() >= this.giveUpAt) {
        this.expire();
        throw this.lost.reason;
      }
      const sentAt = Date.now();
      try {
        const r = await this.client.updateMessage(this.id, this.receipt, undefined, this.opts.holdSeconds, {
          abortSignal: AbortSignal.timeout(this.opts.requestTimeoutMs),
        });
        if (r.popReceipt) this.receipt = r.popReceipt;
        this.renewals++;
        if (this.state === "held") {
          this.holdUntil = sentAt + this.opts.holdSeconds * 1000;
          if (this.deadlineTimer) this.armDeadline();
        }
      } catch (err) {
        if (isHoldLost(err)) this.markLost();
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
      if (this.state === "held" && Date.now() >= this.giveUpAt) this.expire();
      if (this.state === "lost") return "lost";
      if (this.state === "settled") return "already-settled";
      for (let attempt = 1;; attempt++) {
        try {
          await op();
          this.state = "settled";
          return "settled";
        } catch (err) {
          if (isHoldLost(err)) {
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

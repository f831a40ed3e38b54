// Keeps a crawl lease alive: renews it every third of the TTL (If-Match) and aborts `signal` the moment the lease
// is lost (412/404 on renew) or could not be renewed before it would expire by this process's own monotonic
// clock (a safety margin before the TTL, so a slow or paused renew never leaves two holders acting at once).
import type { Logger } from "../../log/logger.ts";
import { type Lease, LeaseLostError, type LeaseStore } from "../../store/leases.ts";

/** A second lock held for the same crawl (the Python worker's pipeline lock), refreshed and released with ours. */
export interface CompanionLock {
  /** Throws LeaseLostError when it was taken or deleted. */
  refresh(): Promise<void>;
  release(): Promise<boolean>;
}

export interface LeaseKeeperOptions {
  logger: Logger;
  /** Called once when the lease is lost (after `signal` is aborted). */
  onLost?: (err: LeaseLostError) => void;
  /** Refreshed after every renewal (the deadline counts only when both succeeded), released before ours. */
  companion?: CompanionLock;
}

export class LeaseKeeper {
  private readonly controller = new AbortController();
  private lease: Lease;
  private renewTimer?: ReturnType<typeof setTimeout>;
  private deadlineTimer?: ReturnType<typeof setTimeout>;
  /** Renewals run one at a time: each is conditional on the etag the previous one returned. */
  private chain: Promise<unknown> = Promise.resolve();
  private stopped = false;
  private lostError?: LeaseLostError;

  constructor(private readonly store: LeaseStore, lease: Lease, private readonly opts: LeaseKeeperOptions) {
    this.lease = lease;
  }

  /** Aborted (reason: LeaseLostError) when the lease is lost. */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  get current(): Lease {
    return this.lease;
  }

  get lost(): LeaseLostError | undefined {
    return this.lostError;
  }

  private get ttlMs(): number {
    return this.store.ttlSeconds * 1000;
  }

  /** Start renewing; `acquiredAt` is the monotonic time (performance.now()) the acquire request was sent. */
  start(acquiredAt: number): void {
    this.armDeadline(acquiredAt);
    this.scheduleRenew(this.ttlMs / 3);
  }

  /** Renews now; throws LeaseLostError when the lease is gone. Used right before the checkpoint is written. */
  async confirm(): Promise<Lease> {
    await this.enqueueRenew();
    if (this.lostError) throw this.lostError;
    return this.lease;
  }

  /** Stops renewing and releases the lease if it is still ours. Returns whether it was released. */
  async stopAndRelease(opts: { crawlCompleted?: boolean } = {}): Promise<boolean> {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    await this.chain.catch(() => {});
    if (this.lostError) return false;
    try {
      await this.opts.companion?.release();
    } catch (err) {
      this.opts.logger.warn("could not release the companion lock; it will expire", { err });
    }
    try {
      return await this.store.release(this.lease, opts);
    } catch (err) {
      // The lease then simply expires; nothing is lost, failover is only slower.
      this.opts.logger.warn("could not release the crawl lease; it will expire", { lease_id: this.lease.id, err });
      return false;
    }
  }

  private armDeadline(sentAt: number): void {
    clearTimeout(this.deadlineTimer);
    const margin = Math.max(1000, this.ttlMs / 10);
    const remaining = sentAt + this.ttlMs - margin - performance.now();
    this.deadlineTimer = setTimeout(() => {
      this.lose(new LeaseLostError(this.lease.id, "not renewed in time; it may expire before this worker notices"));
    }, Math.max(0, remaining));
  }

  private scheduleRenew(delayMs: number): void {
    if (this.stopped || this.lostError) return;
    clearTimeout(this.renewTimer);
    this.renewTimer = setTimeout(() => {
      this.enqueueRenew().catch(() => {});
    }, delayMs);
  }

  private enqueueRenew(): Promise<void> {
    const next = this.chain.then(() => this.renewOnce());
    this.chain = next.catch(() => {});
    return next;
  }

  private async renewOnce(): Promise<void> {
    if (this.stopped || this.lostError) return;
    const sentAt = performance.now();
    try {
      this.lease = await this.store.renew(this.lease);
      await this.opts.companion?.refresh();
      this.armDeadline(sentAt);
      this.scheduleRenew(this.ttlMs / 3);
    } catch (err) {
      if (err instanceof LeaseLostError) {
        this.lose(err);
        return;
      }
      // Transient (network, throttling): try again soon; the deadline timer aborts if it never succeeds.
      this.opts.logger.warn("crawl lease renewal failed; retrying", { lease_id: this.lease.id, err });
      this.scheduleRenew(Math.min(this.ttlMs / 6, 2000));
    }
  }

  private lose(err: LeaseLostError): void {
    if (this.lostError || this.stopped) return;
    this.lostError = err;
    clearTimeout(this.renewTimer);
    clearTimeout(this.deadlineTimer);
    this.controller.abort(err);
    this.opts.onLost?.(err);
  }
}

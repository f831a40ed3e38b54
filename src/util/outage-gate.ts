// An outage of something the worker depends on (Cosmos DB, the task queue), remembered between calls: the first
// failure opens the outage (log it once), every failure can mark the worker not ready, and the wait before looking
// again doubles from `firstDelayMs` up to `maxDelayMs`. While it is down, callers stop taking new work
// (`waitUntilUp`) so an outage does not use up every task's retries; the first success closes it.
import { sleep as defaultSleep } from "./sleep.ts";

export interface OutageListener {
  /** The first failure of an outage. */
  down?(err: unknown): void;
  /** Every failure noted while down, the first included; `failures` counts them within this outage. */
  failed?(err: unknown, failures: number): void;
  /** Reachable again after `downMs`. */
  up?(downMs: number): void;
}

export interface OutageGateOptions {
  firstDelayMs: number;
  maxDelayMs: number;
  listener?: OutageListener;
  /** Clock in milliseconds (tests). */
  now?: () => number;
  /** How to wait (tests). */
  sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
}

interface Outage {
  since: number;
  delayMs: number;
  failures: number;
}

export class OutageGate {
  private outage?: Outage;
  private readonly now: () => number;
  private readonly sleep: (ms: number, signal: AbortSignal) => Promise<void>;

  constructor(private readonly opts: OutageGateOptions) {
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? defaultSleep;
  }

  get isDown(): boolean {
    return this.outage !== undefined;
  }

  /** Failures noted in the current outage (0 when up). */
  get failures(): number {
    return this.outage?.failures ?? 0;
  }

  /** A call failed because the dependency is unreachable. */
  noteFailure(err: unknown): void {
    let outage = this.outage;
    if (!outage) {
      outage = this.outage = { since: this.now(), delayMs: this.opts.firstDelayMs, failures: 0 };
      this.opts.listener?.down?.(err);
    }
    outage.failures++;
    this.opts.listener?.failed?.(err, outage.failures);
  }

  /** A call succeeded: the outage, if any, is over. */
  noteSuccess(): void {
    const outage = this.outage;
    if (!outage) return;
    this.outage = undefined;
    this.opts.listener?.up?.(this.now() - outage.since);
  }

  /** While down: how long to wait before looking again; each call doubles the next (up to the maximum). */
  nextDelayMs(): number {
    const outage = this.outage;
    if (!outage) return 0;
    const delay = outage.delayMs;
    outage.delayMs = Math.min(outage.delayMs * 2, this.opts.maxDelayMs);
    return delay;
  }

  /**
   * Resolves at once when up; otherwise waits, calls `probe`, and repeats until a probe succeeds or `signal`
   * aborts. A failed probe counts as a failure of the outage.
   */
  async waitUntilUp(probe: () => Promise<unknown>, signal: AbortSignal): Promise<void> {
    while (this.outage && !signal.aborted) {
      await this.sleep(this.nextDelayMs(), signal);
      if (signal.aborted) return;
      try {
        await probe();
        this.noteSuccess();
      } catch (err) {
        this.noteFailure(err);
      }
    }
  }
}

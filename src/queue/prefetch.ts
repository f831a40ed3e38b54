// Messages received ahead of free task slots, so one receive call brings a full batch (up to 32) instead of only as
// many messages as slots are free. A message waiting here is held like a running one: its hold is renewed from
// the moment it is received (HeldMessage.startRenewal), so its visibility cannot run out before it starts.
// Holding a message keeps it from other consumers, so the buffer is bounded by what this worker can start soon: the
// messages it starts within a short horizon at the pace of its recent tasks (none while that pace is unknown, and
// none for tasks that take longer than the horizon). A message that still waits after `maxWaitMs` (the pace fell)
// is handed back to the queue at once.
import type { HeldMessage } from "./held-message.ts";

/** Average duration of recent tasks: an exponentially weighted mean (each new task weighs a fifth). */
export class TaskPace {
  private mean?: number;

  note(durationMs: number): void {
    const d = Math.max(0, durationMs);
    this.mean = this.mean === undefined ? d : this.mean * 0.8 + d * 0.2;
  }

  /** Forgets the pace (it proved wrong): no buffering until the next task finishes. */
  reset(): void {
    this.mean = undefined;
  }

  /** Undefined until a task has finished. */
  get averageMs(): number | undefined {
    return this.mean;
  }
}

/**
 * How many messages may wait for a slot: those `concurrency` slots start within `horizonMs` when tasks take
 * `averageTaskMs` each (0 while no task has finished), at most `maxBuffered`.
 */
export function prefetchLimit(
  averageTaskMs: number | undefined,
  concurrency: number,
  horizonMs: number,
  maxBuffered: number,
): number {
  if (averageTaskMs === undefined || horizonMs <= 0) return 0;
  const startable = Math.floor((horizonMs * concurrency) / Math.max(1, averageTaskMs));
  return Math.max(0, Math.min(maxBuffered, startable));
}

interface Waiting {
  message: HeldMessage;
  since: number;
}

/** First in, first out; one timer for the whole buffer, armed for the oldest message's longest wait. */
export class PrefetchBuffer {
  private waiting: Waiting[] = [];
  private timer?: ReturnType<typeof setTimeout>;

  /** `stale` receives the messages that waited `maxWaitMs` (removed from the buffer, to be released). */
  constructor(private readonly maxWaitMs: number, private readonly stale: (messages: HeldMessage[]) => void) {}

  get size(): number {
    return this.waiting.length;
  }

  push(message: HeldMessage): void {
    this.waiting.push({ message, since: Date.now() });
    if (!this.timer) this.arm();
  }

  /** The next message whose hold is still safely ours; messages lost or about to run out are dropped. */
  take(): HeldMessage | undefined {
    for (let next = this.waiting.shift(); next; next = this.waiting.shift()) {
      if (next.message.held) return next.message;
      next.message.stopRenewal(); // lost, or given up: it comes back to the queue when its hold ends
    }
    this.disarm();
    return undefined;
  }

  /** Empties the buffer (drain, paused intake). */
  takeAll(): HeldMessage[] {
    const all = this.waiting.map((w) => w.message);
    this.waiting = [];
    this.disarm();
    return all;
  }

  private arm(): void {
    const oldest = this.waiting[0];
    if (!oldest) return;
    this.timer = setTimeout(() => this.sweep(), Math.max(0, oldest.since + this.maxWaitMs - Date.now()));
  }

  private disarm(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  private sweep(): void {
    this.timer = undefined;
    const cutoff = Date.now() - this.maxWaitMs;
    let n = 0;
    while (n < this.waiting.length && this.waiting[n].since <= cutoff) n++;
    const old = this.waiting.splice(0, n).map((w) => w.message);
    this.arm();
    if (old.length > 0) this.stale(old);
  }
}

// Delays of the task queue: the retry delay of a failed task (from its dequeue count) and the wait between polls
// of an empty queue (Azure Functions' randomized exponential strategy: fast while messages flow, up to a cap).
import { exponentialDelay, withJitter } from "../util/backoff.ts";

/** Jitter in [0.8, 1.2), as in Azure Functions' RandomizedExponentialBackoffStrategy. */
const JITTER_LOW = 0.8, JITTER_WIDTH = 0.4;

/**
 * Seconds before a failed task is visible again: base × 2^(deliveries − 1) with ±20 % jitter, at most `maxSeconds`.
 * Whole seconds, because that is what the queue's visibility timeout takes.
 */
export function retryDelaySeconds(
  dequeueCount: number,
  baseSeconds: number,
  maxSeconds: number,
  random: () => number = Math.random,
): number {
  if (baseSeconds <= 0 || maxSeconds <= 0) return 0;
  const raw = exponentialDelay(baseSeconds, dequeueCount - 1, maxSeconds);
  return Math.max(0, Math.min(maxSeconds, Math.round(withJitter(raw, JITTER_LOW, JITTER_WIDTH, random))));
}

/**
 * Wait before the next poll of an empty queue. Starts at `minMs` after messages were seen and grows
 * min + jitter × 2^(n−1) × min per empty poll until it reaches `maxMs` (then stays there).
 */
export class IdleBackoff {
  private exponent = 0;

  constructor(
    private readonly minMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** Messages were received: poll again at once, and start from the minimum after the next empty poll. */
  reset(): void {
    this.exponent = 0;
  }

  /** The poll came back empty: how long to wait before the next one. */
  next(): number {
    const growth = exponentialDelay(this.minMs, this.exponent, Infinity);
    const wait = Math.min(this.maxMs, this.minMs + withJitter(growth, JITTER_LOW, JITTER_WIDTH, this.random));
    if (wait < this.maxMs) this.exponent++;
    return Math.round(wait);
  }
}

// The exponential backoff formula and its jitter, for every retry and restart delay: failed tasks and empty-queue
// polls (queue/backoff.ts), crash-looping children (supervisor), failed crawls (source/schedule.ts), and the retries
// of the http and AI executors. Each caller keeps its own units, cap and jitter range.

/** `first` × factor^step (step below 0 counts as 0), at most `max`; 0 when `first` is not positive. */
export function exponentialDelay(first: number, step: number, max: number, factor = 2): number {
  if (!(first > 0)) return 0;
  return Math.min(max, first * factor ** Math.max(0, step));
}

/** `value` × a random factor in [low, low + width): e.g. (0.8, 0.4) spreads a delay by ±20 %. */
export function withJitter(value: number, low: number, width: number, random: () => number = Math.random): number {
  return value * (low + width * random());
}

// A bounded number of task sends (record, then message) under way at once during a crawl. Each send keeps its own
// order (the record is written before its message); sends of different tasks overlap, so a crawl is not one round
// trip after another. The first failure is kept: no new send starts after it, and it is thrown by the next add()
// or by settle(), once the sends already under way have finished (each of them either queued its task or failed).

/** Task sends a crawl keeps under way at once. */
export const CRAWL_SENDS_IN_FLIGHT = 8;

export class SendWindow {
  private readonly running = new Set<Promise<void>>();
  private failure: { err: unknown } | undefined;

  constructor(private readonly limit = CRAWL_SENDS_IN_FLIGHT) {}

  /**
   * Waits for a free slot, then starts `send`. Throws instead of starting: the first failure of an earlier send, or
   * the reason of `stop` once it is aborted (checked again after the wait).
   */
  async add(send: () => Promise<void>, stop?: AbortSignal): Promise<void> {
    this.throwIfFailed();
    stop?.throwIfAborted();
    while (this.running.size >= this.limit) {
      await Promise.race(this.running);
      this.throwIfFailed();
      stop?.throwIfAborted();
    }
    const run: Promise<void> = send()
      .catch((err) => {
        this.failure ??= { err };
      })
      .finally(() => this.running.delete(run));
    this.running.add(run);
  }

  /** Waits until every started send has finished; then throws the first failure, if any. */
  async settle(): Promise<void> {
    await this.drain();
    this.throwIfFailed();
  }

  /** Waits until every started send has finished, without throwing (the crawl already stopped for a reason). */
  async drain(): Promise<void> {
    while (this.running.size > 0) await Promise.all(this.running);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.err;
  }
}

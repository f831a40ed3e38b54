// Who may run at the same time in one processing worker. Tasks normally run side by side (shared). A task whose
// earlier run never ended — its worker was killed as hung or crashed with it and others in flight — runs alone
// (exclusive): it waits until the tasks running now have finished, and no other task starts until it is done. If
// the worker is killed again while it runs, nobody else is hurt and the kill is the task's own (failure-policy.ts).
// Requests are served in arrival order, so a waiting exclusive run is not starved by a stream of shared ones.

interface Waiter {
  exclusive: boolean;
  grant: () => void;
}

export class RunGate {
  private shared = 0;
  private exclusive = false;
  private readonly queue: Waiter[] = [];

  /** Tasks running now (shared or the exclusive one). */
  get running(): number {
    return this.shared + (this.exclusive ? 1 : 0);
  }

  /** Tasks waiting for their turn. */
  get waiting(): number {
    return this.queue.length;
  }

  /**
   * Resolves with a release function once the task may run; rejects with the signal's reason if it aborts while
   * waiting. Release exactly once.
   */
  acquire(exclusive: boolean, signal: AbortSignal): Promise<() => void> {
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const onAbort = () => {
        const at = this.queue.indexOf(waiter);
        if (at >= 0) this.queue.splice(at, 1);
        this.pump(); // an exclusive waiter that gives up may unblock shared ones behind it
        reject(signal.reason);
      };
      const waiter: Waiter = {
        exclusive,
        grant: () => {
          signal.removeEventListener("abort", onAbort);
          resolve(this.releaser(exclusive));
        },
      };
      this.queue.push(waiter);
      signal.addEventListener("abort", onAbort, { once: true });
      this.pump();
    });
  }

  private releaser(exclusive: boolean): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      if (exclusive) this.exclusive = false;
      else this.shared--;
      this.pump();
    };
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0];
      if (this.exclusive) return;
      if (head.exclusive && this.shared > 0) return;
      this.queue.shift();
      if (head.exclusive) this.exclusive = true;
      else this.shared++;
      head.grant();
    }
  }
}

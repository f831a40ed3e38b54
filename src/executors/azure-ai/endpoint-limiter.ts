// At most N calls at once to one service endpoint (scheme + host + port) per worker process, whatever executor or
// pipeline makes them: several pipelines sharing an Azure resource must not multiply its load. Waiting callers are
// served in order and leave the queue when their signal aborts.

export const DEFAULT_CALLS_PER_ENDPOINT = 8;

interface Waiter {
  grant: () => void;
}

class Semaphore {
  private active = 0;
  private readonly waiting: Waiter[] = [];

  constructor(private readonly limit: number) {}

  acquire(signal?: AbortSignal): Promise<() => void> {
    signal?.throwIfAborted();
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      const next = this.waiting.shift();
      if (next) next.grant();
      else this.active--;
    };
    if (this.active < this.limit) {
      this.active++;
      return Promise.resolve(release);
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        grant: () => {
          signal?.removeEventListener("abort", onAbort);
          resolve(release);
        },
      };
      const onAbort = () => {
        const i = this.waiting.indexOf(waiter);
        if (i >= 0) this.waiting.splice(i, 1);
        reject(signal!.reason);
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  get inUse(): number {
    return this.active;
  }
}

const semaphores = new Map<string, Semaphore>();

function endpointKey(url: string): string {
  return new URL(url).origin.toLowerCase();
}

/** Waits for a free slot for `url`'s endpoint; call the returned function once the call is over. */
export function acquireEndpointSlot(
  url: string,
  signal?: AbortSignal,
  limit = DEFAULT_CALLS_PER_ENDPOINT,
): Promise<() => void> {
  const key = endpointKey(url);
  let semaphore = semaphores.get(key);
  if (!semaphore) {
    semaphore = new Semaphore(limit);
    semaphores.set(key, semaphore);
  }
  return semaphore.acquire(signal);
}

/** Calls in flight to `url`'s endpoint (for tests and diagnostics). */
export function endpointCallsInFlight(url: string): number {
  return semaphores.get(endpointKey(url))?.inUse ?? 0;
}

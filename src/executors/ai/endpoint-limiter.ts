// Bounds the calls one worker process makes at once to the same Azure AI endpoint (AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT).
// Every executor of every pipeline in the process shares one queue per endpoint origin, so a pipeline with three AI
// executors of max_concurrent 10 still sends at most the configured number of requests to that resource. Waiters are
// served first come, first served; a waiter whose signal aborts leaves the queue at once.

export type ReleaseSlot = () => void;

interface Waiter {
  grant: (release: ReleaseSlot) => void;
  signal?: AbortSignal;
  onAbort?: () => void;
}

/** A counting semaphore whose limit may be changed while in use (new limits apply to the next grants). */
export class ConcurrencyGate {
  private active = 0;
  private readonly waiters: Waiter[] = [];

  constructor(private limitValue: number) {
    if (!(limitValue >= 1)) throw new RangeError("the concurrency limit must be at least 1");
  }

  get limit(): number {
    return this.limitValue;
  }

  set limit(value: number) {
    if (!(value >= 1)) throw new RangeError("the concurrency limit must be at least 1");
    this.limitValue = value;
    this.pump();
  }

  /** Calls holding a slot now. */
  get inUse(): number {
    return this.active;
  }

  /** Calls waiting for a slot now. */
  get waiting(): number {
    return this.waiters.length;
  }

  /** Resolves with a release function once a slot is free; rejects with the signal's reason if it aborts first. */
  acquire(signal?: AbortSignal): Promise<ReleaseSlot> {
    if (signal?.aborted) return Promise.reject(signal.reason ?? new Error("aborted"));
    if (this.active < this.limitValue && this.waiters.length === 0) {
      this.active++;
      return Promise.resolve(this.releaser());
    }
    return new Promise<ReleaseSlot>((resolve, reject) => {
      const waiter: Waiter = { grant: resolve, signal };
      if (signal) {
        waiter.onAbort = () => {
          const at = this.waiters.indexOf(waiter);
          if (at >= 0) this.waiters.splice(at, 1);
          reject(signal.reason ?? new Error("aborted"));
        };
        signal.addEventListener("abort", waiter.onAbort, { once: true });
      }
      this.waiters.push(waiter);
    });
  }

  private releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.active--;
      this.pump();
    };
  }

  private pump(): void {
    while (this.active < this.limitValue && this.waiters.length > 0) {
      const waiter = this.waiters.shift()!;
      if (waiter.onAbort) waiter.signal?.removeEventListener("abort", waiter.onAbort);
      this.active++;
      waiter.grant(this.releaser());
    }
  }
}

const gates = new Map<string, ConcurrencyGate>();

/** The key calls are counted under: the endpoint's origin (scheme, host and port), lower case. */
export function endpointKey(endpoint: string): string {
  return new URL(endpoint).origin.toLowerCase();
}

/** The process-wide gate of an endpoint; `limit` (the current setting) replaces the gate's previous limit. */
export function endpointGate(endpoint: string, limit: number): ConcurrencyGate {
  const key = endpointKey(endpoint);
  let gate = gates.get(key);
  if (!gate) {
    gate = new ConcurrencyGate(limit);
    gates.set(key, gate);
  } else if (gate.limit !== limit) {
    gate.limit = limit;
  }
  return gate;
}

/** Runs `call` while holding one of the endpoint's slots. */
export async function withEndpointSlot<T>(
  endpoint: string,
  limit: number,
  signal: AbortSignal | undefined,
  call: () => Promise<T>,
): Promise<T> {
  const release = await endpointGate(endpoint, limit).acquire(signal);
  try {
    return await call();
  } finally {
    release();
  }
}

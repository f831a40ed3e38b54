// The backlog, for autoscaling and the status page: approximate message counts of the task and poison queues and
// the age of the oldest visible task, read by the supervisor at most once per interval (never per scrape, so a
// Prometheus server scraping every second costs no more storage calls than one scraping every minute).
import type { QueueClient } from "@azure/storage-queue";
import { sleep } from "../util/sleep.ts";
import { errorText } from "../util/errors.ts";
import type { Logger } from "../log/logger.ts";

export interface BacklogSample {
  /** When the sample was taken (ms since the epoch). */
  at: number;
  taskQueue: { name: string; messages: number; oldestAgeSeconds: number | null };
  poisonQueue: { name: string; messages: number };
}

export interface BacklogSamplerOptions {
  tasks: QueueClient;
  poison: QueueClient;
  intervalMs: number;
  logger: Logger;
  requestTimeoutMs?: number;
}

/** Count of a queue that may not exist yet (0 then). */
async function approximateCount(queue: QueueClient, signal: AbortSignal): Promise<number> {
  try {
    return (await queue.getProperties({ abortSignal: signal })).approximateMessagesCount ?? 0;
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return 0;
    throw err;
  }
}

export class BacklogSampler {
  private last?: BacklogSample;
  private failedSince?: number;
  private readonly stopper = new AbortController();
  private loop?: Promise<void>;

  constructor(private readonly opts: BacklogSamplerOptions) {}

  /** The newest sample, or undefined before the first one (or when the queues cannot be read). */
  latest(): BacklogSample | undefined {
    return this.last;
  }

  /** One sample: three storage calls (two counts, one peek). */
  async sample(): Promise<BacklogSample> {
    const signal = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 10_000);
    const [messages, poison, peeked] = await Promise.all([
      approximateCount(this.opts.tasks, signal),
      approximateCount(this.opts.poison, signal),
      this.opts.tasks.peekMessages({ numberOfMessages: 1, abortSignal: signal }).catch((err) => {
        if ((err as { statusCode?: number }).statusCode === 404) return { peekedMessageItems: [] };
        throw err;
      }),
    ]);
    const oldest = peeked.peekedMessageItems[0]?.insertedOn;
    const now = Date.now();
    return {
      at: now,
      taskQueue: {
        name: this.opts.tasks.name,
        messages,
        oldestAgeSeconds: oldest ? Math.max(0, Math.round((now - oldest.getTime()) / 1000)) : null,
      },
      poisonQueue: { name: this.opts.poison.name, messages: poison },
    };
  }

  start(): void {
    this.loop ??= (async () => {
      while (!this.stopper.signal.aborted) {
        try {
          this.last = await this.sample();
          if (this.failedSince) this.opts.logger.info("queue backlog readable again");
          this.failedSince = undefined;
        } catch (err) {
          // An outage is logged once; the last sample is dropped so /metrics does not show stale numbers.
          if (!this.failedSince) this.opts.logger.warn("cannot read the queue backlog", { error: errorText(err) });
          this.failedSince ??= Date.now();
          this.last = undefined;
        }
        await sleep(this.opts.intervalMs, this.stopper.signal);
      }
    })();
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await this.loop;
  }
}

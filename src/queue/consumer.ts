// The receive loop of a processing worker: bounded concurrency (at most `concurrency` tasks run at once), receive
// batches (a receive call also fetches messages for the slots that free up soon, held in a prefetch buffer
// bounded by the pace of recent tasks: prefetch.ts), adaptive polling (at once while messages flow, randomized
// exponential backoff when the queue is empty), holds renewed from receipt until settled, storage outages survived
// with one log line each, and drain: stop receiving, hand buffered messages back at once, let in-flight tasks finish
// within a budget, then make unfinished messages visible again at once.
import type { Logger } from "../log/logger.ts";
import { IdleBackoff } from "./backoff.ts";
import { isQueueNotFound, storageErrorSummary } from "./errors.ts";
import { describeDependencyError } from "../util/dependency-error.ts";
import type { HeldMessage } from "./held-message.ts";
import type { TaskQueue } from "./task-queue.ts";
import { PrefetchBuffer, prefetchLimit, TaskPace } from "./prefetch.ts";
import { sleep } from "../util/sleep.ts";
import { OutageGate } from "../util/outage-gate.ts";

export interface ConsumerHooks {
  /** After every successful receive call, with the number of messages it returned. */
  polled?(received: number): void;
  ready?(ready: boolean, reason?: string): void;
  inFlight?(count: number): void;
}

export interface ConsumerOptions {
  queue: TaskQueue;
  concurrency: number;
  /** Most messages per receive call (QUEUE_MAX_MESSAGES). */
  maxMessages: number;
  minPollMs: number;
  maxPollMs: number;
  drain: AbortSignal;
  /** How long in-flight tasks may continue after drain starts before their messages are released. */
  drainBudgetMs: number;
  logger: Logger;
  hooks?: ConsumerHooks;
  /** Runs one message and settles it. `stop` is aborted when the drain budget is spent (forced shutdown). */
  handle(message: HeldMessage, stop: AbortSignal): Promise<void>;
  /** Waits while something the tasks need is unavailable; resolves at once otherwise. */
  beforeReceive?(drain: AbortSignal): Promise<void>;
  /** True while something the tasks need is unavailable: buffered messages do not start and are handed back. */
  paused?(): boolean;
  /**
   * Messages received ahead of free slots should start within about this long at the pace of recent tasks; default
   * PREFETCH_HORIZON_MS, at most a tenth of the hold; 0 = receive only for free slots.
   */
  prefetchHorizonMs?: number;
  /** A buffered message still waiting after this long is made visible again; default PREFETCH_MAX_WAIT_MS, at most
   * a quarter of the hold. */
  prefetchMaxWaitMs?: number;
  /** Visibility delay for a message whose handler threw without settling it. */
  retryDelaySeconds(message: HeldMessage): number;
  /** Registers a call that ends an idle wait at once (tasks were just enqueued): poll now, from the shortest delay. */
  onWake?(listener: () => void): void;
}

export interface ConsumeSummary {
  received: number;
  /** Messages made visible again because their tasks had not finished when the drain budget ran out. */
  releasedOnDrain: number;
  /** Messages handed back without being started (waiting in the prefetch buffer at drain, pause or too long). */
  releasedUnstarted: number;
}

/** How soon buffered messages should start, at the pace of recent tasks. */
export const PREFETCH_HORIZON_MS = 1000;
/** Longest wait of a buffered message before it is handed back to the queue. */
export const PREFETCH_MAX_WAIT_MS = 10_000;

/** True when all settled within `ms`. */
async function settledWithin(promises: Iterable<Promise<unknown>>, ms: number): Promise<boolean> {
  const all = Promise.allSettled([...promises]).then(() => true);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)));
  try {
    return await Promise.race([all, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const OUTAGE_FIRST_DELAY_MS = 1000;
const OUTAGE_MAX_DELAY_MS = 30_000;
/** After a forced stop, how long handlers get to record the interruption. */
const STOP_GRACE_MS = 3000;

export async function consume(opts: ConsumerOptions): Promise<ConsumeSummary> {
  const { queue, logger, drain } = opts;
  const hooks = opts.hooks ?? {};
  const active = new Map<HeldMessage, Promise<void>>();
  const stop = new AbortController();
  const receiver = new Receiver(opts);
  let received = 0;
  let releasedUnstarted = 0;

  // The loop sleeps until a slot frees, the buffer changes or drain starts.
  let wakeLoop: (() => void) | undefined;
  const poke = () => {
    const wake = wakeLoop;
    wakeLoop = undefined;
    wake?.();
  };
  drain.addEventListener("abort", poke, { once: true });

  const holdMs = queue.holdSeconds * 1000;
  const horizonMs = Math.min(opts.prefetchHorizonMs ?? PREFETCH_HORIZON_MS, holdMs / 10);
  const maxBuffered = 2 * opts.maxMessages;
  const pace = new TaskPace();

  const handBack = (messages: HeldMessage[], why: string): Promise<unknown> =>
    handBackUnstarted(messages, why, logger, () => releasedUnstarted++);
  const buffer = new PrefetchBuffer(
    Math.min(opts.prefetchMaxWaitMs ?? PREFETCH_MAX_WAIT_MS, holdMs / 4),
    (stale) => {
      // The pace was wrong (tasks now take longer): buffer nothing more until a task finishes.
      pace.reset();
      void handBack(stale, "waited too long for a free slot");
      poke();
    },
  );

  const start = (message: HeldMessage) => {
    const startedAt = Date.now();
    const task = runHandler(message, opts, stop.signal).finally(() => {
      active.delete(message);
      pace.note(Date.now() - startedAt);
      startFromBuffer();
      hooks.inFlight?.(active.size);
      poke();
    });
    active.set(message, task);
  };

  /** Fills free slots from the buffer (not while draining or paused). */
  function startFromBuffer(): void {
    if (drain.aborted || opts.paused?.()) return;
    const before = active.size;
    while (active.size < opts.concurrency) {
      const message = buffer.take();
      if (!message) break;
      start(message);
    }
    if (active.size !== before) hooks.inFlight?.(active.size);
  }

  /** Messages this worker may hold: its slots plus what the buffer may hold at the recent pace. */
  const capacity = () => opts.concurrency + prefetchLimit(pace.averageMs, opts.concurrency, horizonMs, maxBuffered);

  while (!drain.aborted) {
    if (opts.paused?.() && buffer.size > 0) void handBack(buffer.takeAll(), "task intake paused");
    startFromBuffer();
    // As Azure Functions' NewBatchThreshold: receive once half of what the worker may hold is free (a full batch
    // at most), not for each freed slot, so a receive call brings several messages.
    const room = capacity() - active.size - buffer.size;
    const refill = Math.max(1, Math.min(opts.maxMessages, Math.ceil(capacity() / 2)));
    if (room < refill) {
      await new Promise<void>((r) => (wakeLoop = r));
      continue;
    }
    if (opts.beforeReceive) {
      await opts.beforeReceive(drain);
      if (drain.aborted) break;
    }
    const messages = await receiver.receive(() => Math.min(opts.maxMessages, capacity() - active.size - buffer.size));
    received += messages.length;
    for (const message of messages) {
      // Held from now on, waiting or running: renewed until settled.
      message.startRenewal();
      buffer.push(message);
    }
  }

  hooks.ready?.(false, "draining");
  // Messages that never started go back at once, while the running ones get their budget.
  const handedBack = handBack(buffer.takeAll(), "draining");
  const releasedOnDrain = await drainRunning(active, stop, opts);
  await handedBack;
  return { received, releasedOnDrain, releasedUnstarted };
}

/**
 * The receive step of the loop: creates the queues once, receives, waits (growing, ended early by a wake or drain)
 * after an empty receive, and backs off while the queue is unreachable.
 */
class Receiver {
  private queuesReady = false;
  private readonly outage: OutageGate;
  private readonly idle: IdleBackoff;
  private idleWait: AbortController | undefined;

  constructor(private readonly opts: ConsumerOptions) {
    this.idle = new IdleBackoff(opts.minPollMs, Math.max(opts.minPollMs, opts.maxPollMs));
    this.outage = queueOutageGate(opts);
    opts.onWake?.(() => {
      this.idle.reset();
      this.idleWait?.abort();
    });
  }

  /**
   * Receives up to `ask()` messages (asked after the queues exist). Returns none when there is no room, after the
   * idle wait of an empty receive, or after the back-off of a failed one.
   */
  async receive(ask: () => number): Promise<HeldMessage[]> {
    const { queue, drain, hooks } = this.opts;
    try {
      if (!this.queuesReady) {
        await queue.ensureQueues();
        this.queuesReady = true;
      }
      const count = ask();
      if (count <= 0) return [];
      const messages = await queue.receive(count);
      hooks?.polled?.(messages.length);
      this.outage.noteSuccess();
      hooks?.ready?.(true);
      if (messages.length === 0) {
        this.idleWait = new AbortController();
        await sleep(this.idle.next(), AbortSignal.any([drain, this.idleWait.signal]));
        this.idleWait = undefined;
        return [];
      }
      this.idle.reset();
      return messages;
    } catch (err) {
      if (isQueueNotFound(err)) this.queuesReady = false;
      this.outage.noteFailure(err);
      await sleep(Math.round(this.outage.nextDelayMs() * (0.8 + Math.random() * 0.4)), drain);
      return [];
    }
  }
}

/** The gate that backs the receive loop off while the queue is unreachable, and says so once. */
function queueOutageGate(opts: ConsumerOptions): OutageGate {
  const { queue, logger } = opts;
  return new OutageGate({
    firstDelayMs: OUTAGE_FIRST_DELAY_MS,
    maxDelayMs: OUTAGE_MAX_DELAY_MS,
    listener: {
      down: (err) =>
        logger.error("task queue unreachable; backing off", { queue: queue.name, error: storageErrorSummary(err) }),
      // The reason names the service, endpoint and kind of failure (refused, DNS, 403 with the missing role…).
      failed: (err) =>
        opts.hooks?.ready?.(
          false,
          describeDependencyError(err, {
            service: "Storage queue",
            endpoint: queue.queues.tasks.url,
            what: `queue ${queue.name}`,
          }).text,
        ),
      up: (downMs) => logger.info("task queue reachable again", { queue: queue.name, down_ms: downMs }),
    },
  });
}

/**
 * Hands messages back to the queue at once (visible to every consumer), without running them; `onSettled` is
 * called for each one the queue took back.
 */
function handBackUnstarted(
  messages: HeldMessage[],
  why: string,
  logger: Logger,
  onSettled: () => void,
): Promise<unknown> {
  if (messages.length === 0) return Promise.resolve();
  logger.info("handing back messages that were not started", { count: messages.length, why });
  return Promise.all(messages.map(async (m) => {
    const outcome = await m.retryAfter(0).catch((err) => {
      logger.warn("could not hand back a message; its lease will expire", {
        message_id: m.id,
        error: storageErrorSummary(err),
      });
      return "failed" as const;
    });
    if (outcome === "settled") onSettled();
  }));
}

/** Runs the handler on one message; a message the handler left unsettled is retried later (the safety net). */
async function runHandler(message: HeldMessage, opts: ConsumerOptions, stop: AbortSignal): Promise<void> {
  const { logger } = opts;
  try {
    await opts.handle(message, stop);
  } catch (err) {
    logger.error("task handler failed", { message_id: message.id, err });
  } finally {
    message.stopRenewal();
  }
  if (message.settled || message.lost.aborted || stop.aborted) return;
  // Safety net: a handler must settle its message; if it did not, retry it later, not when its hold runs out.
  await message.retryAfter(opts.retryDelaySeconds(message)).catch((err) =>
    logger.warn("could not release an unsettled message; its lease will expire", {
      message_id: message.id,
      error: storageErrorSummary(err),
    })
  );
}

/**
 * Drain: gives the running tasks the drain budget, then makes the unfinished ones visible again and stops their
 * handlers (with a short grace). Returns how many messages went back that way.
 */
async function drainRunning(
  active: Map<HeldMessage, Promise<void>>,
  stop: AbortController,
  opts: ConsumerOptions,
): Promise<number> {
  const { logger } = opts;
  if (active.size > 0) {
    logger.info("draining: waiting for in-flight tasks", { in_flight: active.size, budget_ms: opts.drainBudgetMs });
  }
  if (await settledWithin(active.values(), opts.drainBudgetMs)) return 0;
  const unfinished = [...active.keys()];
  logger.warn("drain budget spent; making unfinished messages visible again", { unfinished: unfinished.length });
  const outcomes = await Promise.all(unfinished.map((m) =>
    m.retryAfter(0).catch((err) => {
      logger.warn("could not release a message; its lease will expire", {
        message_id: m.id,
        error: storageErrorSummary(err),
      });
      return "failed" as const;
    })
  ));
  stop.abort(new Error("worker is shutting down"));
  await settledWithin(active.values(), STOP_GRACE_MS);
  return outcomes.filter((o) => o === "settled").length;
}

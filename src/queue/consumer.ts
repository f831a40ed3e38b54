// The receive loop of a processing worker: bounded concurrency (only as many messages as free slots are fetched,
// once at least half the slots are free), adaptive polling (at once while messages flow, randomized exponential
// backoff when the queue is empty), leases renewed while tasks run, storage outages survived with one log line
// each, and drain: stop receiving, let in-flight tasks finish within a budget, then make unfinished messages
// visible again at once.
import type { Logger } from "../log/logger.ts";
import { IdleBackoff } from "./backoff.ts";
import { isQueueNotFound, storageErrorSummary } from "./errors.ts";
import type { LeasedMessage } from "./leased-message.ts";
import type { TaskQueue } from "./task-queue.ts";
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
  handle(message: LeasedMessage, stop: AbortSignal): Promise<void>;
  /** Waits while something the tasks need is unavailable; resolves at once otherwise. */
  beforeReceive?(drain: AbortSignal): Promise<void>;
  /** Visibility delay for a message whose handler threw without settling it. */
  retryDelaySeconds(message: LeasedMessage): number;
  /** Registers a call that ends an idle wait at once (tasks were just enqueued): poll now, from the shortest delay. */
  onWake?(listener: () => void): void;
}

export interface ConsumeSummary {
  received: number;
  /** Messages made visible again because their tasks had not finished when the drain budget ran out. */
  releasedOnDrain: number;
}

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
  const active = new Map<LeasedMessage, Promise<void>>();
  const stop = new AbortController();
  const idle = new IdleBackoff(opts.minPollMs, Math.max(opts.minPollMs, opts.maxPollMs));
  const drained = new Promise<void>((r) =>
    drain.aborted ? r() : drain.addEventListener("abort", () => r(), { once: true })
  );
  let queuesReady = false;
  const outage = new OutageGate({
    firstDelayMs: OUTAGE_FIRST_DELAY_MS,
    maxDelayMs: OUTAGE_MAX_DELAY_MS,
    listener: {
      down: (err) =>
        logger.error("task queue unreachable; backing off", { queue: queue.name, error: storageErrorSummary(err) }),
      failed: () => hooks.ready?.(false, "queue unreachable"),
      up: (downMs) => logger.info("task queue reachable again", { queue: queue.name, down_ms: downMs }),
    },
  });
  let received = 0;
  let idleWait: AbortController | undefined;
  opts.onWake?.(() => {
    idle.reset();
    idleWait?.abort();
  });

  const run = async (message: LeasedMessage): Promise<void> => {
    try {
      await opts.handle(message, stop.signal);
    } catch (err) {
      logger.error("task handler failed", { message_id: message.id, err });
    } finally {
      message.stopRenewal();
    }
    if (message.settled || message.lost.aborted || stop.signal.aborted) return;
    // Safety net: a handler must settle its message; if it did not, retry it later instead of waiting for the lease.
    await message.retryAfter(opts.retryDelaySeconds(message)).catch((err) =>
      logger.warn("could not release an unsettled message; its lease will expire", {
        message_id: message.id,
        error: storageErrorSummary(err),
      })
    );
  };

  const start = (message: LeasedMessage) => {
    message.startRenewal();
    const task = run(message).finally(() => {
      active.delete(message);
      hooks.inFlight?.(active.size);
    });
    active.set(message, task);
    hooks.inFlight?.(active.size);
  };

  // As Azure Functions' NewBatchThreshold: while busy, fetch again once half the slots are free, not for each
  // freed slot, so a receive call brings several messages (one receive per task would double the queue calls).
  const refill = Math.max(1, Math.min(opts.maxMessages, Math.ceil(opts.concurrency / 2)));
  while (!drain.aborted) {
    if (opts.concurrency - active.size < refill) {
      await Promise.race([...active.values(), drained]);
      continue;
    }
    if (opts.beforeReceive) {
      await opts.beforeReceive(drain);
      if (drain.aborted) break;
    }
    try {
      if (!queuesReady) {
        await queue.ensureQueues();
        queuesReady = true;
      }
      const free = opts.concurrency - active.size;
      const messages = await queue.receive(Math.min(free, opts.maxMessages));
      hooks.polled?.(messages.length);
      outage.noteSuccess();
      hooks.ready?.(true);
      if (messages.length === 0) {
        idleWait = new AbortController();
        await sleep(idle.next(), AbortSignal.any([drain, idleWait.signal]));
        idleWait = undefined;
        continue;
      }
      idle.reset();
      received += messages.length;
      for (const message of messages) start(message);
    } catch (err) {
      if (isQueueNotFound(err)) queuesReady = false;
      outage.noteFailure(err);
      await sleep(Math.round(outage.nextDelayMs() * (0.8 + Math.random() * 0.4)), drain);
    }
  }

  hooks.ready?.(false, "draining");
  let releasedOnDrain = 0;
  if (active.size > 0) {
    logger.info("draining: waiting for in-flight tasks", { in_flight: active.size, budget_ms: opts.drainBudgetMs });
  }
  if (!(await settledWithin(active.values(), opts.drainBudgetMs))) {
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
    releasedOnDrain = outcomes.filter((o) => o === "settled").length;
    stop.abort(new Error("worker is shutting down"));
    await settledWithin(active.values(), STOP_GRACE_MS);
  }
  return { received, releasedOnDrain };
}

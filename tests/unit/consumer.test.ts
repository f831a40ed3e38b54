// consume() with an in-memory queue and messages (the Azurite tests in tests/integration/queue.test.ts stay): the
// concurrency bound, the safety net for a message its handler left unsettled, and drain.
import { test } from "node:test";
import assert from "node:assert/strict";
import { consume, type ConsumerOptions } from "../../src/queue/consumer.ts";
import type { HeldMessage } from "../../src/queue/held-message.ts";
import type { TaskQueue } from "../../src/queue/task-queue.ts";
import { Logger } from "../../src/log/logger.ts";
import { quietLogs } from "../helpers/test-logging.ts";
import { until } from "../helpers/wait.ts";

quietLogs();

/** The part of HeldMessage the consumer uses; records what was done to it. */
class FakeMessage {
  settled = false;
  renewing = false;
  retries: number[] = [];
  private readonly lostController = new AbortController();
  constructor(readonly id: string) {}
  get held(): boolean {
    return !this.settled;
  }
  get lost(): AbortSignal {
    return this.lostController.signal;
  }
  startRenewal(): void {
    this.renewing = true;
  }
  stopRenewal(): void {
    this.renewing = false;
  }
  retryAfter(delaySeconds: number): Promise<"settled"> {
    this.retries.push(delaySeconds);
    this.settled = true;
    return Promise.resolve("settled");
  }
  complete(): void {
    this.settled = true;
  }
}

/** A queue that hands out its messages in receive calls of at most `max`. */
function fakeQueue(messages: FakeMessage[]) {
  const waiting = [...messages];
  const asked: number[] = [];
  const queue = {
    name: "tasks",
    holdSeconds: 30,
    ensureQueues: () => Promise.resolve(),
    receive: (max: number) => {
      asked.push(max);
      return Promise.resolve(waiting.splice(0, max) as unknown as HeldMessage[]);
    },
  };
  return { queue: queue as unknown as TaskQueue, asked, waiting };
}

function options(queue: TaskQueue, drain: AbortSignal, over: Partial<ConsumerOptions>): ConsumerOptions {
  return {
    queue,
    concurrency: 2,
    maxMessages: 4,
    minPollMs: 5,
    maxPollMs: 5,
    drain,
    drainBudgetMs: 60_000,
    logger: new Logger(),
    prefetchHorizonMs: 0,
    retryDelaySeconds: () => 7,
    handle: () => Promise.resolve(),
    ...over,
  };
}

test("consume runs at most `concurrency` handlers at once and every message once", async () => {
  const messages = Array.from({ length: 5 }, (_, i) => new FakeMessage(`m${i}`));
  const { queue } = fakeQueue(messages);
  const drain = new AbortController();
  const handled: string[] = [];
  let running = 0;
  let most = 0;
  const gates = new Map<string, () => void>();
  const consuming = consume(options(queue, drain.signal, {
    handle: async (message) => {
      running++;
      most = Math.max(most, running);
      await new Promise<void>((resolve) => gates.set(message.id, resolve));
      handled.push(message.id);
      (message as unknown as FakeMessage).complete();
      running--;
    },
  }));
  for (let i = 0; i < 5; i++) {
    const id = `m${i}`;
    await until(`handler of ${id} started`, () => gates.has(id));
    assert.ok(running <= 2, `${running} handlers ran at once`);
    gates.get(id)!();
  }
  await until("all handled", () => handled.length === 5);
  drain.abort();
  const summary = await consuming;
  assert.equal(most, 2);
  assert.deepEqual(handled.sort(), ["m0", "m1", "m2", "m3", "m4"]);
  assert.deepEqual(summary, { received: 5, releasedOnDrain: 0, releasedUnstarted: 0 });
  assert.ok(messages.every((m) => m.retries.length === 0 && !m.renewing));
});

test("a message its handler did not settle (it threw) is retried after retryDelaySeconds", async () => {
  const message = new FakeMessage("m0");
  const { queue } = fakeQueue([message]);
  const drain = new AbortController();
  const consuming = consume(options(queue, drain.signal, {
    handle: () => Promise.reject(new Error("handler broke")),
  }));
  await until("retried", () => message.retries.length > 0);
  drain.abort();
  await consuming;
  assert.deepEqual(message.retries, [7]);
});

test("drain: a task still running when the budget is spent is made visible again and its handler stopped", async () => {
  const message = new FakeMessage("m0");
  const { queue } = fakeQueue([message]);
  const drain = new AbortController();
  let stopReason: unknown;
  let started = false;
  const consuming = consume(options(queue, drain.signal, {
    drainBudgetMs: 0,
    handle: (_message, stop) => {
      started = true;
      return new Promise<void>((resolve) =>
        stop.addEventListener("abort", () => {
          stopReason = stop.reason;
          resolve();
        })
      );
    },
  }));
  await until("handler started", () => started);
  drain.abort();
  const summary = await consuming;
  assert.deepEqual(message.retries, [0]);
  assert.deepEqual(summary, { received: 1, releasedOnDrain: 1, releasedUnstarted: 0 });
  assert.match(String(stopReason), /worker is shutting down/);
});

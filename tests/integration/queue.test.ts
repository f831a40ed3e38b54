// The task queue on a real Azurite: message decoding, holds renewed with the newest pop receipt, retry delays,
// poison records, the consumer loop (concurrency bound, idle backoff, drain, outage).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
import { BlobServiceClient } from "@azure/storage-blob";
import { QueueClient } from "@azure/storage-queue";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { TaskQueue } from "../../src/queue/task-queue.ts";
import { consume } from "../../src/queue/consumer.ts";
import { decodeMessage } from "../../src/queue/decode.ts";
import { IdleBackoff, retryDelaySeconds } from "../../src/queue/backoff.ts";
import { PoisonRecordSchema } from "../../src/queue/poison.ts";
import { HeldMessage, HoldExpiredError } from "../../src/queue/held-message.ts";
import * as v from "valibot";
import { sleep, taskMessage, timeout, uniqueName, until, withTimeout } from "../helpers/processing-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

describe("message decoding", () => {
  const good = taskMessage("d1", { pipelineId: "p" });
  const reason = (text: string) => {
    const d = decodeMessage(text);
    return d.kind === "invalid" ? d.reason : `(${d.kind})`;
  };

  test("plain JSON and base64 JSON are both tasks", () => {
    assert.equal(decodeMessage(JSON.stringify(good)).kind, "task");
    assert.equal(decodeMessage(Buffer.from(JSON.stringify(good)).toString("base64")).kind, "task");
  });

  test("each kind of bad message gets its own reason", () => {
    assert.match(reason("not json at all {"), /neither JSON nor base64/);
    assert.match(reason("{not json"), /not valid JSON/);
    assert.match(reason("bm90IGpzb24="), /base64 but does not decode to JSON/);
    assert.match(reason("####"), /neither JSON nor base64/);
    assert.match(reason(""), /empty/);
    assert.match(reason("[1,2]"), /not an object with a task_type/);
    assert.match(
      reason(JSON.stringify({ task_type: "input_source_loading", payload: {} })),
      /unknown task_type "input_source_loading"/,
    );
    assert.match(reason(JSON.stringify({ payload: good.payload })), /unknown task_type null/);
    const missing = { task_type: "content_processing", payload: { task_id: "t1", execution_id: "e1" } };
    assert.match(reason(JSON.stringify(missing)), /payload\.pipeline_id/);
    assert.match(reason(JSON.stringify(missing)), /payload\.content/);
    const wrong = { ...good, payload: { ...good.payload, retry_count: "x", content: "nope" } };
    assert.match(reason(JSON.stringify(wrong)), /payload\.(retry_count|content)/);
    const badClaim = { task_type: "content_processing", claim_check: { container: "c" } };
    assert.match(reason(JSON.stringify(badClaim)), /invalid claim-check message/);
  });

  test("an invalid task still names its execution, so it can be marked failed", () => {
    const wrong = { ...good, payload: { ...good.payload, content: 5 } };
    const d = decodeMessage(JSON.stringify(wrong));
    assert.equal(d.kind, "invalid");
    assert.equal(d.kind === "invalid" && d.executionId, "exec_d1");
    assert.equal(d.kind === "invalid" && d.taskId, "task_d1");
  });
});

describe("delays", () => {
  test("retry delay grows exponentially from the delivery count, with jitter, up to the cap", () => {
    const mid = () => 0.5; // jitter factor 1.0
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelaySeconds(n, 5, 60, mid)), [5, 10, 20, 40, 60, 60]);
    assert.equal(retryDelaySeconds(3, 0, 60), 0);
    for (let i = 0; i < 50; i++) {
      const d = retryDelaySeconds(2, 10, 300);
      assert.ok(d >= 16 && d <= 24, `jittered delay ${d} within ±20 %`);
    }
  });

  test("idle polling backs off from the minimum to the cap, and resets when messages flow", () => {
    const b = new IdleBackoff(100, 30_000, () => 0.5);
    const waits = Array.from({ length: 14 }, () => b.next());
    assert.deepEqual(waits.slice(0, 4), [200, 300, 500, 900]);
    assert.equal(waits[9], 30_000, "the 10th empty poll reaches the cap");
    assert.ok(waits.slice(9).every((w) => w === 30_000), "then at most 2 idle polls per minute");
    b.reset();
    assert.equal(b.next(), 200);
  });
});

describe("task queue on Azurite", () => {
  let emu: Emulators;
  const logger = new Logger({ test: "queue" });

  /** The consumer with this file's test timings (fast polls, no retry delay) unless a test says otherwise. */
  function consumeForTest(
    opts:
      & Omit<Parameters<typeof consume>[0], "maxMessages" | "minPollMs" | "maxPollMs" | "logger" | "retryDelaySeconds">
      & Partial<Parameters<typeof consume>[0]>,
  ): ReturnType<typeof consume> {
    return consume({ maxMessages: 32, minPollMs: 20, maxPollMs: 200, logger, retryDelaySeconds: () => 0, ...opts });
  }

  before(async () => {
    emu = await startEmulators({ cosmos: false });
  });
  after(async () => {
    await emu?.stop();
  });

  function queues(name = uniqueName("q")) {
    return {
      tasks: new QueueClient(emu.queueConnectionString, name),
      poison: new QueueClient(emu.queueConnectionString, `${name}-poison`),
    };
  }

  async function visibleCount(q: QueueClient): Promise<number> {
    return (await q.peekMessages({ numberOfMessages: 32, ...timeout() })).peekedMessageItems.length;
  }

  test("renewal keeps a message hidden for 3× its hold; delete works with the newest pop receipt", async () => {
    const qs = queues();
    let renewed = 0;
    const queue = new TaskQueue(qs, { holdSeconds: 2, listener: { renewed: () => renewed++ } });
    await queue.ensureQueues();
    await qs.tasks.sendMessage("hello", timeout());
    const [message] = await queue.receive(32);
    const firstReceipt = message.popReceipt;
    message.startRenewal();
    for (let i = 0; i < 6; i++) {
      await sleep(1000);
      assert.equal(await visibleCount(qs.tasks), 0, `still hidden after ${i + 1} s`);
    }
    assert.ok(renewed >= 4, `renewed ${renewed} times in 6 s with a 2 s hold`);
    assert.notEqual(message.popReceipt, firstReceipt, "renewal swapped in a new pop receipt");
    await assert.rejects(
      qs.tasks.deleteMessage(message.id, firstReceipt, timeout()),
      /PopReceiptMismatch|pop receipt/i,
    );
    assert.equal(await message.delete(), "settled");
    assert.equal(await message.delete(), "already-settled");
    assert.equal((await qs.tasks.getProperties(timeout())).approximateMessagesCount, 0);
  });

  test("concurrent renew and delete on one message: the delete wins with the newest receipt", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 5 });
    await queue.ensureQueues();
    await qs.tasks.sendMessage("race", timeout());
    const [message] = await queue.receive(1);
    const results = await Promise.all([message.renew(), message.renew(), message.delete(), message.renew()]);
    assert.equal(results[2], "settled");
    assert.equal(message.renewals, 2, "renewals queued after the delete do nothing");
    assert.equal((await qs.tasks.getProperties(timeout())).approximateMessagesCount, 0);
  });

  test("a lost hold is reported and stops renewal", async () => {
    const qs = queues();
    const failures: boolean[] = [];
    const queue = new TaskQueue(qs, {
      holdSeconds: 1,
      listener: { renewalFailed: (_m, _e, lost) => failures.push(lost) },
    });
    await queue.ensureQueues();
    await qs.tasks.sendMessage("lost", timeout());
    const [message] = await queue.receive(1);
    await sleep(1300); // hold expired without renewal
    await qs.tasks.receiveMessages({ visibilityTimeout: 30, ...timeout() }); // someone else has it now
    await assert.rejects(message.renew());
    assert.ok(message.lost.aborted);
    assert.equal(await message.delete(), "lost");
  });

  test("renewals keep failing: the message is given up before its hold runs out, never after", async () => {
    const qs = queues();
    await qs.tasks.createIfNotExists(timeout());
    await qs.tasks.sendMessage("doomed", timeout());
    const heldFrom = Date.now();
    const { receivedMessageItems: [item] } = await qs.tasks.receiveMessages({ visibilityTimeout: 2, ...timeout() });
    // Renewals go to an endpoint nobody listens on (as during a storage outage).
    const unreachable = new QueueClient(
      emu.queueConnectionString.replace(/QueueEndpoint=http:\/\/127\.0\.0\.1:\d+/, "QueueEndpoint=http://127.0.0.1:9"),
      qs.tasks.name,
      { retryOptions: { maxTries: 1 } },
    );
    let expired = 0;
    const message = new HeldMessage(unreachable, item, {
      holdSeconds: 2,
      requestTimeoutMs: 5000,
      heldFrom,
      listener: { expired: () => expired++ },
    });
    message.startRenewal();
    assert.equal(message.held, true);
    const givenUp = await withTimeout(
      new Promise<number>((r) => message.lost.addEventListener("abort", () => r(Date.now()), { once: true })),
      5000,
      "the message given up",
    );
    assert.ok(message.lost.reason instanceof HoldExpiredError, String(message.lost.reason));
    assert.ok(givenUp < heldFrom + 2000, `given up ${givenUp - heldFrom} ms after the receive, within the 2 s hold`);
    assert.equal(await visibleCount(qs.tasks), 0, "at that moment nobody else can have the message yet");
    assert.equal(expired, 1);
    assert.equal(message.held, false);
    assert.equal(await message.delete(), "lost", "nothing is settled on a hold given up");
  });

  test("held turns false at the deadline even when the event loop was blocked past it (no timer ran)", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 2 });
    await queue.ensureQueues();
    await qs.tasks.sendMessage("blocked", timeout());
    const [message] = await queue.receive(1);
    message.startRenewal();
    const until = Date.now() + 2000;
    while (Date.now() < until) { /* CPU-bound work holding the event loop */ }
    assert.equal(message.held, false, "a result must not be committed on this hold any more");
    assert.equal(await message.retryAfter(0), "lost");
    assert.ok(message.lost.aborted);
  });

  test("retryAfter hides the message for the delay; the next delivery counts one more", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30 });
    await queue.ensureQueues();
    await qs.tasks.sendMessage("retry me", timeout());
    const [first] = await queue.receive(1);
    assert.equal(first.dequeueCount, 1);
    assert.equal(await first.retryAfter(2), "settled");
    assert.equal(await visibleCount(qs.tasks), 0, "hidden during the delay");
    const second = await until("visible again", async () => (await queue.receive(1))[0], 10_000);
    assert.equal(second.dequeueCount, 2);
    await second.delete();
  });

  test("poison: record with the original text and reason in a poison queue created on demand; message deleted", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30 });
    await qs.tasks.createIfNotExists(timeout()); // poison queue deliberately missing
    await qs.tasks.sendMessage("original text {", timeout());
    const [message] = await queue.receive(1);
    const { record, outcome } = await queue.poison(message, "message is not valid JSON", {
      workerId: "w-1",
      executionId: "exec_x",
    });
    assert.equal(outcome, "settled");
    const peeked = (await qs.poison.peekMessages(timeout())).peekedMessageItems;
    assert.equal(peeked.length, 1);
    const stored = v.parse(PoisonRecordSchema, JSON.parse(peeked[0].messageText));
    assert.deepEqual(stored, record);
    assert.equal(stored.message, "original text {");
    assert.equal(stored.reason, "message is not valid JSON");
    assert.equal(stored.dequeue_count, 1);
    assert.equal(stored.worker_id, "w-1");
    assert.equal(stored.queue, qs.tasks.name);
    assert.equal(stored.execution_id, "exec_x");
    assert.ok(Date.now() - Date.parse(stored.time) < 60_000);
    assert.ok(peeked[0].expiresOn.getUTCFullYear() >= 9999, "poison records never expire");
    assert.equal((await qs.tasks.getProperties(timeout())).approximateMessagesCount, 0);
  });

  test("poison: an original text too large for the record goes to a blob, not dropped", async () => {
    const qs = queues();
    const blobs = BlobServiceClient.fromConnectionString(emu.blobConnectionString);
    const container = uniqueName("spill");
    const queue = new TaskQueue(qs, {
      holdSeconds: 30,
      storeOversized: async (name, text) => {
        const c = blobs.getContainerClient(container);
        await c.createIfNotExists(timeout());
        await c.getBlockBlobClient(name).upload(text, Buffer.byteLength(text), timeout());
        return { container, blob: name };
      },
    });
    await queue.ensureQueues();
    const original = '"'.repeat(40_000); // fits the queue, but doubles when escaped inside the record
    await qs.tasks.sendMessage(original, timeout());
    const [message] = await queue.receive(1);
    const { record } = await queue.poison(message, "too big", { workerId: "w" });
    assert.ok(record.message_blob, "stored in a blob");
    assert.equal(record.message_truncated, true);
    const body = await blobs.getContainerClient(container).getBlobClient(record.message_blob.blob).downloadToBuffer(
      0,
      undefined,
      timeout(),
    );
    assert.equal(body.toString("utf8"), original);
  });

  test("consumer: never more tasks at once than the concurrency; never a receive for one freed slot", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30 });
    await queue.ensureQueues();
    for (let i = 0; i < 10; i++) await qs.tasks.sendMessage(`m${i}`, timeout());
    const receive = queue.receive.bind(queue);
    const asked: number[] = [];
    queue.receive = (max: number) => {
      asked.push(max);
      return receive(max);
    };
    let running = 0;
    let peak = 0;
    let done = 0;
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 3,
      drain: drain.signal,
      drainBudgetMs: 5000,
      handle: async (m) => {
        running++;
        peak = Math.max(peak, running);
        await sleep(150);
        running--;
        done++;
        await m.delete();
      },
    });
    await until("all handled", async () => (done === 10 ? true : undefined), 20_000);
    drain.abort();
    await withTimeout(consumed, 10_000, "consumer to return");
    assert.ok(peak <= 3, `peak ${peak} in flight`);
    assert.ok(asked.every((n) => n >= 2 && n <= 32), `asked for ${asked.join(",")} (never for one freed slot of 3)`);
    assert.equal(asked[0], 3, "before any task finished: only the free slots");
  });

  test("consumer batches: short tasks fill a receive beyond the free slots; buffered messages stay held", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30 });
    await queue.ensureQueues();
    await Promise.all(Array.from({ length: 30 }, (_, i) => qs.tasks.sendMessage(`b${i}`, timeout())));
    const receive = queue.receive.bind(queue);
    const got: number[] = [];
    queue.receive = async (max: number) => {
      const messages = await receive(max);
      got.push(messages.length);
      return messages;
    };
    let running = 0;
    let peak = 0;
    let done = 0;
    let visibleWhileBuffered = -1;
    let receivedBeforeLook = 0;
    let looked = false;
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 2,
      drain: drain.signal,
      drainBudgetMs: 5000,
      handle: async (m) => {
        running++;
        peak = Math.max(peak, running);
        if (done >= 10 && !looked) {
          looked = true;
          receivedBeforeLook = got.reduce((a, b) => a + b, 0);
          visibleWhileBuffered = await visibleCount(qs.tasks);
        }
        await sleep(10);
        running--;
        done++;
        await m.delete();
      },
    });
    await until("all handled", async () => (done === 30 ? true : undefined), 30_000);
    drain.abort();
    const summary = await withTimeout(consumed, 10_000, "consumer to return");
    assert.ok(peak <= 2, `peak ${peak} in flight`);
    assert.equal(summary.received, 30, "each message received once");
    assert.ok(Math.max(...got) > 2, `a receive brought more than the 2 slots (${got.join(",")})`);
    assert.ok(got.filter((n) => n > 0).length < 15, `fewer receive calls than one per 2 tasks (${got.join(",")})`);
    assert.ok(
      receivedBeforeLook > 12,
      `messages were waiting for a slot when looked at (${receivedBeforeLook} received)`,
    );
    assert.ok(
      visibleWhileBuffered >= 0 && visibleWhileBuffered <= 30 - receivedBeforeLook,
      `messages waiting for a slot are hidden from other consumers (${visibleWhileBuffered} visible)`,
    );
  });

  test("consumer batches: drain hands buffered messages back at once; long tasks get no buffer", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 60 });
    await queue.ensureQueues();
    await Promise.all(Array.from({ length: 20 }, (_, i) => qs.tasks.sendMessage(`d${i}`, timeout())));
    let handled = 0;
    const release = Promise.withResolvers<void>();
    const asked: number[] = [];
    const receive = queue.receive.bind(queue);
    queue.receive = (max: number) => {
      asked.push(max);
      return receive(max);
    };
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 2,
      drain: drain.signal,
      drainBudgetMs: 60_000,
      handle: async (m, stop) => {
        const n = ++handled;
        // The first four are short, so the buffer fills; later ones wait until the test lets them finish.
        if (n > 4) await Promise.race([release.promise, new Promise((r) => stop.addEventListener("abort", r))]);
        await m.delete();
      },
    });
    await until("two long tasks running", async () => (handled >= 6 ? true : undefined), 20_000);
    await sleep(300);
    const hidden = 20 - await visibleCount(qs.tasks);
    assert.ok(hidden > 6, `more messages held than the 2 running (${hidden}): the buffer filled`);
    drain.abort();
    await until(
      "buffered messages handed back",
      async () => (await visibleCount(qs.tasks) >= 14 ? true : undefined),
      5000,
    );
    assert.equal(handled, 6, "no buffered message started after drain began");
    release.resolve();
    const summary = await withTimeout(consumed, 10_000, "consumer to return");
    // A receive may bring fewer than all visible messages; every received one that had not started went back.
    assert.ok(summary.releasedUnstarted > 0, "some waited in the buffer");
    assert.equal(summary.releasedUnstarted, summary.received - 6, "each received message that never started");
    assert.equal(await visibleCount(qs.tasks), 14);

    // Tasks far longer than the prefetch horizon: receives ask only for the free slots.
    asked.length = 0;
    handled = 0;
    const slow = new AbortController();
    const slowConsumed = consumeForTest({
      queue,
      concurrency: 2,
      drain: slow.signal,
      drainBudgetMs: 5000,
      prefetchHorizonMs: 100,
      handle: async (m) => {
        handled++;
        await sleep(400);
        await m.delete();
      },
    });
    await until("six slow tasks handled", async () => (handled >= 6 ? true : undefined), 20_000);
    slow.abort();
    await withTimeout(slowConsumed, 10_000, "consumer to return");
    assert.ok(asked.every((n) => n <= 2), `asked for ${asked.join(",")}: never beyond the 2 slots`);
  });

  test("consumer batches: a buffered message that waits too long is handed back to the queue", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 60 });
    await queue.ensureQueues();
    await Promise.all(Array.from({ length: 12 }, (_, i) => qs.tasks.sendMessage(`w${i}`, timeout())));
    let handled = 0;
    const release = Promise.withResolvers<void>();
    let most = 0;
    const receive = queue.receive.bind(queue);
    queue.receive = async (max: number) => {
      const messages = await receive(max);
      most = Math.max(most, messages.length);
      return messages;
    };
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 1,
      drain: drain.signal,
      drainBudgetMs: 10_000,
      prefetchMaxWaitMs: 1000,
      handle: async (m) => {
        // Two short tasks set a fast pace; the third never ends until released, so the buffer stops moving.
        if (++handled > 2) await release.promise;
        await m.delete();
      },
    });
    try {
      await until("the third task running", async () => (handled >= 3 ? true : undefined), 20_000);
      assert.equal(most, 11, "after two short tasks one receive took the other 11 messages for the single slot");
      await until(
        "buffered messages handed back",
        async () => (await visibleCount(qs.tasks) === 9 ? true : undefined),
        10_000,
      );
      await sleep(500);
      assert.equal(await visibleCount(qs.tasks), 9, "and not received again while the slot is stuck");
      assert.equal(handled, 3, "the stuck slot did not start anything else");
    } finally {
      release.resolve();
      drain.abort();
      await withTimeout(consumed, 10_000, "consumer to return");
    }
  });

  test("consumer: an idle queue is polled with growing waits (few polls), and drain returns at once", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30 });
    let polls = 0;
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 4,
      minPollMs: 50,
      maxPollMs: 800,
      drain: drain.signal,
      drainBudgetMs: 1000,
      handle: async (m) => void (await m.delete()),
      hooks: { polled: () => polls++ },
    });
    await sleep(4000);
    // Backoff 100, 150, 250, 450, 800, 800, … ms: about 8 polls in 4 s (a fixed 50 ms interval would be ~80).
    assert.ok(polls >= 4 && polls <= 12, `${polls} polls in 4 s`);
    const t0 = Date.now();
    drain.abort();
    await withTimeout(consumed, 5000, "consumer to return");
    assert.ok(Date.now() - t0 < 1500, "the idle wait is cut short by the drain");
  });

  test("consumer wake: a wake call ends the idle back-off at once and the new message is handled", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30 });
    await queue.ensureQueues();
    const drain = new AbortController();
    const wakers: (() => void)[] = [];
    let polls = 0;
    let handled = 0;
    const consumed = consumeForTest({
      queue,
      concurrency: 2,
      // The first idle wait is already 60 s: without the wake the message would wait that long.
      minPollMs: 60_000,
      maxPollMs: 60_000,
      drain: drain.signal,
      drainBudgetMs: 1000,
      handle: async (m) => {
        handled++;
        await m.delete();
      },
      hooks: { polled: () => polls++ },
      onWake: (listener) => wakers.push(listener),
    });
    try {
      await until("the first (empty) poll", async () => (polls >= 1 ? true : undefined), 20_000);
      await qs.tasks.sendMessage("woken", timeout());
      assert.equal(wakers.length, 1, "the consumer registered for wake calls");
      wakers[0]();
      await until("the message handled after the wake", async () => (handled === 1 ? true : undefined), 20_000);
    } finally {
      drain.abort();
      await withTimeout(consumed, 5000, "consumer to return");
    }
  });

  test("consumer drain: unfinished messages are made visible again at once", async () => {
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 60 });
    await queue.ensureQueues();
    await qs.tasks.sendMessage("long task", timeout());
    let started = false;
    let stopSeen = false;
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 2,
      drain: drain.signal,
      drainBudgetMs: 500,
      handle: async (_m: HeldMessage, stop: AbortSignal) => {
        started = true;
        await new Promise<void>((r) => stop.addEventListener("abort", () => r(), { once: true }));
        stopSeen = true;
      },
    });
    await until("task started", async () => (started ? true : undefined), 10_000);
    drain.abort();
    const summary = await withTimeout(consumed, 10_000, "consumer to return");
    assert.equal(summary.releasedOnDrain, 1);
    assert.ok(stopSeen, "the handler was told to stop");
    const peeked = (await qs.tasks.peekMessages(timeout())).peekedMessageItems;
    assert.equal(peeked.length, 1, "visible right away, not after the 60 s hold");
    assert.equal(peeked[0].messageText, "long task");
  });

  test("consumer: an Azurite outage is survived (ready false, one log line), then work resumes", async () => {
    const reasons: string[] = [];
    const qs = queues();
    const queue = new TaskQueue(qs, { holdSeconds: 30, requestTimeoutMs: 2000 });
    await queue.ensureQueues();
    const lines: string[] = [];
    configureLogging({ level: "error", write: (line) => lines.push(line) });
    const readiness: boolean[] = [];
    const handled: string[] = [];
    const drain = new AbortController();
    const consumed = consumeForTest({
      queue,
      concurrency: 2,
      drain: drain.signal,
      drainBudgetMs: 2000,
      handle: async (m) => {
        handled.push(m.text);
        await m.delete();
      },
      hooks: {
        ready: (r, reason) => {
          readiness.push(r);
          if (reason) reasons.push(reason);
        },
      },
    });
    try {
      await until("ready", async () => (readiness.at(-1) === true ? true : undefined), 10_000);
      await emu.queue.stop();
      await until("not ready", async () => (readiness.at(-1) === false ? true : undefined), 15_000);
      // The reason names the service, its endpoint and the kind of failure, not just "queue unreachable".
      assert.match(
        reasons.at(-1) ?? "",
        /^Storage queue at http:\/\/127\.0\.0\.1:\d+: (unreachable|no answer in time)/,
      );
      await sleep(3000); // several failed polls
      const before = readiness.length;
      await emu.queue.start();
      // Azurite may come back without the queue (its metadata is saved lazily); the consumer creates it again.
      await until("ready again", async () => (readiness.slice(before).includes(true) ? true : undefined), 40_000);
      await qs.tasks.sendMessage("after the outage", timeout());
      await until(
        "handled after the outage",
        async () => (handled.includes("after the outage") ? true : undefined),
        40_000,
      );
      assert.equal(readiness.at(-1), true);
      const outageLines = lines.filter((l) => l.includes("task queue unreachable"));
      assert.equal(outageLines.length, 1, "logged once per outage");
    } finally {
      configureLogging({ level: "error", write: (line) => process.stdout.write(line + "\n") });
      drain.abort();
      await withTimeout(consumed, 10_000, "consumer to return");
    }
  });
});

// TaskSender against Azurite: messages under 64 KiB, batches split to fit, single huge items as claim-check blobs.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Content } from "../../src/model/content.ts";
import { QUEUE_MESSAGE_LIMIT_BYTES, type TaskMessage, TaskMessageSchema } from "../../src/model/task-envelope.ts";
import { planTaskMessages, queueTextBytes, TaskSender } from "../../src/queue/sender.ts";
import { newId } from "../../src/model/documents.ts";
import { QueueClient } from "@azure/storage-queue";
import { blobService, drainQueue, queuedPaths, testConfig, withTimeout } from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

let emu: Emulators;

before(async () => {
  emu = await startEmulators({ cosmos: false });
});

after(async () => {
  await emu?.stop();
});

function item(path: string, dataBytes = 0): Content {
  return {
    id: {
      canonical_id: `https://devstoreaccount1.blob.core.windows.net/docs/${path}`,
      unique_id: `uid-${path}`,
      source_name: "devstoreaccount1",
      source_type: "azure_blob",
      container: "docs",
      path,
      filename: path,
      metadata: { size: 1, last_modified: "2025-01-02T03:04:05.000Z", content_type: "text/plain" },
    },
    summary_data: {},
    data: dataBytes > 0 ? { text: "x".repeat(dataBytes) } : {},
    executor_logs: [],
  };
}

function build(items: Content[]): TaskMessage {
  return v.parse(TaskMessageSchema, {
    task_type: "content_processing",
    payload: {
      task_id: newId("task"),
      pipeline_id: "p1",
      pipeline_name: "P1",
      execution_id: newId("exec"),
      vault_id: "vault-1",
      content: items,
      executed_input_executor: "discover",
      created_at: new Date().toISOString(),
      lease_epoch: 3,
    },
  });
}

describe("queueTextBytes", () => {
  test("counts UTF-8 bytes plus the growth of XML entities", () => {
    assert.equal(queueTextBytes("abc"), 3);
    assert.equal(queueTextBytes("é"), 2);
    assert.equal(queueTextBytes("a&b"), 3 + 4);
    assert.equal(queueTextBytes("<>"), 2 + 6);
  });
});

describe("planTaskMessages", () => {
  test("a batch over 64 KiB is split into messages that each fit, items kept in order", () => {
    const items = Array.from({ length: 120 }, (_, i) => item(`doc-${String(i).padStart(3, "0")}.txt`, 1500));
    const whole = JSON.stringify(build(items));
    assert.ok(queueTextBytes(whole) > QUEUE_MESSAGE_LIMIT_BYTES, "the unsplit batch must be over the limit");
    const planned = planTaskMessages(items, build);
    assert.ok(planned.length >= 3, `expected several messages, got ${planned.length}`);
    for (const p of planned) {
      assert.equal(p.claimCheck, false);
      assert.ok(p.bytes <= QUEUE_MESSAGE_LIMIT_BYTES, `message of ${p.bytes} bytes`);
      assert.equal(p.bytes, queueTextBytes(p.text));
    }
    const order = planned.flatMap((p) => p.message.payload.content.map((c) => c.id.path));
    assert.deepEqual(order, items.map((c) => c.id.path));
    // Distinct task and execution per message (one execution record each).
    assert.equal(new Set(planned.map((p) => p.message.payload.execution_id)).size, planned.length);
  });

  test("packs greedily: a message is only closed when the next item would not fit", () => {
    const items = Array.from({ length: 60 }, (_, i) => item(`d${i}.txt`, 3000));
    const planned = planTaskMessages(items, build);
    for (let i = 0; i < planned.length - 1; i++) {
      const next = planned[i + 1].message.payload.content[0];
      const withNext = JSON.stringify(build([...planned[i].message.payload.content, next]));
      assert.ok(queueTextBytes(withNext) > QUEUE_MESSAGE_LIMIT_BYTES, `message ${i} could have taken one more item`);
    }
  });

  test("a single item over the limit is planned as a claim check; its neighbours are not", () => {
    const items = [item("small-1.txt", 10), item("huge.txt", 100_000), item("small-2.txt", 10)];
    const planned = planTaskMessages(items, build);
    assert.deepEqual(planned.map((p) => [p.message.payload.content.map((c) => c.id.path), p.claimCheck]), [
      [["small-1.txt"], false],
      [["huge.txt"], true],
      [["small-2.txt"], false],
    ]);
  });

  test("no items, no messages", () => {
    assert.deepEqual(planTaskMessages([], build), []);
  });
});

describe("TaskSender on Azurite", () => {
  test("split messages are all accepted by the queue and carry every item as plain JSON", async () => {
    const config = await testConfig(emu);
    const sender = new TaskSender(config);
    const items = Array.from({ length: 90 }, (_, i) => item(`f-${i}.pdf`, 2000));
    const planned = planTaskMessages(items, build);
    assert.ok(planned.length > 1);
    for (const p of planned) await withTimeout(sender.send(p), 20_000, "send");
    const received = await drainQueue(sender.queue);
    assert.equal(received.length, planned.length);
    for (const r of received) {
      assert.ok(r.task, "plain JSON task message");
      assert.equal(r.task.payload.lease_epoch, 3);
      assert.ok(r.text.startsWith('{"task_type":"content_processing"'), "not base64");
    }
    assert.deepEqual((await queuedPaths(emu, received)).sort(), items.map((c) => String(c.id.path)).sort());
  });

  test("a message of exactly the limit is accepted (the byte count matches the service's)", async () => {
    const config = await testConfig(emu);
    const sender = new TaskSender(config);
    const probe = item("exact.txt", 0);
    const base = queueTextBytes(JSON.stringify(build([probe])));
    const exact = item("exact.txt", QUEUE_MESSAGE_LIMIT_BYTES - base - JSON.stringify({ text: "" }).length + 2);
    const [planned] = planTaskMessages([exact], build);
    assert.equal(planned.bytes, QUEUE_MESSAGE_LIMIT_BYTES);
    assert.equal(planned.claimCheck, false);
    await withTimeout(sender.send(planned), 20_000, "send exact");
    const received = await drainQueue(sender.queue);
    assert.equal(received.length, 1);
    assert.equal(received[0].task?.payload.content[0].id.path, "exact.txt");

    // One byte more is over the limit: planned as a claim check, and the queue itself refuses the raw text.
    const over = item("exact.txt", QUEUE_MESSAGE_LIMIT_BYTES - base - JSON.stringify({ text: "" }).length + 3);
    const [overPlanned] = planTaskMessages([over], build);
    assert.equal(overPlanned.bytes, QUEUE_MESSAGE_LIMIT_BYTES + 1);
    assert.equal(overPlanned.claimCheck, true);
    await assert.rejects(
      withTimeout(sender.queue.sendMessage(overPlanned.text), 20_000, "send over"),
      (err: unknown) => {
        return (err as { statusCode?: number }).statusCode === 413;
      },
    );
  });

  test("a single huge item goes to a claim-check blob holding the whole task; the queue gets a pointer", async () => {
    const config = await testConfig(emu);
    const sender = new TaskSender(config);
    const [planned] = planTaskMessages([item("huge.bin", 200_000)], build);
    const result = await withTimeout(sender.send(planned), 20_000, "send claim check");
    assert.ok(result.claimCheck);
    assert.equal(result.claimCheck.container, config.CLAIM_CHECK_CONTAINER_NAME);
    assert.equal(result.claimCheck.blob, `tasks/${planned.message.payload.task_id}.json`);
    const received = await drainQueue(sender.queue);
    assert.equal(received.length, 1);
    const pointer = received[0].claimCheck;
    assert.ok(pointer, "a ClaimCheckMessage");
    assert.deepEqual(pointer.claim_check, {
      container: config.CLAIM_CHECK_CONTAINER_NAME,
      blob: result.claimCheck.blob,
      task_id: planned.message.payload.task_id,
      execution_id: planned.message.payload.execution_id,
    });
    const stored = await withTimeout(
      blobService(emu).getContainerClient(pointer.claim_check.container).getBlockBlobClient(pointer.claim_check.blob)
        .downloadToBuffer(),
      20_000,
      "download claim check",
    );
    const message = v.parse(TaskMessageSchema, JSON.parse(stored.toString("utf8")));
    assert.deepEqual(message, planned.message);
    assert.equal((message.payload.content[0].data as { text: string }).text.length, 200_000);
  });

  test("a claim-check blob is deleted again when the pointer message cannot be sent", async () => {
    const config = await testConfig(emu);
    // A queue endpoint nobody listens on: the upload succeeds, the send fails.
    const unreachable = new QueueClient(
      emu.queueConnectionString.replace(/QueueEndpoint=http:\/\/127\.0\.0\.1:\d+/, "QueueEndpoint=http://127.0.0.1:9"),
      "unreachable",
      { retryOptions: { maxTries: 1 } },
    );
    const sender = new TaskSender(config, { queue: unreachable });
    const [planned] = planTaskMessages([item("orphan.bin", 200_000)], build);
    await assert.rejects(withTimeout(sender.send(planned), 20_000, "send to an unreachable queue"));
    const blob = blobService(emu).getContainerClient(config.CLAIM_CHECK_CONTAINER_NAME)
      .getBlobClient(`tasks/${planned.message.payload.task_id}.json`);
    assert.equal(await blob.exists(), false, "no orphaned claim-check blob");
  });
});

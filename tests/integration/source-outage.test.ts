// The source worker stopping part-way through a crawl: a drain (shutdown) and a queue outage. Neither may lose a
// blob, and a normal restart afterwards must not queue what was already queued.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import type { Emulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import type { CosmosStore } from "../../src/store/cosmos.ts";
import { ExecutionDocSchema } from "../../src/model/documents.ts";
import { CheckpointStore, NO_CHECKPOINT } from "../../src/store/checkpoints.ts";
import { LeaseStore } from "../../src/store/leases.ts";
import { taskQueues } from "../../src/queue/clients.ts";
import { runSourceOnce, runSourceWorker } from "../../src/workers/source/index.ts";
import { CRAWL_SENDS_IN_FLIGHT } from "../../src/workers/source/send-window.ts";
import {
  drainQueue,
  queuedPaths,
  type SeededSource,
  sleep,
  SourceTestBed,
  testContext,
  withTimeout,
} from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

const bed = new SourceTestBed();
let emu: Emulators;
let store: CosmosStore;

before(async () => {
  emu = await bed.start();
});

after(async () => {
  await bed.stop();
});

type Setup = SeededSource;

async function setup(blobCount: number): Promise<Setup> {
  const s = await bed.seed({
    prefix: "outage",
    settings: { batch_size: 1 },
    overrides: { LOCK_TTL_SECONDS: "5", SCHEDULER_SLEEP_INTERVAL_SECONDS: "1" },
    blobs: blobCount,
    blobPrefix: "doc",
  });
  store = s.store;
  return s;
}

async function queuedCount(config: Config): Promise<number> {
  const queue = taskQueues(config).tasks;
  if (!(await queue.exists())) return 0;
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

describe("source worker stopped part-way", () => {
  test("drain mid-crawl: the current batch finishes, the checkpoint does not move, a restart queues only the rest", async () => {
    const s = await setup(200);
    const { ctx, reporter, drain } = testContext(s.config, "draining-worker");
    const loop = runSourceWorker(ctx);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await queuedCount(s.config)) < 5) await sleep(30);
    drain.abort();
    await withTimeout(loop, 30_000, "drain");
    assert.equal(reporter.inFlight, 0);
    assert.deepEqual(reporter.infos.leases, [], "no lease held after the drain");
    const first = await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks));
    assert.ok(first.length >= 5 && first.length < s.names.length, `${first.length} queued before the drain`);

    const checkpoint = await new CheckpointStore(store.checkpoints).read({
      vaultId: s.vaultId,
      pipelineId: s.pipelineId,
      executorId: "discover",
    });
    assert.equal(
      checkpoint?.doc.checkpoint_timestamp,
      NO_CHECKPOINT,
      "an interrupted crawl does not move the checkpoint",
    );
    assert.equal(checkpoint?.recentKeys.size, first.length, "it remembers what it queued");
    assert.equal((await new LeaseStore(store.locks, 5).read(s.vaultId))?.owner, null, "lease released");

    const restart = await withTimeout(runSourceOnce(testContext(s.config, "next-worker").ctx, {}), 60_000, "restart");
    assert.deepEqual(restart.errors, []);
    const rest = await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks));
    assert.equal(first.length + rest.length, s.names.length, "nothing queued twice");
    assert.deepEqual([...first, ...rest].sort(), s.names, "nothing lost");
    const after = await new CheckpointStore(store.checkpoints).read({
      vaultId: s.vaultId,
      pipelineId: s.pipelineId,
      executorId: "discover",
    });
    assert.notEqual(after?.doc.checkpoint_timestamp, NO_CHECKPOINT, "a complete crawl moves it");
  });

  test("queue outage mid-crawl: that execution is marked failed, the crawl stops, the next crawl sends the rest", async () => {
    const s = await setup(120);
    const { ctx, reporter } = testContext(s.config, "outage-worker");
    const crawl = runSourceOnce(ctx, {});
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await queuedCount(s.config)) < 5) await sleep(30);
    await emu.queue.stop();
    let summary;
    try {
      summary = await withTimeout(crawl, 90_000, "crawl during the outage");
    } finally {
      await emu.queue.start();
    }
    assert.equal(summary.errors.length, 1);
    assert.match(summary.errors[0], /failed to send the task to queue/);
    assert.equal(reporter.counters.crawl_errors_total, 1);

    const { resources } = await store.executions.items
      .query({ query: "SELECT * FROM c WHERE c.vault_id = @v", parameters: [{ name: "@v", value: s.vaultId }] })
      .fetchAll();
    const records = resources.map((r) => v.parse(ExecutionDocSchema, r));
    // The sends under way when the queue went (at most CRAWL_SENDS_IN_FLIGHT) each fail and mark their execution.
    const unsent = records.filter((r) => r.status === "failed" && r.task_id);
    assert.ok(
      unsent.length >= 1 && unsent.length <= CRAWL_SENDS_IN_FLIGHT,
      `the executions whose messages were not sent are failed, not left pending (${unsent.length})`,
    );
    for (const r of unsent) assert.match(r.error ?? "", /failed to send the task to queue/);
    const failureRecords = records.filter((r) => r.status === "failed" && !r.task_id);
    assert.equal(failureRecords.length, 1, "and one record for the failed crawl");
    assert.equal(records.filter((r) => r.status === "pending").length, summary.tasks_queued);

    // What was sent before the outage, from the pending records (a SIGKILLed Azurite may lose its last messages).
    const first = records.filter((r) => r.status === "pending").flatMap((r) =>
      (r.content as { path: string }[]).map((c) => c.path)
    );
    await drainQueue(taskQueues(s.config).tasks);
    const next = await withTimeout(runSourceOnce(testContext(s.config, "outage-worker-2").ctx, {}), 60_000, "recovery");
    assert.deepEqual(next.errors, []);
    const rest = await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks));
    assert.deepEqual([...first, ...rest].sort(), s.names, "nothing lost, nothing twice");
  });
});

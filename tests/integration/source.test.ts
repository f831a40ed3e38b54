// The source worker against Azurite (blob + queue) and the Cosmos emulator: discovery of new and modified blobs,
// checkpoints across restarts, --once summaries and failures, the per-vault scheduler and drain.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import process from "node:process";
import * as v from "valibot";
import type { Emulators } from "../helpers/emulators.ts";
import type { CosmosStore } from "../../src/store/cosmos.ts";
import { type ExecutionDoc, ExecutionDocSchema } from "../../src/model/documents.ts";
import { CheckpointDocSchema, checkpointId } from "../../src/store/checkpoints.ts";
import { leaseId, LeaseStore } from "../../src/store/leases.ts";
import { taskQueues } from "../../src/queue/clients.ts";
import { runSourceOnce, runSourceWorker } from "../../src/workers/source/index.ts";
import {
  blobService,
  discoveryPipelineYaml,
  drainQueue,
  queuedPaths,
  type SeededSource,
  sleep,
  SourceTestBed,
  testContext,
  uniqueName,
  uploadBlobs,
  withTimeout,
} from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

const bed = new SourceTestBed();
let emu: Emulators;
/** The store of the test running now: every test gets its own database, so workers see only its vaults. */
let store: CosmosStore;
const T = 30_000;

before(async () => {
  emu = await bed.start();
});

after(async () => {
  await bed.stop();
});

type Setup = SeededSource;

async function setup(
  opts: { settings?: Record<string, unknown>; overrides?: Record<string, string> } = {},
): Promise<Setup> {
  const s = await bed.seed({ settings: opts.settings, overrides: { LOCK_TTL_SECONDS: "5", ...opts.overrides } });
  store = s.store;
  return s;
}

async function executionsOf(vaultId: string): Promise<ExecutionDoc[]> {
  const { resources } = await withTimeout(
    store.executions.items
      .query({ query: "SELECT * FROM c WHERE c.vault_id = @v", parameters: [{ name: "@v", value: vaultId }] })
      .fetchAll(),
    T,
    "query executions",
  );
  return resources.map((r) => v.parse(ExecutionDocSchema, r));
}

async function once(s: Setup, workerId: string, vaultId?: string) {
  const { ctx, reporter } = testContext(s.config, workerId);
  const summary = await withTimeout(runSourceOnce(ctx, { vaultId: vaultId ?? s.vaultId }), 60_000, "runSourceOnce");
  return { summary, reporter };
}

async function queued(s: Setup): Promise<string[]> {
  return (await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks))).sort();
}

describe("source worker: discovery and checkpoints", () => {
  test("first crawl queues every blob: pending records before messages, ids only in the record, checkpoint = newest blob", async () => {
    const s = await setup({ settings: { batch_size: 2 } });
    const names = ["a.txt", "b.txt", "c/d.txt", "e.txt", "f.txt"];
    await uploadBlobs(emu, s.container, names.map((name) => ({ name })));
    const { summary, reporter } = await once(s, "worker-1");
    assert.deepEqual(summary, { vaults: 1, items_discovered: 5, tasks_queued: 3, errors: [] });
    assert.equal(reporter.counters.crawls_total, 1);
    assert.equal(reporter.counters.tasks_enqueued_total, 3);
    assert.equal(reporter.counters.items_discovered_total, 5);

    const tasks = await drainQueue(taskQueues(s.config).tasks);
    assert.deepEqual((await queuedPaths(emu, tasks)).sort(), names.slice().sort());
    const records = await executionsOf(s.vaultId);
    assert.equal(records.length, 3);
    for (const t of tasks) {
      const payload = t.task!.payload;
      assert.equal(payload.vault_id, s.vaultId);
      assert.equal(payload.pipeline_id, s.pipelineId);
      assert.equal(payload.executed_input_executor, "discover");
      assert.equal(payload.lease_epoch, 1);
      const record = records.find((r) => r.id === payload.execution_id);
      assert.ok(record, "every message has its execution record");
      assert.equal(record.status, "pending");
      assert.equal(record.task_id, payload.task_id);
      assert.equal(record.number_of_items, payload.content.length);
      assert.equal(
        record.status_message,
        `Task queued for processing with input content of size ${payload.content.length}`,
      );
      assert.equal(record.source_worker_id, "worker-1");
      assert.deepEqual(record.content, payload.content.map((c) => c.id), "ids only");
    }

    const newest = Math.max(
      ...tasks.flatMap((t) => t.task!.payload.content.map((c) => Date.parse(String(c.id.metadata?.last_modified)))),
    );
    const id = checkpointId({ vaultId: s.vaultId, pipelineId: s.pipelineId, executorId: "discover" });
    const { resource } = await store.checkpoints.item(id, id).read();
    const checkpoint = v.parse(CheckpointDocSchema, resource);
    assert.equal(checkpoint.checkpoint_timestamp, new Date(newest).toISOString());
    assert.equal(checkpoint.vault_id, s.vaultId);
    assert.equal(checkpoint.pipeline_id, s.pipelineId);
    assert.equal(checkpoint.executor_id, "discover");
    assert.equal(checkpoint.worker_id, "worker-1");
    assert.equal(checkpoint.epoch, 1);
    // The lease was released, keeping its epoch.
    const lease = await new LeaseStore(store.locks, 5).read(s.vaultId);
    assert.equal(lease?.owner, null);
    assert.equal(lease?.epoch, 1);
  });

  test("max_results: the checkpoint never passes a blob that was not queued; every blob is queued once", async () => {
    const s = await setup({ settings: { max_results: 2, batch_size: 2 } });
    // Old blobs have late names, new blobs early ones: a listing capped in name order would see only the new ones,
    // move the checkpoint past the old ones and lose them.
    await uploadBlobs(emu, s.container, [{ name: "x-old.txt" }, { name: "y-old.txt" }, { name: "z-old.txt" }]);
    await sleep(1100); // blob times have one-second resolution
    await uploadBlobs(emu, s.container, [{ name: "a-new.txt" }, { name: "b-new.txt" }, { name: "c-new.txt" }]);
    const rounds: string[][] = [];
    for (let i = 0; i < 4; i++) {
      await once(s, `worker-${i}`);
      rounds.push(await queued(s));
    }
    assert.deepEqual(rounds, [
      ["x-old.txt", "y-old.txt"],
      ["a-new.txt", "z-old.txt"],
      ["b-new.txt", "c-new.txt"],
      [],
    ]);
  });

  test("a restarted worker queues only new and modified blobs; an empty crawl writes no record", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "one.txt" }, { name: "two.txt" }, { name: "three.txt" }]);
    assert.equal((await once(s, "worker-a")).summary.tasks_queued, 1);
    assert.equal((await queued(s)).length, 3);

    // New process, same Cosmos: nothing new.
    const again = await once(s, "worker-b");
    assert.deepEqual(again.summary, { vaults: 1, items_discovered: 0, tasks_queued: 0, errors: [] });
    assert.equal(again.reporter.counters.empty_crawls_total, 1);
    assert.deepEqual(await queued(s), []);
    assert.equal((await executionsOf(s.vaultId)).length, 1, "no 'no content discovered' record");

    await sleep(1100); // blob times have one-second resolution
    await uploadBlobs(emu, s.container, [{ name: "four.txt" }, { name: "two.txt", body: "changed" }]);
    const third = await once(s, "worker-c");
    assert.equal(third.summary.items_discovered, 2);
    assert.deepEqual(await queued(s), ["four.txt", "two.txt"]);
    assert.equal((await once(s, "worker-d")).summary.items_discovered, 0);
  });

  test("a blob written in the same second as the checkpoint is still found, and nothing is sent twice", async () => {
    const s = await setup();
    let sameSecond = false;
    for (let attempt = 0; attempt < 5 && !sameSecond; attempt++) {
      while (Date.now() % 1000 > 150) await sleep(20); // start right after a second boundary
      const first = `first-${attempt}.txt`;
      const second = `second-${attempt}.txt`;
      await uploadBlobs(emu, s.container, [{ name: first }]);
      await once(s, "worker-a");
      await uploadBlobs(emu, s.container, [{ name: second }]);
      const c = blobService(emu).getContainerClient(s.container);
      const [p1, p2] = await Promise.all([
        c.getBlobClient(first).getProperties(),
        c.getBlobClient(second).getProperties(),
      ]);
      sameSecond = p1.lastModified?.getTime() === p2.lastModified?.getTime();
      const next = await once(s, "worker-b");
      assert.equal(next.summary.items_discovered, 1, `attempt ${attempt}: only the later blob`);
      await drainQueue(taskQueues(s.config).tasks);
    }
    assert.ok(sameSecond, "could not produce two blobs in one second (Azurite clock)");
  });
});

describe("source worker: message size", () => {
  test("a batch whose message would pass 64 KiB is split: one record per message, every item once", async () => {
    const s = await setup({ settings: { batch_size: 100 } });
    const names = Array.from({ length: 100 }, (_, i) => `big-metadata-${String(i).padStart(3, "0")}.txt`);
    const metadata = { note: "m".repeat(600) };
    await uploadBlobs(emu, s.container, names.map((name) => ({ name, metadata })));
    const { summary } = await once(s, "splitter");
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.items_discovered, 100);
    assert.ok(summary.tasks_queued >= 2, `one crawl batch became ${summary.tasks_queued} messages`);
    const tasks = await drainQueue(taskQueues(s.config).tasks);
    assert.equal(tasks.length, summary.tasks_queued);
    for (const t of tasks) assert.ok(Buffer.byteLength(t.text) <= 64 * 1024);
    assert.deepEqual((await queuedPaths(emu, tasks)).sort(), names);
    const records = await executionsOf(s.vaultId);
    assert.equal(records.length, tasks.length);
    assert.equal(records.reduce((n, r) => n + (r.number_of_items ?? 0), 0), 100);
  });
});

describe("source worker: --once errors", () => {
  test("unknown and disabled vaults", async () => {
    const s = await setup();
    const unknown = await once(s, "w", "no-such-vault");
    assert.equal(unknown.summary.vaults, 0);
    assert.match(unknown.summary.errors.join("\n"), /vault 'no-such-vault' not found/);
    await store.vaults.items.upsert({ id: s.vaultId, name: s.vaultId, pipeline_id: s.pipelineId, enabled: false });
    const disabled = await once(s, "w");
    assert.match(disabled.summary.errors.join("\n"), /is disabled/);
  });

  test("a lease held by another worker is reported with its owner and expiry; nothing is queued", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "x.txt" }]);
    const leases = new LeaseStore(store.locks, 60);
    const held = await leases.acquire(s.vaultId, s.pipelineId, "other-host:123");
    assert.ok(held.acquired);
    const { summary, reporter } = await once(s, "w");
    assert.equal(summary.tasks_queued, 0);
    assert.equal(summary.errors.length, 1);
    assert.equal(
      summary.errors[0],
      `vault '${s.vaultId}': lease held by other-host:123 until ${held.lease.expiresAt.toISOString()}`,
    );
    assert.equal(reporter.counters.lease_conflicts_total, 1);
    assert.deepEqual(await queued(s), []);
    await leases.release(held.lease);
  });

  async function expectFailure(s: Setup, pattern: RegExp): Promise<ExecutionDoc> {
    const { summary, reporter } = await once(s, "w-fail");
    assert.equal(summary.errors.length, 1, summary.errors.join("\n"));
    assert.match(summary.errors[0], pattern);
    assert.equal(reporter.counters.crawl_errors_total, 1);
    const failed = (await executionsOf(s.vaultId)).filter((r) => r.status === "failed");
    assert.equal(failed.length, 1);
    assert.match(failed[0].error ?? "", pattern);
    assert.equal(failed[0].status_message, "Execution failed. View error for details.");
    assert.equal(failed[0].vault_id, s.vaultId);
    const lock = await store.locks.item(leaseId(s.vaultId), leaseId(s.vaultId)).read();
    if (lock.resource) assert.equal(lock.resource.owner, null, "lease released after a failure");
    return failed[0];
  }

  test("missing pipeline → failed record", async () => {
    const s = await setup();
    await store.vaults.items.upsert({ id: s.vaultId, pipeline_id: "no-such-pipeline", enabled: true });
    const record = await expectFailure(s, /pipeline 'no-such-pipeline' of vault .* not found/);
    assert.equal(record.pipeline_id, "no-such-pipeline");
  });

  test("bad executor settings → failed record naming the setting", async () => {
    const s = await setup({ settings: { batch_size: "many" } });
    await expectFailure(s, /executor 'discover' \(azure_blob_input_discovery\).*batch_size must be a whole number/);
  });

  test("unknown executor type → failed record", async () => {
    const s = await setup();
    await store.pipelines.items.upsert({
      id: s.pipelineId,
      name: "x",
      yaml:
        "pipeline:\n  name: x\n  executors:\n    - id: d\n      type: no_such_executor\n  execution_sequence: [d]\n",
    });
    await expectFailure(s, /unknown executor type 'no_such_executor' \(executor 'd'\)/);
  });

  test("no input executor (only processing executors, or the input one disabled) → failed record", async () => {
    const s = await setup();
    await store.pipelines.items.upsert({
      id: s.pipelineId,
      name: "x",
      yaml: `pipeline:
  name: x
  executors:
    - {id: d, type: azure_blob_input_discovery, settings: {enabled: false, blob_container_name: ${s.container}}}
    - {id: p, type: pass_through}
  execution_sequence: [d, p]
`,
    });
    await expectFailure(s, /pipeline '.*' has no enabled input executor that can crawl a source/);
  });

  test("storage error (missing container) → failed record, checkpoint untouched", async () => {
    const s = await setup();
    await blobService(emu).getContainerClient(s.container).delete();
    await expectFailure(s, /crawl of executor 'discover' failed: .*(404|not exist)/i);
  });

  test("a disabled pipeline is skipped without a record", async () => {
    const s = await setup();
    await store.pipelines.items.upsert({
      id: s.pipelineId,
      name: "x",
      yaml: discoveryPipelineYaml(s.container),
      enabled: false,
    });
    const { summary } = await once(s, "w");
    assert.match(summary.errors.join("\n"), /pipeline '.*' is disabled/);
    assert.equal((await executionsOf(s.vaultId)).length, 0);
  });
});

describe("source worker: scheduler", () => {
  test("two vaults on one pipeline get two schedules; interval from the YAML (string) and re-read on change; drain releases leases", async () => {
    const s = await setup({
      settings: { polling_interval_seconds: "2" },
      overrides: { SCHEDULER_SLEEP_INTERVAL_SECONDS: "1", DEFAULT_POLLING_INTERVAL_SECONDS: "300" },
    });
    const secondVault = uniqueName("vault2");
    await store.vaults.items.upsert({ id: secondVault, pipeline_id: s.pipelineId, enabled: true });
    await uploadBlobs(emu, s.container, [{ name: "p.txt" }, { name: "q.txt" }]);
    const { ctx, reporter, drain } = testContext(s.config, "sched-1");
    const loop = runSourceWorker(ctx);
    try {
      // Both vaults crawl the same container and each queues both blobs, with its own vault_id.
      const deadline = Date.now() + 20_000;
      let tasks: Awaited<ReturnType<typeof drainQueue>> = [];
      while (Date.now() < deadline && tasks.flatMap((t) => t.task?.payload.content ?? []).length < 4) {
        tasks = tasks.concat(await drainQueue(taskQueues(s.config).tasks));
        await sleep(300);
      }
      const byVault = new Map<string, string[]>();
      for (const t of tasks) {
        const p = t.task!.payload;
        byVault.set(p.vault_id!, [...(byVault.get(p.vault_id!) ?? []), ...p.content.map((c) => String(c.id.path))]);
      }
      assert.deepEqual(byVault.get(s.vaultId)?.sort(), ["p.txt", "q.txt"]);
      assert.deepEqual(byVault.get(secondVault)?.sort(), ["p.txt", "q.txt"]);
      assert.equal(reporter.ready, true);

      const scheduleInfo = () =>
        reporter.infos.vaults as { vault_id: string; interval_seconds: number; interval_from: string }[];
      const mine = () => scheduleInfo().filter((e) => e.vault_id === s.vaultId || e.vault_id === secondVault);
      assert.deepEqual(mine().map((e) => [e.interval_seconds, e.interval_from]), [[2, "executor"], [2, "executor"]]);

      // A YAML edit changes the interval without a restart (here through ${ENV} substitution).
      process.env.CFW_TEST_POLL_SECONDS = "7";
      await store.pipelines.items.upsert({
        id: s.pipelineId,
        name: "Blob discovery",
        yaml: discoveryPipelineYaml(s.container, {
          settings: { polling_interval_seconds: "${CFW_TEST_POLL_SECONDS}" },
        }),
      });
      const until = Date.now() + 10_000;
      while (Date.now() < until && !mine().every((e) => e.interval_seconds === 7)) await sleep(200);
      assert.deepEqual(mine().map((e) => e.interval_seconds), [7, 7]);

      // A disabled vault drops out of the schedule.
      await store.vaults.items.upsert({ id: secondVault, pipeline_id: s.pipelineId, enabled: false });
      const gone = Date.now() + 10_000;
      while (Date.now() < gone && scheduleInfo().some((e) => e.vault_id === secondVault)) await sleep(200);
      assert.ok(!scheduleInfo().some((e) => e.vault_id === secondVault));
    } finally {
      drain.abort();
      await withTimeout(loop, 30_000, "source worker drain");
    }
    assert.equal(reporter.ready, false);
    assert.equal(reporter.inFlight, 0);
    for (const id of [s.vaultId, secondVault]) {
      const lease = await new LeaseStore(store.locks, 5).read(id);
      assert.equal(lease?.owner ?? null, null, `lease of ${id} released`);
    }
    assert.ok((reporter.counters.crawls_total ?? 0) >= 2);
  });

  test("a lease held by another worker is not retried every tick (jittered deferral)", async () => {
    const s = await setup({
      overrides: { SCHEDULER_SLEEP_INTERVAL_SECONDS: "1", DEFAULT_POLLING_INTERVAL_SECONDS: "60" },
    });
    const leases = new LeaseStore(store.locks, 120);
    const held = await leases.acquire(s.vaultId, s.pipelineId, "long-crawler");
    assert.ok(held.acquired);
    const { ctx, reporter, drain } = testContext(s.config, "sched-held");
    const loop = runSourceWorker(ctx);
    try {
      const deadline = Date.now() + 10_000;
      while (Date.now() < deadline && (reporter.counters.lease_conflicts_total ?? 0) < 1) await sleep(100);
      await sleep(4000); // four more ticks
    } finally {
      drain.abort();
      await withTimeout(loop, 30_000, "drain");
    }
    assert.equal(reporter.counters.lease_conflicts_total, 1, "one conflict, then deferred for about an interval");
    const info = (reporter.infos.vaults as { vault_id: string; next_run_at: string; last_result: string }[])
      .find((e) => e.vault_id === s.vaultId);
    assert.match(info?.last_result ?? "", /lease held by long-crawler/);
    assert.ok(Date.parse(info?.next_run_at ?? "") - Date.now() > 40_000, `next run ${info?.next_run_at}`);
    assert.equal((await leases.read(s.vaultId))?.owner, "long-crawler", "the holder's lease is untouched");
    await leases.release(held.lease);
  });

  test("a failing vault gets one failed record, counted on repeats, retried with backoff (not every tick)", async () => {
    const s = await setup({ overrides: { SCHEDULER_SLEEP_INTERVAL_SECONDS: "1" } });
    await store.vaults.items.upsert({ id: s.vaultId, pipeline_id: "missing-pipeline-" + s.vaultId, enabled: true });
    const { ctx, reporter, drain } = testContext(s.config, "sched-fail");
    const loop = runSourceWorker(ctx);
    const attemptsAt: number[] = [];
    try {
      const deadline = Date.now() + 25_000;
      while (Date.now() < deadline && attemptsAt.length < 3) {
        const seen = reporter.counters.crawl_errors_total ?? 0;
        while (attemptsAt.length < seen) attemptsAt.push(Date.now());
        await sleep(100);
      }
    } finally {
      drain.abort();
      await withTimeout(loop, 30_000, "drain");
    }
    const attempts = reporter.counters.crawl_errors_total ?? 0;
    assert.ok(attemptsAt.length >= 3, `expected two retries, saw ${attemptsAt.length} attempts`);
    const [gap1, gap2] = [attemptsAt[1] - attemptsAt[0], attemptsAt[2] - attemptsAt[1]];
    // Backoff starts at 3 scheduler ticks (±20 %) and doubles; a busy retry would come every tick (1 s).
    assert.ok(gap1 >= 2000, `first retry after ${gap1} ms`);
    assert.ok(gap2 > gap1, `retry delay grows: ${gap1} ms then ${gap2} ms`);
    const failed = (await executionsOf(s.vaultId)).filter((r) => r.status === "failed");
    assert.equal(failed.length, 1, "one record for one failure state");
    assert.equal((failed[0] as Record<string, unknown>).occurrences, attempts);
  });
});

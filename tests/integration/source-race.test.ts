// Source workers competing for one vault: racing supervisors, a worker killed mid-crawl (its lease left behind),
// a worker that loses its lease mid-crawl, and checkpoint fencing of a stale ex-holder.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import process from "node:process";
import type { Emulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import type { CosmosStore } from "../../src/store/cosmos.ts";
import { CheckpointStore, FencedError, itemVersionKey } from "../../src/store/checkpoints.ts";
import { leaseId, LeaseStore } from "../../src/store/leases.ts";
import { taskQueues } from "../../src/queue/clients.ts";
import { runtimeName } from "../../src/runtime/index.ts";
import { runSourceOnce, runSourceWorker } from "../../src/workers/source/index.ts";
import {
  blobService,
  drainQueue,
  queuedPaths,
  type SeededSource,
  sleep,
  SourceTestBed,
  testConfig,
  testContext,
  withTimeout,
} from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

declare const Deno: { execPath(): string };

const bed = new SourceTestBed();
let emu: Emulators;
/** The store of the test running now (each test has its own database). */
let store: CosmosStore;
const HERE = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname);

before(async () => {
  emu = await bed.start();
});

after(async () => {
  await bed.stop();
});

type Setup = SeededSource;

async function setup(blobCount: number): Promise<Setup> {
  const s = await bed.seed({
    prefix: "race",
    settings: { batch_size: 1 },
    overrides: { LOCK_TTL_SECONDS: "5" },
    blobs: blobCount,
  });
  store = s.store;
  return s;
}

async function approximateQueued(config: Config): Promise<number> {
  const queue = taskQueues(config).tasks;
  if (!(await queue.exists())) return 0;
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

describe("source workers competing for a vault", () => {
  test("two workers crawling the same vault at once: one crawls, the other is told who holds the lease", async () => {
    const s = await setup(40);
    const a = testContext(s.config, "racer-a");
    const b = testContext(s.config, "racer-b");
    const [ra, rb] = await withTimeout(
      Promise.all([runSourceOnce(a.ctx, {}), runSourceOnce(b.ctx, {})]).then((r) => r),
      60_000,
      "racing crawls",
    );
    const mine = (r: typeof ra) => r.errors.filter((e) => e.includes(s.vaultId));
    const crawled = [ra, rb].filter((r) => mine(r).length === 0 && r.tasks_queued > 0);
    const refused = [ra, rb].filter((r) => mine(r).some((e) => /lease held by racer-[ab] until/.test(e)));
    assert.equal(crawled.length, 1, JSON.stringify([ra, rb]));
    assert.equal(refused.length, 1, JSON.stringify([ra, rb]));
    const paths = await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks));
    assert.equal(paths.length, s.names.length, "each blob queued once");
    assert.deepEqual(paths.sort(), s.names);
  });

  test("two scheduler loops on one vault: one crawl per interval, not one per process", async () => {
    const s = await setup(20);
    const cfg = await testConfig(emu, {
      ...s.overrides,
      SCHEDULER_SLEEP_INTERVAL_SECONDS: "1",
      DEFAULT_POLLING_INTERVAL_SECONDS: "300",
    });
    const a = testContext(cfg, "loop-a");
    const b = testContext(cfg, "loop-b");
    const loops = [runSourceWorker(a.ctx), runSourceWorker(b.ctx)];
    try {
      const deadline = Date.now() + 20_000;
      const crawls = () => (a.reporter.counters.crawls_total ?? 0) + (b.reporter.counters.crawls_total ?? 0);
      while (Date.now() < deadline && crawls() < 1) await sleep(100);
      await sleep(4000); // several more ticks of both loops
    } finally {
      a.drain.abort();
      b.drain.abort();
      await withTimeout(Promise.all(loops), 30_000, "drain both loops");
    }
    assert.equal((a.reporter.counters.crawls_total ?? 0) + (b.reporter.counters.crawls_total ?? 0), 1);
    const paths = await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks));
    assert.deepEqual(paths.sort(), s.names);
  });

  test("a worker killed mid-crawl leaves its lease; it is taken over after expiry and no blob is lost", async () => {
    const s = await setup(150);
    const child = resolve(HERE, "source-worker-child.ts");
    const cmd = runtimeName() === "deno"
      ? { command: Deno.execPath(), args: ["run", "-A", "--no-check", child] }
      : { command: process.execPath, args: [child] };
    const proc = spawn(cmd.command, cmd.args, {
      env: { ...process.env, ...emu.env, ...s.overrides, CHILD_WORKER_ID: "doomed-worker", LOG_LEVEL: "ERROR" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    proc.stdout?.on("data", (d) => (output += d));
    proc.stderr?.on("data", (d) => (output += d));
    const exited = new Promise<void>((r) => proc.once("exit", () => r()));
    try {
      const deadline = Date.now() + 60_000;
      while (Date.now() < deadline && (await approximateQueued(s.config)) < 10) {
        if (proc.exitCode !== null) break;
        await sleep(50);
      }
      assert.equal(proc.exitCode, null, `the child finished before it could be killed:\n${output}`);
    } finally {
      proc.kill("SIGKILL");
      await exited;
    }
    const lockId = leaseId(s.vaultId);
    const lock = (await store.locks.item(lockId, lockId).read()).resource;
    assert.equal(lock?.owner, "doomed-worker", "the killed worker's lease is left behind");

    // Right away the vault is reported as held by the dead worker...
    const early = await runSourceOnce(testContext(s.config, "survivor").ctx, { vaultId: s.vaultId });
    assert.match(early.errors.join("\n"), /lease held by doomed-worker until/);
    // ...and once the lease expires (it is not renewed any more) the survivor takes over.
    await sleep(Math.max(0, Date.parse(lock?.expires_at) - Date.now()) + 200);
    const late = await withTimeout(
      runSourceOnce(testContext(s.config, "survivor").ctx, { vaultId: s.vaultId }),
      90_000,
      "takeover",
    );
    assert.deepEqual(late.errors, []);
    const after = (await new LeaseStore(store.locks, 5).read(s.vaultId))!;
    assert.equal(after.epoch, 2, "takeover bumped the fencing epoch");
    assert.equal(after.owner, null);

    const paths = await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks));
    assert.deepEqual([...new Set(paths)].sort(), s.names, "no blob lost");
    // The dead worker never wrote a checkpoint, so what it sent is sent again (at-least-once), nothing more.
    assert.ok(paths.length >= s.names.length);
    const finalRun = await runSourceOnce(testContext(s.config, "survivor-2").ctx, { vaultId: s.vaultId });
    assert.equal(finalRun.items_discovered, 0, "the checkpoint covers everything now");
  });

  test("losing the lease mid-crawl stops the crawl at once; the checkpoint is not written", async () => {
    // Enough blobs that the crawl (one task per blob) outlasts the lease keeper's renewal interval (a third of the
    // 5 s TTL) on a quiet machine: with 300, a fast run sent them all before its next renewal saw the loss.
    const s = await setup(1500);
    const { ctx, reporter } = testContext(s.config, "loser");
    const crawl = runSourceOnce(ctx, { vaultId: s.vaultId });
    const lockId = leaseId(s.vaultId);
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && (await approximateQueued(s.config)) < 5) await sleep(30);
    // Another worker takes the lease over (as after a long pause of "loser").
    const { resource } = await store.locks.item(lockId, lockId).read();
    await store.locks.item(lockId, lockId).replace({ ...resource, owner: "thief", worker_id: "thief", epoch: 2 });
    const summary = await withTimeout(crawl, 60_000, "crawl after lease loss");
    assert.match(summary.errors.join("\n"), /lease .* lost/);
    assert.ok(summary.tasks_queued < s.names.length, `stopped early (${summary.tasks_queued} tasks)`);
    assert.equal(reporter.counters.lease_lost_total, 1);
    const checkpoints = new CheckpointStore(store.checkpoints);
    const key = { vaultId: s.vaultId, pipelineId: s.pipelineId, executorId: "discover" };
    assert.equal(await checkpoints.read(key), undefined, "no checkpoint from a worker that lost its lease");
    const lease = await new LeaseStore(store.locks, 5).read(s.vaultId);
    assert.equal(lease?.owner, "thief", "the loser did not release the thief's lease");
    const queuedCount = (await drainQueue(taskQueues(s.config).tasks)).length;
    assert.equal(queuedCount, summary.tasks_queued);
  });

  test("a stale ex-holder cannot move the checkpoint (fencing epoch)", async () => {
    const s = await setup(3);
    const leases = new LeaseStore(store.locks, 1);
    const stale = await leases.acquire(s.vaultId, s.pipelineId, "paused-worker");
    assert.ok(stale.acquired);
    await sleep(1200); // paused past its lease
    const fresh = await runSourceOnce(testContext(s.config, "new-holder").ctx, { vaultId: s.vaultId });
    assert.deepEqual(fresh.errors, []);
    assert.equal(fresh.items_discovered, 3);
    const checkpoints = new CheckpointStore(store.checkpoints);
    const key = { vaultId: s.vaultId, pipelineId: s.pipelineId, executorId: "discover" };
    const before = await checkpoints.read(key);
    assert.equal(before?.doc.epoch, 2);
    // The paused worker wakes up and tries to record a crawl of its own (epoch 1): refused.
    const future = new Date("2031-01-01T00:00:00Z");
    await assert.rejects(
      checkpoints.record(key, stale.lease.epoch, "paused-worker", {
        complete: true,
        done: [{ key: itemVersionKey("x", future), lastModified: future }],
        enqueuedCount: 1,
        crawlSeconds: 0,
      }),
      FencedError,
    );
    const afterWrite = await checkpoints.read(key);
    assert.equal(afterWrite?.doc.checkpoint_timestamp, before?.doc.checkpoint_timestamp);
    assert.equal(afterWrite?.doc.worker_id, "new-holder");
    // Its lease is gone too.
    assert.equal(await leases.release(stale.lease), false);
    await blobService(emu).getContainerClient(s.container).delete();
  });
});

// A rolling swap and a mixed fleet (the Python worker beside ours) against Azurite and the Cosmos emulator:
// - a vault without a checkpoint of ours starts from the Python worker's checkpoint, and ours keeps it in step;
// - a live Python pipeline lock keeps us from crawling; while we crawl, a Python worker finds a fresh lock it honours,
//   and after we finish the lock is gone; a Python worker deleting our lock stops our crawl.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Emulators } from "../helpers/emulators.ts";
import type { CosmosStore } from "../../src/store/cosmos.ts";
import { checkpointId, CheckpointStore, pythonCheckpointId } from "../../src/store/checkpoints.ts";
import { leaseId, LeaseLostError, LeaseStore } from "../../src/store/leases.ts";
import { pythonLockId, PythonLockStore } from "../../src/store/python-locks.ts";
import { taskQueues } from "../../src/queue/clients.ts";
import { TaskSender } from "../../src/queue/sender.ts";
import { defaultRegistry } from "../../src/executors/registry.ts";
import { crawlVault, type SourceDeps } from "../../src/workers/source/crawl-vault.ts";
import { runSourceOnce } from "../../src/workers/source/index.ts";
import { CRAWL_SENDS_IN_FLIGHT } from "../../src/workers/source/send-window.ts";
import { pythonAcquireLock, pythonLockDoc, pythonReleaseLock, pythonSaveCheckpoint } from "../helpers/python-worker.ts";
import {
  drainQueue,
  queuedPaths,
  type SeededSource,
  sleep,
  SourceTestBed,
  testContext,
  uploadBlobs,
  withTimeout,
} from "../helpers/source-kit.ts";

const bed = new SourceTestBed();
let emu: Emulators;
const T = 30_000;

before(async () => {
  emu = await bed.start();
});

after(async () => {
  await bed.stop();
});

type Setup = SeededSource;

/** A source whose discovery step has the id the Python worker's checkpoints and locks are written with here. */
async function setup(settings: Record<string, unknown> = {}): Promise<Setup> {
  return await bed.seed({
    prefix: "py",
    executorId: "blob-discovery-1",
    settings,
    overrides: { LOCK_TTL_SECONDS: "30" },
  });
}

async function once(s: Setup, workerId = "cfw-host:1") {
  const { ctx } = testContext(s.config, workerId);
  return await withTimeout(runSourceOnce(ctx, { vaultId: s.vaultId }), 60_000, "runSourceOnce");
}

async function queued(s: Setup): Promise<string[]> {
  return (await queuedPaths(emu, await drainQueue(taskQueues(s.config).tasks))).sort();
}

async function readDoc(container: CosmosStore["locks"], id: string): Promise<Record<string, unknown> | undefined> {
  const { resource } = await container.item(id, id).read();
  return resource as Record<string, unknown> | undefined;
}

describe("swap: the Python worker's checkpoint", () => {
  test("a vault with no checkpoint of ours starts from the Python checkpoint, and moves it forward", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "old-1.pdf" }, { name: "old-2.pdf" }]);
    await sleep(1100); // blob times have one-second resolution
    const pythonCrawlStart = new Date();
    await pythonSaveCheckpoint(s.store.checkpoints, s.pipelineId, s.vaultId, "blob-discovery-1", pythonCrawlStart);
    await sleep(1100);
    await uploadBlobs(emu, s.container, [{ name: "new-1.pdf" }, { name: "new-2.pdf" }]);

    const summary = await once(s);
    assert.deepEqual(summary.errors, []);
    assert.deepEqual(await queued(s), ["new-1.pdf", "new-2.pdf"], "only blobs modified after the Python checkpoint");

    const ours = await readDoc(
      s.store.checkpoints,
      checkpointId({
        vaultId: s.vaultId,
        pipelineId: s.pipelineId,
        executorId: "blob-discovery-1",
      }),
    );
    assert.ok(ours, "our checkpoint was written");
    const python = await readDoc(s.store.checkpoints, pythonCheckpointId(s.pipelineId, "blob-discovery-1"));
    assert.ok(python);
    assert.equal(python.worker_id, "cfw-host:1");
    assert.match(String(python.checkpoint_timestamp), /\+00:00$/, "Python's isoformat shape");
    assert.equal(Date.parse(String(python.checkpoint_timestamp)), Date.parse(String(ours.checkpoint_timestamp)));
    assert.ok(Date.parse(String(python.checkpoint_timestamp)) > pythonCrawlStart.getTime());
    assert.deepEqual(Object.keys(python).filter((k) => !k.startsWith("_")).sort(), [
      "checkpoint_timestamp",
      "executor_id",
      "id",
      "pipeline_id",
      "vault_id",
      "worker_id",
    ], "still exactly the Python shape");

    await uploadBlobs(emu, s.container, [{ name: "newer.pdf" }]);
    assert.deepEqual((await once(s)).errors, []);
    assert.deepEqual(await queued(s), ["newer.pdf"], "afterwards our own checkpoint applies");
  });

  test("mixed fleet: a Python crawl after ours (a newer Python checkpoint) is not repeated", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "first.pdf" }]);
    await sleep(1100);
    await pythonSaveCheckpoint(s.store.checkpoints, s.pipelineId, s.vaultId, "blob-discovery-1", new Date(0));
    assert.deepEqual((await once(s)).errors, []);
    assert.deepEqual(await queued(s), ["first.pdf"]);
    // Ours moved the Python checkpoint to its own timestamp; that alone must not change what we list next.
    await sleep(3100);
    await uploadBlobs(emu, s.container, [{ name: "by-python.pdf" }]);
    await sleep(1100);
    // A Python worker crawls now (queues by-python.pdf) and saves its crawl start as the checkpoint.
    await pythonSaveCheckpoint(s.store.checkpoints, s.pipelineId, s.vaultId, "blob-discovery-1", new Date());
    await sleep(1100);
    await uploadBlobs(emu, s.container, [{ name: "later.pdf" }]);
    assert.deepEqual((await once(s)).errors, []);
    assert.deepEqual(await queued(s), ["later.pdf"], "what the Python worker queued is not queued again");
  });

  test("a Python checkpoint of another vault of the pipeline does not apply (Python crawled only the first vault)", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "a.pdf" }, { name: "b.pdf" }]);
    await sleep(1100);
    await pythonSaveCheckpoint(s.store.checkpoints, s.pipelineId, "some-other-vault", "blob-discovery-1", new Date());
    assert.deepEqual((await once(s)).errors, []);
    assert.deepEqual(await queued(s), ["a.pdf", "b.pdf"]);
  });
});

describe("mixed fleet: the Python worker's pipeline lock", () => {
  test("a live Python lock keeps us from crawling any vault of the pipeline; our lease is not even touched", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "a.pdf" }]);
    await s.store.locks.items.create(pythonLockDoc(s.pipelineId, s.vaultId, "InputSourceWorker-0", new Date()));
    const summary = await once(s);
    assert.equal(summary.tasks_queued, 0);
    assert.match(summary.errors.join("\n"), /lease held by InputSourceWorker-0/);
    assert.deepEqual(await queued(s), []);
    assert.equal(await readDoc(s.store.locks, leaseId(s.vaultId)), undefined);

    // Once the Python worker releases it (deletes it), we crawl.
    assert.ok(await pythonReleaseLock(s.store.locks, s.pipelineId, "InputSourceWorker-0"));
    assert.deepEqual((await once(s)).errors, []);
    assert.deepEqual(await queued(s), ["a.pdf"]);
  });

  test("an expired Python lock (locked_at + ttl in the past, no Cosmos TTL) is taken over", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "a.pdf" }]);
    const crashedAt = new Date(Date.now() - 301_000);
    await s.store.locks.items.create(pythonLockDoc(s.pipelineId, s.vaultId, "InputSourceWorker-0", crashedAt, 300));
    assert.deepEqual((await once(s)).errors, []);
    assert.deepEqual(await queued(s), ["a.pdf"]);
    assert.equal(await readDoc(s.store.locks, pythonLockId(s.pipelineId)), undefined, "released by deleting it");
  });

  /**
   * Starts a crawl of the set-up vault by worker `workerId` with locks of `ttlSeconds`, through the real sender held
   * at its first message (until `release`), so a test can act on the locks mid-crawl.
   */
  function crawlHeldAtFirstSend(s: Awaited<ReturnType<typeof setup>>, workerId: string, ttlSeconds: number) {
    const { ctx } = testContext(s.config, workerId);
    const real = new TaskSender(s.config);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let sending!: () => void;
    const firstSend = new Promise<void>((r) => (sending = r));
    const sender = Object.assign(Object.create(real), {
      send: async (planned: Parameters<TaskSender["send"]>[0]) => {
        sending();
        await gate;
        return await real.send(planned);
      },
    }) as TaskSender;
    const deps: SourceDeps = {
      ctx,
      store: s.store,
      leases: new LeaseStore(s.store.locks, ttlSeconds),
      pythonLocks: new PythonLockStore(s.store.locks, ttlSeconds),
      checkpoints: new CheckpointStore(s.store.checkpoints),
      sender,
      registry: defaultRegistry(),
      heldLeases: new Map(),
    };
    const vault = { id: s.vaultId, name: s.vaultId, pipeline_id: s.pipelineId, enabled: true };
    return { crawl: crawlVault(deps, vault as never, new AbortController().signal), firstSend, release };
  }

  test("while ours crawls, a Python worker finds a fresh lock and stays out; afterwards it gets the lock", async () => {
    const s = await setup();
    await uploadBlobs(emu, s.container, [{ name: "a.pdf" }, { name: "b.pdf" }]);
    const { crawl, firstSend, release } = crawlHeldAtFirstSend(s, "cfw-host:2", 30);
    await withTimeout(firstSend, T, "crawl reaches its first send");

    const lock = await readDoc(s.store.locks, pythonLockId(s.pipelineId));
    assert.ok(lock, "a Python-shaped lock exists while we crawl");
    assert.equal(lock.worker_id, "cfw-host:2");
    assert.equal(lock.pipeline_id, s.pipelineId);
    assert.equal(lock.vault_id, s.vaultId);
    assert.equal(lock.ttl, 30);
    assert.match(String(lock.locked_at), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00$/);
    assert.equal(await pythonAcquireLock(s.store.locks, s.pipelineId, s.vaultId, "InputSourceWorker-0", 30), false);

    release();
    const outcome = await withTimeout(crawl, T, "crawl");
    assert.equal(outcome.status, "completed");
    assert.equal(await readDoc(s.store.locks, pythonLockId(s.pipelineId)), undefined, "deleted on release");
    assert.equal(await pythonAcquireLock(s.store.locks, s.pipelineId, s.vaultId, "InputSourceWorker-0", 30), true);
    const held = await once(s, "cfw-host:3");
    assert.match(held.errors.join("\n"), /lease held by InputSourceWorker-0/, "and now we stay out");
  });

  test("a Python worker deleting our lock mid-crawl (judged stale) stops our crawl: lease lost, no checkpoint", async () => {
    const s = await setup({ batch_size: 1 });
    // More blobs than sends under way at once: the held sends finish after the loss, no new one starts.
    const n = CRAWL_SENDS_IN_FLIGHT + 3;
    await uploadBlobs(emu, s.container, Array.from({ length: n }, (_, i) => ({ name: `doc-${i}.pdf` })));
    const { crawl, firstSend, release } = crawlHeldAtFirstSend(s, "cfw-host:4", 3);
    await withTimeout(firstSend, T, "crawl reaches its first send");
    // The Python worker's stale-lock path: delete_item without an etag.
    await s.store.locks.item(pythonLockId(s.pipelineId), pythonLockId(s.pipelineId)).delete();
    await sleep(1600); // past the next renewal (a third of the 3 s TTL)
    release();
    const outcome = await withTimeout(crawl, T, "crawl");
    assert.equal(outcome.status, "lease_lost");
    if (outcome.status === "lease_lost") assert.match(outcome.reason, /deleted \(a Python worker judged it stale\)/);
    assert.ok(
      outcome.status === "lease_lost" && outcome.tasksQueued <= CRAWL_SENDS_IN_FLIGHT,
      "the crawl stopped early",
    );
    const ours = await readDoc(
      s.store.checkpoints,
      checkpointId({
        vaultId: s.vaultId,
        pipelineId: s.pipelineId,
        executorId: "blob-discovery-1",
      }),
    );
    assert.equal(ours, undefined, "no checkpoint after a lost lease");
  });

  test("our lock is refreshed (locked_at moves), released with its etag; a Python worker deleting it = lease lost", async () => {
    const s = await setup();
    const locks = new PythonLockStore(s.store.locks, 30);
    const a = await locks.acquire(s.pipelineId, s.vaultId, "cfw-a");
    assert.ok(a.acquired);
    const first = await readDoc(s.store.locks, pythonLockId(s.pipelineId));
    await sleep(20);
    const refreshed = await locks.refresh(a.lock);
    const second = await readDoc(s.store.locks, pythonLockId(s.pipelineId));
    assert.ok(Date.parse(String(second?.locked_at)) > Date.parse(String(first?.locked_at)));
    const other = await locks.acquire(s.pipelineId, s.vaultId, "cfw-b");
    assert.equal(other.acquired, false);
    if (!other.acquired) assert.equal(other.holder, "cfw-a");

    assert.equal(await locks.release(a.lock), false, "a stale etag does not delete the lock");
    assert.ok(await readDoc(s.store.locks, pythonLockId(s.pipelineId)));
    assert.equal(await locks.release(refreshed), true);
    assert.equal(await readDoc(s.store.locks, pythonLockId(s.pipelineId)), undefined);

    const c = await locks.acquire(s.pipelineId, s.vaultId, "cfw-c");
    assert.ok(c.acquired);
    // A Python worker that judges the lock stale deletes it without an etag (source_worker.py).
    await s.store.locks.item(pythonLockId(s.pipelineId), pythonLockId(s.pipelineId)).delete();
    await assert.rejects(locks.refresh(c.lock), (err: unknown) => {
      assert.ok(err instanceof LeaseLostError);
      assert.match(err.message, /deleted \(a Python worker judged it stale\)/);
      return true;
    });
  });
});

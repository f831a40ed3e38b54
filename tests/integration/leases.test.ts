// Crawl leases and checkpoint fencing against the Cosmos emulator (real SDK, real 409/412 behaviour).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { type CosmosStore, openCosmosStore } from "../../src/store/cosmos.ts";
import { leaseId, LeaseLostError, LeaseStore } from "../../src/store/leases.ts";
import {
  type Checkpoint,
  CheckpointStore,
  crawlFrom,
  type CrawlProgress,
  FencedError,
  itemVersionKey,
  mergeProgress,
  NO_CHECKPOINT,
} from "../../src/store/checkpoints.ts";
import { LeaseKeeper } from "../../src/workers/source/lease-keeper.ts";
import { Logger } from "../../src/log/logger.ts";
import { sleep, testConfig, uniqueName, withTimeout } from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

let emu: Emulators;
let store: CosmosStore;

before(async () => {
  emu = await startEmulators({ queue: false, blob: false });
  store = await openCosmosStore(await testConfig(emu));
});

after(async () => {
  store?.close();
  await emu?.stop();
});

const T = 15_000;

describe("LeaseStore", () => {
  test("acquire creates the lock document with the Python fields plus owner, epoch and expiry", async () => {
    const leases = new LeaseStore(store.locks, 30);
    const vault = uniqueName("vault");
    const before = Date.now();
    const outcome = await withTimeout(leases.acquire(vault, "pipe-1", "worker-a"), T, "acquire");
    assert.ok(outcome.acquired);
    assert.equal(outcome.lease.epoch, 1);
    const doc = await leases.read(vault);
    assert.ok(doc);
    assert.equal(doc.id, `vault_${vault}_lock`);
    assert.equal(doc.id, leaseId(vault));
    assert.equal(doc.pipeline_id, "pipe-1");
    assert.equal(doc.vault_id, vault);
    assert.equal(doc.worker_id, "worker-a");
    assert.equal(doc.owner, "worker-a");
    assert.equal(doc.ttl, 30);
    assert.equal(doc.epoch, 1);
    assert.ok(Date.parse(doc.locked_at ?? "") >= before - 1000);
    const expires = Date.parse(doc.expires_at ?? "");
    assert.ok(expires >= before + 29_000 && expires <= Date.now() + 31_000, `expires_at ${doc.expires_at}`);
  });

  test("a live lease is reported as held, with its owner and expiry", async () => {
    const leases = new LeaseStore(store.locks, 30);
    const vault = uniqueName("vault");
    const first = await leases.acquire(vault, "p", "worker-a");
    assert.ok(first.acquired);
    const second = await withTimeout(leases.acquire(vault, "p", "worker-b"), T, "acquire b");
    assert.equal(second.acquired, false);
    if (second.acquired) return;
    assert.equal(second.holder, "worker-a");
    assert.equal(second.expiresAt?.toISOString(), first.lease.expiresAt.toISOString());
  });

  test("many workers racing for a free vault: exactly one wins", async () => {
    const leases = new LeaseStore(store.locks, 30);
    const vault = uniqueName("vault");
    const outcomes = await withTimeout(
      Promise.all(Array.from({ length: 6 }, (_, i) => leases.acquire(vault, "p", `worker-${i}`))),
      T,
      "race",
    );
    const winners = outcomes.filter((o) => o.acquired);
    assert.equal(winners.length, 1);
    const doc = await leases.read(vault);
    assert.equal(doc?.owner, winners[0].acquired ? winners[0].lease.owner : "");
  });

  test("an expired lease is taken over with a new epoch; the ex-holder can neither renew nor release it", async () => {
    const leases = new LeaseStore(store.locks, 1);
    const vault = uniqueName("vault");
    const a = await leases.acquire(vault, "p", "worker-a");
    assert.ok(a.acquired);
    await sleep(1200);
    const b = await withTimeout(leases.acquire(vault, "p", "worker-b"), T, "take over");
    assert.ok(b.acquired, "expired lease taken over");
    assert.equal(b.lease.epoch, 2);
    await assert.rejects(leases.renew(a.lease), LeaseLostError);
    assert.equal(await leases.release(a.lease), false);
    const doc = await leases.read(vault);
    assert.equal(doc?.owner, "worker-b");
    assert.equal(doc?.epoch, 2);
  });

  test("racing takeovers of one expired lease: exactly one wins (If-Match)", async () => {
    const leases = new LeaseStore(store.locks, 1);
    const vault = uniqueName("vault");
    assert.ok((await leases.acquire(vault, "p", "crashed")).acquired);
    await sleep(1200);
    const racing = new LeaseStore(store.locks, 30);
    const outcomes = await withTimeout(
      Promise.all(Array.from({ length: 6 }, (_, i) => racing.acquire(vault, "p", `worker-${i}`))),
      T,
      "takeover race",
    );
    assert.equal(outcomes.filter((o) => o.acquired).length, 1);
    assert.equal((await leases.read(vault))?.epoch, 2);
  });

  test("renew extends the expiry; release keeps the document and its epoch, and the next acquire increments it", async () => {
    const leases = new LeaseStore(store.locks, 20);
    const vault = uniqueName("vault");
    const a = await leases.acquire(vault, "p", "worker-a");
    assert.ok(a.acquired);
    await sleep(50);
    const renewed = await leases.renew(a.lease);
    assert.ok(renewed.expiresAt > a.lease.expiresAt);
    assert.notEqual(renewed.etag, a.lease.etag);
    // The superseded etag is no longer valid.
    await assert.rejects(leases.renew(a.lease), LeaseLostError);
    assert.equal(await leases.release(renewed), true);
    const released = await leases.read(vault);
    assert.equal(released?.owner, null);
    assert.equal(released?.worker_id, null);
    assert.equal(released?.epoch, 1);
    const b = await leases.acquire(vault, "p", "worker-b");
    assert.ok(b.acquired, "a released lease is free at once");
    assert.equal(b.lease.epoch, 2);
  });

  test("a deleted lease document means the lease is lost", async () => {
    const leases = new LeaseStore(store.locks, 20);
    const vault = uniqueName("vault");
    const a = await leases.acquire(vault, "p", "worker-a");
    assert.ok(a.acquired);
    await store.locks.item(a.lease.id, a.lease.id).delete();
    await assert.rejects(
      leases.renew(a.lease),
      (err: unknown) => err instanceof LeaseLostError && /deleted/.test(err.message),
    );
  });
});

describe("LeaseKeeper", () => {
  test("renews in the background while work runs, then releases", async () => {
    const leases = new LeaseStore(store.locks, 3);
    const vault = uniqueName("vault");
    const sent = performance.now();
    const a = await leases.acquire(vault, "p", "worker-a");
    assert.ok(a.acquired);
    const keeper = new LeaseKeeper(leases, a.lease, { logger: new Logger() });
    keeper.start(sent);
    await sleep(4000); // longer than the TTL: only renewals keep it alive
    assert.equal(keeper.signal.aborted, false);
    const doc = await leases.read(vault);
    assert.equal(doc?.owner, "worker-a");
    assert.ok(Date.parse(doc?.expires_at ?? "") > Date.now(), "still unexpired thanks to renewals");
    assert.equal(await keeper.stopAndRelease(), true);
    assert.equal((await leases.read(vault))?.owner, null);
  });

  test("aborts its signal as soon as another worker takes the lease", async () => {
    const leases = new LeaseStore(store.locks, 3);
    const vault = uniqueName("vault");
    const sent = performance.now();
    const a = await leases.acquire(vault, "p", "worker-a");
    assert.ok(a.acquired);
    let lostReported = false;
    const keeper = new LeaseKeeper(leases, a.lease, { logger: new Logger(), onLost: () => (lostReported = true) });
    keeper.start(sent);
    // Someone else overwrites the lease (as a takeover after a pause would).
    const doc = await leases.read(vault);
    await store.locks.item(a.lease.id, a.lease.id).replace({
      ...doc,
      owner: "worker-b",
      worker_id: "worker-b",
      epoch: 2,
    });
    const aborted = new Promise<unknown>((resolve) =>
      keeper.signal.addEventListener("abort", () => resolve(keeper.signal.reason))
    );
    const reason = await withTimeout(aborted, 3000, "abort within a renew period");
    assert.ok(reason instanceof LeaseLostError);
    assert.ok(lostReported);
    assert.equal(await keeper.stopAndRelease(), false, "a lost lease is not released");
    assert.equal((await leases.read(vault))?.owner, "worker-b");
  });

  test("confirm() throws when the lease is gone", async () => {
    const leases = new LeaseStore(store.locks, 30);
    const vault = uniqueName("vault");
    const sent = performance.now();
    const a = await leases.acquire(vault, "p", "worker-a");
    assert.ok(a.acquired);
    const keeper = new LeaseKeeper(leases, a.lease, { logger: new Logger() });
    keeper.start(sent);
    await keeper.confirm();
    await store.locks.item(a.lease.id, a.lease.id).delete();
    await assert.rejects(keeper.confirm(), LeaseLostError);
    assert.ok(keeper.signal.aborted);
    await keeper.stopAndRelease();
  });
});

function progress(done: [string, string][], complete = true, crawlSeconds = 0): CrawlProgress {
  return {
    complete,
    done: done.map(([uid, at]) => ({ key: itemVersionKey(uid, new Date(at)), lastModified: new Date(at) })),
    enqueuedCount: done.length,
    crawlSeconds,
  };
}

describe("checkpoints", () => {
  test("the checkpoint is the newest enqueued item time, and the next crawl overlaps it", () => {
    const next = mergeProgress(undefined, progress([["a", "2025-01-01T00:00:05Z"], ["b", "2025-01-01T00:00:09Z"]]));
    assert.ok(next);
    assert.equal(next.timestamp, "2025-01-01T00:00:09.000Z");
    assert.equal(next.overlapSeconds, 2);
    // a (4 s older) is outside the window; b is kept so a blob sharing its second is still found, b not re-sent.
    assert.deepEqual(next.recentKeys, [itemVersionKey("b", new Date("2025-01-01T00:00:09Z"))]);
  });

  test("an interrupted crawl keeps the timestamp and only remembers what it enqueued", () => {
    const current = {
      doc: { checkpoint_timestamp: "2025-01-01T00:00:00.000Z" },
      timestamp: new Date("2025-01-01T00:00:00Z"),
      overlapSeconds: 3,
      recentKeys: new Set<string>(),
    } as unknown as Checkpoint;
    const next = mergeProgress(current, progress([["z", "2025-06-01T00:00:00Z"]], false));
    assert.equal(next?.timestamp, "2025-01-01T00:00:00.000Z");
    assert.equal(next?.recentKeys.length, 1);
    const first = mergeProgress(undefined, progress([["z", "2025-06-01T00:00:00Z"]], false));
    assert.equal(first?.timestamp, NO_CHECKPOINT);
  });

  test("an empty crawl writes nothing", () => {
    assert.equal(mergeProgress(undefined, progress([])), undefined);
  });

  test("records progress conditionally; a stale lease epoch is fenced; the timestamp never moves back", async () => {
    const checkpoints = new CheckpointStore(store.checkpoints);
    const key = { vaultId: uniqueName("vault"), pipelineId: "pipe", executorId: "discover" };
    const first = await checkpoints.record(key, 1, "worker-a", progress([["a", "2025-01-01T00:00:10Z"]], true, 1));
    assert.equal(first?.doc.checkpoint_timestamp, "2025-01-01T00:00:10.000Z");
    assert.equal(first?.doc.epoch, 1);
    assert.equal(first?.doc.vault_id, key.vaultId);
    assert.equal(first?.doc.pipeline_id, "pipe");
    assert.equal(first?.doc.executor_id, "discover");
    assert.equal(first?.doc.worker_id, "worker-a");
    assert.equal(first?.doc.overlap_seconds, 3);
    assert.equal(crawlFrom(first)?.toISOString(), "2025-01-01T00:00:07.000Z");

    // The new holder (epoch 2) writes an OLDER newest time: merged, the timestamp stays.
    const second = await checkpoints.record(key, 2, "worker-b", progress([["b", "2025-01-01T00:00:08Z"]]));
    assert.equal(second?.doc.checkpoint_timestamp, "2025-01-01T00:00:10.000Z");
    assert.equal(second?.doc.epoch, 2);
    assert.equal(second?.doc.items_enqueued_total, 2);

    // The ex-holder (epoch 1) is refused, even with newer items.
    await assert.rejects(
      checkpoints.record(key, 1, "worker-a", progress([["c", "2030-01-01T00:00:00Z"]])),
      FencedError,
    );
    const stored = await checkpoints.read(key);
    assert.equal(stored?.doc.checkpoint_timestamp, "2025-01-01T00:00:10.000Z");
    assert.equal(stored?.doc.worker_id, "worker-b");
  });

  test("concurrent writers under one epoch merge instead of overwriting each other", async () => {
    const checkpoints = new CheckpointStore(store.checkpoints);
    const key = { vaultId: uniqueName("vault"), pipelineId: "pipe", executorId: "discover" };
    await Promise.all([
      checkpoints.record(key, 1, "w", progress([["a", "2025-01-01T00:00:10Z"]], false)),
      checkpoints.record(key, 1, "w", progress([["b", "2025-01-01T00:00:11Z"]], false)),
      checkpoints.record(key, 1, "w", progress([["c", "2025-01-01T00:00:12Z"]], false)),
    ]);
    const stored = await checkpoints.read(key);
    assert.equal(stored?.recentKeys.size, 3);
    assert.equal(stored?.doc.items_enqueued_total, 3);
  });
});

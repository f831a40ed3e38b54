// What keeps a crawl's memory flat in the vault's size: DoneItems remembers only the newest MAX_RECENT_KEYS item
// versions and must give the checkpoint exactly what every done item would; SendWindow bounds the sends under way
// and stops starting new ones after the first failure.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  type Checkpoint,
  type CheckpointDoc,
  type CrawlProgress,
  type DoneItem,
  DoneItems,
  itemVersionKey,
  MAX_RECENT_KEYS,
  mergeProgress,
} from "../../src/store/checkpoints.ts";
import { SendWindow } from "../../src/workers/source/send-window.ts";

/** `n` item versions with times spread over `spanSeconds` seconds (several per second), in a shuffled order. */
function doneItems(n: number, spanSeconds: number, seed = 7): DoneItem[] {
  let x = seed;
  const random = () => (x = (x * 48271) % 2147483647) / 2147483647;
  const items = Array.from({ length: n }, (_, i) => {
    const lastModified = new Date(Date.UTC(2026, 0, 1) + Math.floor(random() * spanSeconds) * 1000);
    return { key: itemVersionKey(`item-${i}`, lastModified), lastModified };
  });
  return items.sort(() => random() - 0.5);
}

function checkpointWith(keys: string[], timestamp: Date): Checkpoint {
  const doc = { checkpoint_timestamp: timestamp.toISOString(), recent_keys: keys } as unknown as CheckpointDoc;
  return { doc, timestamp, overlapSeconds: 4, recentKeys: new Set(keys) };
}

describe("DoneItems", () => {
  const progress = (done: DoneItem[], complete: boolean, crawlSeconds: number): CrawlProgress => ({
    complete,
    done,
    enqueuedCount: done.length,
    crawlSeconds,
  });

  for (const [n, span, crawlSeconds] of [[25_000, 60, 30], [45_000, 20_000, 5], [3_000, 100, 2]] as const) {
    test(`${n} items over ${span} s: the checkpoint is the same as from every item (complete and interrupted)`, () => {
      const all = doneItems(n, span);
      const kept = new DoneItems();
      for (const item of all) kept.add(item);
      assert.equal(kept.count, n);
      assert.ok(kept.items().length <= MAX_RECENT_KEYS, "bounded");
      const earlier = checkpointWith(
        doneItems(500, 30, 11).map((d) => d.key),
        new Date(Date.UTC(2026, 0, 1) + 10_000),
      );
      for (const current of [undefined, earlier]) {
        for (const complete of [true, false]) {
          assert.deepEqual(
            mergeProgress(current, progress(kept.items(), complete, crawlSeconds)),
            mergeProgress(current, progress(all, complete, crawlSeconds)),
          );
        }
      }
    });
  }

  test("the same item version twice takes one place", () => {
    const kept = new DoneItems();
    const items = doneItems(MAX_RECENT_KEYS + 10, 10);
    for (const item of items) kept.add(item);
    for (const item of items) kept.add(item);
    const keys = kept.items().map((d) => d.key);
    assert.equal(new Set(keys).size, keys.length);
    assert.equal(keys.length, MAX_RECENT_KEYS);
  });
});

describe("SendWindow", () => {
  const deferred = () => {
    let resolve!: () => void;
    let reject!: (err: unknown) => void;
    const promise = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };

  test("never more than its limit under way; settle waits for all of them", async () => {
    const window = new SendWindow(3);
    let running = 0;
    let most = 0;
    let finished = 0;
    const sends = Array.from({ length: 10 }, () => deferred());
    const adding = (async () => {
      for (const d of sends) {
        await window.add(async () => {
          running++;
          most = Math.max(most, running);
          await d.promise;
          running--;
          finished++;
        });
      }
    })();
    for (const d of sends) {
      await new Promise((r) => setTimeout(r, 1));
      d.resolve();
    }
    await adding;
    await window.settle();
    assert.equal(most, 3);
    assert.equal(finished, 10);
  });

  test("after a failure no send starts; add and settle throw it once the running ones finished", async () => {
    const window = new SendWindow(2);
    const first = deferred();
    const second = deferred();
    let secondDone = false;
    await window.add(() => first.promise);
    await window.add(async () => {
      await second.promise;
      secondDone = true;
    });
    first.reject(new Error("send failed"));
    let started = false;
    const third = window.add(() => {
      started = true;
      return Promise.resolve();
    });
    await assert.rejects(third, /send failed/);
    assert.equal(started, false);
    second.resolve();
    await assert.rejects(window.settle(), /send failed/);
    assert.ok(secondDone, "the send under way finished");
  });

  test("an aborted stop signal is thrown instead of starting", async () => {
    const window = new SendWindow(1);
    const stop = new AbortController();
    stop.abort(new Error("lease lost"));
    await assert.rejects(window.add(() => Promise.resolve(), stop.signal), /lease lost/);
    await window.settle();
  });
});

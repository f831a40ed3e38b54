import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { DocumentCache } from "../../src/store/doc-cache.ts";
import type { DocRead } from "../../src/store/read-doc.ts";

describe("DocumentCache", () => {
  const setup = (maxAgeMs: number, maxEntries?: number) => {
    let now = 1000;
    const cache = new DocumentCache<{ v: number }>(maxAgeMs, maxEntries, () => now);
    let loads = 0;
    const loader = (read: DocRead<{ v: number }>) => () => {
      loads++;
      return Promise.resolve(read);
    };
    return { cache, loader, loads: () => loads, advance: (ms: number) => (now += ms) };
  };

  test("a found document is reused until it is maxAgeMs old, then read again", async () => {
    const { cache, loader, loads, advance } = setup(10_000);
    const first = await cache.read("p", loader({ kind: "found", doc: { v: 1 } }));
    assert.deepEqual(first, { kind: "found", doc: { v: 1 } });
    advance(9_999);
    assert.deepEqual(await cache.read("p", loader({ kind: "found", doc: { v: 2 } })), first);
    assert.equal(loads(), 1);
    advance(1);
    assert.deepEqual(await cache.read("p", loader({ kind: "found", doc: { v: 2 } })), { kind: "found", doc: { v: 2 } });
    assert.equal(loads(), 2);
  });

  test("not-found, malformed and failed reads are not kept", async () => {
    const { cache, loader, loads } = setup(10_000);
    await cache.read("p", loader({ kind: "not-found" }));
    await cache.read("p", loader({ kind: "malformed", problem: "x" }));
    await assert.rejects(cache.read("p", () => Promise.reject(new Error("down"))), /down/);
    assert.deepEqual(await cache.read("p", loader({ kind: "found", doc: { v: 3 } })), { kind: "found", doc: { v: 3 } });
    assert.equal(loads(), 3);
  });

  test("a document that disappears is not served from the cache once it is read again", async () => {
    const { cache, loader, advance } = setup(5);
    await cache.read("p", loader({ kind: "found", doc: { v: 1 } }));
    advance(5);
    assert.deepEqual(await cache.read("p", loader({ kind: "not-found" })), { kind: "not-found" });
    assert.deepEqual(await cache.read("p", loader({ kind: "not-found" })), { kind: "not-found" });
  });

  test("maxAgeMs 0 keeps nothing; the oldest entry goes when full", async () => {
    const off = setup(0);
    await off.cache.read("p", off.loader({ kind: "found", doc: { v: 1 } }));
    await off.cache.read("p", off.loader({ kind: "found", doc: { v: 1 } }));
    assert.equal(off.loads(), 2);
    const small = setup(10_000, 2);
    for (const id of ["a", "b", "c"]) await small.cache.read(id, small.loader({ kind: "found", doc: { v: 1 } }));
    await small.cache.read("c", small.loader({ kind: "found", doc: { v: 1 } }));
    await small.cache.read("b", small.loader({ kind: "found", doc: { v: 1 } }));
    assert.equal(small.loads(), 3, "b and c still cached");
    await small.cache.read("a", small.loader({ kind: "found", doc: { v: 1 } }));
    assert.equal(small.loads(), 4, "a was dropped");
  });
});

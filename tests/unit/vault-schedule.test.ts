import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { VaultSchedule } from "../../src/workers/source/schedule.ts";
import type { VaultDoc } from "../../src/model/documents.ts";

const vault = (id: string, pipeline: string): VaultDoc => ({
  id,
  pipeline_id: pipeline,
  save_execution_output: false,
  enabled: true,
});

function schedule() {
  // random 0.5: jitter of exactly zero, so the times below are exact.
  return new VaultSchedule({
    defaultIntervalSeconds: 2,
    backoffBaseSeconds: 3,
    backoffMaxSeconds: 60,
    random: () => 0.5,
  });
}

const ids = (entries: { vault: VaultDoc }[]) => entries.map((e) => e.vault.id);

describe("vault schedule", () => {
  test("new vaults are due at once, longest waiting first; a finished crawl comes back an interval later", () => {
    const s = schedule();
    s.sync([vault("a", "p1"), vault("b", "p2")], 1000);
    assert.deepEqual(ids(s.due(1000)), ["a", "b"]);
    s.started("a", 1000);
    s.succeeded("a", 1500, "ok");
    assert.deepEqual(ids(s.due(1500)), ["b"]);
    assert.deepEqual(ids(s.due(3500)), ["b", "a"], "b has waited since 1000, a since 3500");
  });

  test("vaults of one pipeline take turns: the sibling waits for the running crawl, then goes first", () => {
    const s = schedule();
    s.sync([vault("a", "p"), vault("b", "p"), vault("c", "other")], 0);
    // Both of pipeline p are due: one of them starts now, the other pipeline is not held up.
    assert.deepEqual(ids(s.due(0)), ["a", "c"]);
    s.started("a", 0);
    s.started("c", 0);
    assert.deepEqual(ids(s.due(1000)), [], "b waits while a crawls its pipeline");
    s.succeeded("a", 2900, "ok");
    // a is due again at 4900; b has waited since 0, so b goes first, and a waits for b in turn.
    assert.deepEqual(ids(s.due(3000)), ["b"]);
    s.started("b", 3000);
    assert.deepEqual(ids(s.due(5000)), []);
    s.succeeded("b", 5100, "ok");
    assert.deepEqual(ids(s.due(5100)), ["a"]);
  });

  test("a crawl refused by a lease held elsewhere is looked at again after about an interval, at least the base", () => {
    const s = schedule();
    s.sync([vault("a", "p")], 0);
    s.started("a", 0);
    s.deferred("a", 100, "lease held");
    assert.deepEqual(ids(s.due(3000)), []);
    assert.deepEqual(ids(s.due(3100)), ["a"], "the backoff base (3 s) is longer than the 2 s interval");
  });
});

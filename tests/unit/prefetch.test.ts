// The bound of the consumer's prefetch buffer: how many messages may wait for a slot at the pace of recent tasks.
import { test } from "node:test";
import assert from "node:assert/strict";
import { prefetchLimit, TaskPace } from "../../src/queue/prefetch.ts";

test("no buffer before any task has finished, nor with a zero horizon", () => {
  assert.equal(prefetchLimit(undefined, 8, 1000, 64), 0);
  assert.equal(prefetchLimit(20, 8, 0, 64), 0);
});

test("the buffer holds what the slots start within the horizon, at most the cap", () => {
  assert.equal(prefetchLimit(250, 8, 1000, 64), 32, "8 slots × 4 tasks each in 1 s");
  assert.equal(prefetchLimit(5, 8, 1000, 64), 64, "capped");
  assert.equal(prefetchLimit(0, 8, 1000, 64), 64, "instant tasks: capped, no division by zero");
});

test("tasks longer than the horizon get no buffer", () => {
  assert.equal(prefetchLimit(1500, 1, 1000, 64), 0);
  assert.equal(prefetchLimit(60_000, 8, 1000, 64), 0);
});

test("the pace follows recent tasks (each new one weighs a fifth) and can be forgotten", () => {
  const pace = new TaskPace();
  assert.equal(pace.averageMs, undefined);
  pace.note(100);
  assert.equal(pace.averageMs, 100);
  pace.note(600);
  assert.equal(pace.averageMs, 200);
  pace.reset();
  assert.equal(pace.averageMs, undefined);
});

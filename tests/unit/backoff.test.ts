// The one exponential backoff formula and its jitter (src/util/backoff.ts), and the delays built on it.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { exponentialDelay, withJitter } from "../../src/util/backoff.ts";
import { IdleBackoff, retryDelaySeconds } from "../../src/queue/backoff.ts";
import { backoffSeconds, jittered } from "../../src/workers/source/schedule.ts";
import { retryDelayMs } from "../../src/executors/ai/retry.ts";

describe("exponentialDelay", () => {
  test("first × factor^step, capped; steps below 0 count as 0", () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5].map((n) => exponentialDelay(5, n, 60)), [5, 10, 20, 40, 60, 60]);
    assert.equal(exponentialDelay(5, -3, 60), 5);
    assert.equal(exponentialDelay(100, 2, Infinity, 1.5), 225);
  });

  test("huge steps stay at the cap; no first delay is no delay (never NaN or Infinity)", () => {
    assert.equal(exponentialDelay(1, 5000, 30), 30);
    assert.equal(exponentialDelay(0, 5000, 30), 0);
    assert.equal(exponentialDelay(0, 5000, Infinity, 10), 0);
    assert.equal(exponentialDelay(-1, 2, 30), 0);
  });
});

describe("withJitter", () => {
  test("value × [low, low + width)", () => {
    assert.equal(withJitter(100, 0.8, 0.4, () => 0), 80);
    assert.equal(withJitter(100, 0.8, 0.4, () => 0.5), 100);
    assert.equal(Math.round(withJitter(100, 0.8, 0.4, () => 0.999)), 120);
    assert.equal(withJitter(100, 0.5, 0.5, () => 1), 100);
  });
});

describe("the delays built on it keep their shapes", () => {
  test("task retries, empty-queue polls, failed crawls and AI retries", () => {
    const mid = () => 0.5;
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((n) => retryDelaySeconds(n, 5, 60, mid)), [5, 10, 20, 40, 60, 60]);
    assert.equal(retryDelaySeconds(1000, 5, 60, mid), 60);
    const idle = new IdleBackoff(100, 1000, mid);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(() => idle.next()), [200, 300, 500, 900, 1000, 1000]);
    assert.deepEqual([1, 2, 3, 4, 5].map((n) => backoffSeconds(n, 30, 200)), [30, 60, 120, 200, 200]);
    assert.equal(jittered(1000, 0.2, () => 0), 800);
    const policy = { maxRetries: 3, initialDelayMs: 1000, factor: 2, maxDelayMs: 5000 };
    assert.deepEqual([0, 1, 2, 3].map((n) => retryDelayMs(policy, n, undefined, () => 1)), [1000, 2000, 4000, 5000]);
  });
});

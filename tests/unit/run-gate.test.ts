// The processing worker's run gate: tasks run side by side, a task whose earlier run never ended runs alone.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { RunGate } from "../../src/workers/processing/run-gate.ts";
import { sleep } from "../helpers/wait.ts";

const never = new AbortController().signal;

/** Lets pending promise callbacks run. */
const settle = () => sleep(0);

describe("run gate", () => {
  test("shared runs go side by side", async () => {
    const gate = new RunGate();
    const a = await gate.acquire(false, never);
    const b = await gate.acquire(false, never);
    assert.equal(gate.running, 2);
    a();
    b();
    assert.equal(gate.running, 0);
  });

  test("an exclusive run waits for the running ones, and later shared ones wait for it", async () => {
    const gate = new RunGate();
    const order: string[] = [];
    const first = await gate.acquire(false, never);
    const alone = gate.acquire(true, never).then((release) => (order.push("alone"), release));
    const later = gate.acquire(false, never).then((release) => (order.push("later"), release));
    await settle();
    assert.deepEqual(order, [], "neither starts while the first shared run goes on");
    first();
    const releaseAlone = await alone;
    await settle();
    assert.deepEqual(order, ["alone"], "the exclusive run has the worker to itself");
    assert.equal(gate.running, 1);
    releaseAlone();
    (await later)();
    assert.deepEqual(order, ["alone", "later"]);
    assert.equal(gate.running, 0);
  });

  test("a waiter whose signal aborts leaves the queue, and those behind it go on", async () => {
    const gate = new RunGate();
    const first = await gate.acquire(false, never);
    const abort = new AbortController();
    const alone = gate.acquire(true, abort.signal);
    let laterStarted = false;
    const later = gate.acquire(false, never).then((release) => ((laterStarted = true), release));
    await settle();
    assert.equal(laterStarted, false);
    abort.abort(new Error("worker stopping"));
    await assert.rejects(alone, /worker stopping/);
    (await later)();
    assert.equal(laterStarted, true);
    first();
    assert.equal(gate.waiting, 0);
    assert.equal(gate.running, 0);
  });

  test("releasing twice frees one place only", async () => {
    const gate = new RunGate();
    const a = await gate.acquire(false, never);
    await gate.acquire(false, never);
    a();
    a();
    assert.equal(gate.running, 1);
  });
});

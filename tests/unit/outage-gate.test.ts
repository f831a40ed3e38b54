// The outage gate: one "down" per outage, doubling waits up to a cap, and waitUntilUp probing until an answer or
// an abort. Time is a fake clock and sleeps are recorded, so nothing here depends on timing.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { OutageGate } from "../../src/util/outage-gate.ts";

function fakeGate(firstDelayMs = 1000, maxDelayMs = 5000) {
  let clock = 0;
  const events: string[] = [];
  const slept: number[] = [];
  const gate = new OutageGate({
    firstDelayMs,
    maxDelayMs,
    now: () => clock,
    sleep: (ms) => {
      slept.push(ms);
      clock += ms;
      return Promise.resolve();
    },
    listener: {
      down: (err) => events.push(`down ${(err as Error).message}`),
      failed: (_err, n) => events.push(`failed ${n}`),
      up: (downMs) => events.push(`up after ${downMs}`),
    },
  });
  return { gate, events, slept, advance: (ms: number) => (clock += ms) };
}

describe("outage gate", () => {
  test("starts up: no delay, waitUntilUp returns without probing", async () => {
    const { gate, slept } = fakeGate();
    assert.equal(gate.isDown, false);
    assert.equal(gate.nextDelayMs(), 0);
    let probes = 0;
    await gate.waitUntilUp(() => Promise.resolve(probes++), new AbortController().signal);
    assert.equal(probes, 0);
    assert.deepEqual(slept, []);
  });

  test("the first failure opens the outage once; later failures are counted", () => {
    const { gate, events } = fakeGate();
    gate.noteFailure(new Error("refused"));
    gate.noteFailure(new Error("refused again"));
    assert.equal(gate.isDown, true);
    assert.equal(gate.failures, 2);
    assert.deepEqual(events, ["down refused", "failed 1", "failed 2"]);
  });

  test("delays double from the first up to the maximum", () => {
    const { gate } = fakeGate(1000, 5000);
    gate.noteFailure(new Error("x"));
    assert.deepEqual([1, 2, 3, 4, 5].map(() => gate.nextDelayMs()), [1000, 2000, 4000, 5000, 5000]);
  });

  test("a success closes the outage with its length, and the next one starts from the first delay", () => {
    const { gate, events, advance } = fakeGate();
    gate.noteFailure(new Error("x"));
    gate.nextDelayMs();
    gate.nextDelayMs();
    advance(2500);
    gate.noteSuccess();
    assert.equal(gate.isDown, false);
    assert.equal(gate.failures, 0);
    gate.noteSuccess(); // nothing more to report
    assert.deepEqual(events, ["down x", "failed 1", "up after 2500"]);
    gate.noteFailure(new Error("y"));
    assert.equal(gate.nextDelayMs(), 1000);
  });

  test("waitUntilUp probes after each growing wait until a probe answers", async () => {
    const { gate, events, slept } = fakeGate(1000, 30_000);
    gate.noteFailure(new Error("task saw it"));
    let probes = 0;
    await gate.waitUntilUp(async () => {
      probes++;
      if (probes < 3) throw new Error(`probe ${probes}`);
    }, new AbortController().signal);
    assert.equal(gate.isDown, false);
    assert.deepEqual(slept, [1000, 2000, 4000]);
    assert.deepEqual(events, ["down task saw it", "failed 1", "failed 2", "failed 3", "up after 7000"]);
  });

  test("waitUntilUp returns on abort without probing again; the outage stays open", async () => {
    const { gate } = fakeGate();
    const stop = new AbortController();
    let probes = 0;
    const gateWithAbort = new OutageGate({
      firstDelayMs: 1000,
      maxDelayMs: 1000,
      sleep: () => {
        stop.abort();
        return Promise.resolve();
      },
    });
    gateWithAbort.noteFailure(new Error("down"));
    await gateWithAbort.waitUntilUp(() => Promise.resolve(probes++), stop.signal);
    assert.equal(probes, 0);
    assert.equal(gateWithAbort.isDown, true);
    gate.noteFailure(new Error("down"));
    await gate.waitUntilUp(() => Promise.resolve(probes++), stop.signal); // already aborted: returns at once
    assert.equal(probes, 0);
  });
});

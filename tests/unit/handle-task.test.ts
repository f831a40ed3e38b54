// TaskHandler against in-memory stand-ins for its injected dependencies (the emulator tests in
// tests/integration/processing.test.ts stay): what it does with a message it cannot decode.
import { test } from "node:test";
import assert from "node:assert/strict";
import { TaskHandler, type TaskHandlerDeps } from "../../src/workers/processing/handle-task.ts";
import type { HeldMessage } from "../../src/queue/held-message.ts";
import { Logger } from "../../src/log/logger.ts";
import { OutageGate } from "../../src/util/outage-gate.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

function fakeMessage(text: string) {
  const retries: number[] = [];
  const message = {
    id: "m1",
    dequeueCount: 1,
    text,
    retryAfter: (s: number) => {
      retries.push(s);
      return Promise.resolve("settled");
    },
  };
  return { message: message as unknown as HeldMessage, retries };
}

/** Dependencies that record what the handler asked of them; only the ones a message that fails to decode meets. */
function fakeDeps(opts: { poisonFails?: boolean } = {}) {
  const poisoned: { reason: string; meta: Record<string, unknown> }[] = [];
  const failed: { ref: unknown; error: string }[] = [];
  const counted: string[] = [];
  const unused = () => Promise.reject(new Error("not expected in this test"));
  const deps = {
    settings: { maxFailures: 3, taskTimeoutSeconds: 60, retryBaseDelaySeconds: 10, retryMaxDelaySeconds: 10 },
    workerId: "w1",
    logger: new Logger(),
    report: { count: (name: string) => counted.push(name) },
    records: {
      fail: (ref: unknown, error: string) => {
        failed.push({ ref, error });
        return Promise.resolve();
      },
      read: unused,
      begin: unused,
      complete: unused,
      runFailed: unused,
      interrupted: unused,
    },
    documents: {},
    pipelines: {},
    claimChecks: {},
    poisonQueue: {
      poisonName: "tasks-poison",
      poison: (_m: HeldMessage, reason: string, meta: Record<string, unknown>) => {
        if (opts.poisonFails) return Promise.reject(new Error("poison queue unreachable"));
        poisoned.push({ reason, meta });
        return Promise.resolve({ outcome: "settled" });
      },
    },
    cosmosGate: new OutageGate({ firstDelayMs: 1000, maxDelayMs: 1000 }),
  };
  return { deps: deps as unknown as TaskHandlerDeps, poisoned, failed, counted };
}

test("a message that is not JSON goes to the poison queue with the reason, no record is touched", async () => {
  const { deps, poisoned, failed, counted } = fakeDeps();
  const { message, retries } = fakeMessage("not json {");
  await new TaskHandler(deps).handle(message, new AbortController().signal);
  assert.equal(poisoned.length, 1);
  assert.match(poisoned[0].reason, /json/i);
  assert.equal(poisoned[0].meta.workerId, "w1");
  assert.deepEqual(failed, []);
  assert.deepEqual(retries, []);
  assert.deepEqual(counted, ["tasks_poisoned_total"]);
});

test("an invalid task that names its execution marks that execution failed before poisoning", async () => {
  const { deps, poisoned, failed } = fakeDeps();
  const text = JSON.stringify({ task_type: "content_processing", payload: { execution_id: "e1", task_id: "t1" } });
  const { message } = fakeMessage(text);
  await new TaskHandler(deps).handle(message, new AbortController().signal);
  assert.equal(failed.length, 1);
  assert.deepEqual(failed[0].ref, { executionId: "e1" });
  assert.match(failed[0].error, /^invalid task message: /);
  assert.equal(poisoned.length, 1);
  assert.equal(poisoned[0].meta.executionId, "e1");
  assert.equal(poisoned[0].meta.taskId, "t1");
});

test("when the poison queue cannot be reached the message comes back after the retry delay", async () => {
  const { deps, counted } = fakeDeps({ poisonFails: true });
  const { message, retries } = fakeMessage("not json {");
  await new TaskHandler(deps).handle(message, new AbortController().signal);
  assert.equal(retries.length, 1);
  assert.ok(retries[0] > 0, `retry delay ${retries[0]}`);
  assert.deepEqual(counted, []);
});

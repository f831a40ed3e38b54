import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { IpcReporter } from "../../src/supervisor/child-host.ts";
import { classifyChildLine, SupervisorCommandSchema } from "../../src/supervisor/ipc.ts";
import * as v from "valibot";
import { sleep } from "../helpers/wait.ts";

const microtasks = () => sleep(0);

describe("IpcReporter: state lines per change", () => {
  test("counters and in-flight wait for the next report; readiness and enqueued tasks go at once", async () => {
    const lines: string[] = [];
    const reporter = new IpcReporter("w-1", (l) => lines.push(l));
    try {
      assert.equal(lines.length, 1, "the first report at start");
      for (let i = 0; i < 50; i++) {
        reporter.count("tasks_processed_total");
        reporter.setInFlight(i % 8);
      }
      await microtasks();
      assert.equal(lines.length, 1, "50 counted tasks wrote no line yet");
      reporter.setReady(true);
      await microtasks();
      assert.equal(lines.length, 2, "a readiness change is written at once");
      const state = JSON.parse(lines[1]);
      assert.equal(state.ready, true);
      assert.equal(state.counters.tasks_processed_total, 50, "with the counters so far");
      reporter.count("tasks_enqueued_total", 3);
      await microtasks();
      assert.equal(lines.length, 3, "enqueued tasks are reported at once (the supervisor wakes processing workers)");
      assert.equal(classifyChildLine(lines[2]).kind, "state");
    } finally {
      reporter.stop();
    }
    assert.equal(JSON.parse(lines.at(-1)!).counters.tasks_enqueued_total, 3, "stop() writes the last state");
  });

  test("our logger's lines are classified as log lines without parsing; wake is a supervisor command", () => {
    const line = '{"time":"2026-01-01T00:00:00.000Z","level":"info","msg":"task completed"}';
    assert.deepEqual(classifyChildLine(line), { kind: "log", line });
    assert.equal(classifyChildLine('{"time":"x", broken').kind, "text");
    assert.ok(v.safeParse(SupervisorCommandSchema, { cmd: "wake" }).success);
  });
});

// The re-drive steps (src/redrive/redrive-task.ts) killed at every step, against in-memory fakes of the task queue,
// the execution records and the poison record, and run again: a "worker" that decides each message with the
// processing worker's own rules (decideDelivery, redriveSuperseded) then drains the queue. Whatever the step, and
// whether the worker ran before the rerun or not, the task runs exactly once, nothing is sent for a completed
// execution, and the poison record is gone at the end.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { ExecutionDoc } from "../../src/model/documents.ts";
import {
  decideRedrive,
  type RedriveDeps,
  type RedriveRequest,
  redriveTask,
  retryKeyFor,
} from "../../src/redrive/redrive-task.ts";
import { currentRedrive, redriveSuperseded } from "../../src/store/redrive.ts";
import { decideDelivery } from "../../src/workers/processing/failure-policy.ts";

const EXEC = "exec_0123456789ab";

class Killed extends Error {
  override name = "Killed";
}

/** Counts the I/O steps of one command run and kills it at step `at` (before or after the step took effect). */
class Kill {
  steps: string[] = [];
  dead = false;
  constructor(readonly at?: number, readonly after = false) {}

  async step<T>(name: string, effect: () => T | Promise<T>): Promise<T> {
    if (this.dead) throw new Killed("the command is dead");
    this.steps.push(name);
    if (this.steps.length === this.at && !this.after) {
      this.dead = true;
      throw new Killed(`killed before ${name}`);
    }
    const out = await effect();
    if (this.steps.length === this.at) {
      this.dead = true;
      throw new Killed(`killed after ${name}`);
    }
    return out;
  }
}

interface Message {
  text: string;
}

/** The world the command and the worker share: one execution record, the task queue, the poison record. */
class World {
  record?: ExecutionDoc;
  private etag = 0;
  queue: Message[] = [];
  poisonRecord = true;
  runs = 0;
  sent = 0;

  constructor(record?: Partial<ExecutionDoc>) {
    if (record) this.write({ id: EXEC, status: "failed", error: "boom", completed_at: "t1", ...record });
  }

  write(doc: ExecutionDoc): ExecutionDoc {
    this.record = { ...JSON.parse(JSON.stringify(doc)), _etag: `e${++this.etag}` };
    return this.record!;
  }

  deps(kill: Kill): RedriveDeps {
    let ids = 0;
    return {
      newId: () => `redrive_${kill.at ?? "x"}_${++ids}_${this.etag}`,
      records: {
        read: (id) => kill.step("read", () => (id === EXEC && this.record ? { ...this.record } : undefined)),
        create: (doc) => kill.step("create", () => (this.record ? undefined : this.write(doc))),
        replace: (doc, etag) => kill.step("replace", () => (this.record?._etag === etag ? this.write(doc) : undefined)),
      },
      queue: {
        send: (text) =>
          kill.step("send", () => {
            this.queue.push({ text });
            this.sent++;
          }),
      },
    };
  }

  /**
   * The processing worker, message by message, with its own decisions: a message runs only when decideDelivery
   * says so (a completed execution or a superseded re-drive is acknowledged without running). `until`: "running"
   * leaves the first run in flight (record running, message taken).
   */
  work(until: "done" | "running" = "done"): void {
    while (this.queue.length) {
      const message = this.queue.shift()!;
      const task = JSON.parse(message.text) as { payload: { redrive_id?: string } };
      const action = decideDelivery({
        recordStatus: this.record?.status,
        recordFailures: this.record?.task_failures ?? 0,
        delivery: 1,
        maxFailures: 3,
        supersededByRedrive: redriveSuperseded(task.payload.redrive_id, this.record),
      });
      if (action.kind !== "run") continue;
      this.runs++;
      this.write({ ...this.record!, status: "running" });
      if (until === "running") return;
      this.write({ ...this.record!, status: "completed", completed_at: "t2" });
    }
  }

  finishRunning(): void {
    if (this.record?.status === "running") this.write({ ...this.record, status: "completed", completed_at: "t2" });
  }
}

/** A `poison requeue` of the poison record "poison-1" as admin.ts asks for it. */
function requeue(world: World, kill: Kill): Promise<unknown> {
  const req: RedriveRequest = {
    executionId: EXEC,
    key: "poison-1",
    reason: "pipeline p not found",
    startFrom: ["failed", "pending"],
    seed: () => ({ id: EXEC, status: "pending" }),
    message: (redriveId) => ({ text: JSON.stringify({ payload: { execution_id: EXEC, redrive_id: redriveId } }) }),
    settle: () => kill.step("delete-poison", () => void (world.poisonRecord = false)),
  };
  return redriveTask(world.deps(kill), req);
}

/** An `executions retry` rebuilt from the record, as admin.ts asks for it (the key from the record as read). */
async function retry(world: World, kill: Kill): Promise<unknown> {
  const deps = world.deps(kill);
  const doc = await deps.records.read(EXEC);
  if (doc?.status === "completed") return { kind: "completed" };
  const key = doc && retryKeyFor(doc);
  if (!doc || !key) return { kind: "refused", reason: `its status is ${doc?.status}` };
  return await redriveTask(deps, {
    executionId: EXEC,
    key,
    reason: "boom",
    known: doc,
    message: (redriveId) => ({ text: JSON.stringify({ payload: { execution_id: EXEC, redrive_id: redriveId } }) }),
  });
}

/** Steps of an uninterrupted run, to kill at each. */
async function stepsOf(command: typeof requeue, start: () => World): Promise<string[]> {
  const kill = new Kill();
  const world = start();
  await command(world, kill);
  return kill.steps;
}

const scenarios = [
  { name: "poison requeue", command: requeue, start: () => new World({ task_failures: 3 }), poison: true },
  {
    name: "poison requeue without an execution record",
    command: requeue,
    start: () => new World(),
    poison: true,
  },
  { name: "executions retry", command: retry, start: () => new World({ task_failures: 3 }), poison: false },
] as const;

const worker = ["not run before the rerun", "ran to completion before the rerun", "running at the rerun"] as const;

for (const s of scenarios) {
  describe(`${s.name}: killed at each step and run again`, () => {
    test("an uninterrupted run sends the task once and the worker runs it once", async () => {
      const world = s.start();
      await s.command(world, new Kill());
      assert.equal(world.sent, 1);
      assert.equal(currentRedrive(world.record)?.state, "queued");
      assert.equal(world.poisonRecord, !s.poison);
      world.work();
      assert.equal(world.runs, 1);
      assert.equal(world.record?.status, "completed");
    });

    // (Where the scenario starts with a record: without one, the worker creates it from the task.)
    if (s.start().record) {
      test("the re-driven task starts with a fresh budget: no failed runs, no interruptions", async () => {
        const world = s.start();
        world.write({ ...world.record!, interruptions: 2 });
        await s.command(world, new Kill());
        assert.equal(world.record?.status, "pending");
        assert.equal(world.record?.task_failures, 0);
        assert.equal(world.record?.interruptions, 0);
      });
    }

    test("every step, killed before and after it, with the worker before the rerun or not", async () => {
      const steps = await stepsOf(s.command, s.start);
      assert.ok(steps.length >= 3, `steps: ${steps.join(", ")}`);
      let cases = 0;
      for (let at = 1; at <= steps.length; at++) {
        for (const after of [false, true]) {
          for (const w of worker) {
            const what = `killed ${after ? "after" : "before"} step ${at} (${steps[at - 1]}), worker ${w}`;
            const world = s.start();
            await assert.rejects(s.command(world, new Kill(at, after)), Killed, what);
            if (w === "ran to completion before the rerun") world.work();
            if (w === "running at the rerun") world.work("running");
            const completedBefore = world.record?.status === "completed";
            const sentBefore = world.sent;
            const runningAtRerun = world.record?.status === "running";
            const rerun = await s.command(world, new Kill());
            // Refused only while a worker runs the task (executions retry says so; the run is the retry).
            if (!runningAtRerun || s.poison) {
              assert.notEqual((rerun as { kind?: string }).kind, "refused", `${what}: ${JSON.stringify(rerun)}`);
            }
            if (completedBefore) assert.equal(world.sent, sentBefore, `${what}: nothing sent for a completed task`);
            world.finishRunning();
            world.work();
            assert.equal(world.runs, 1, `${what}: the task ran exactly once`);
            assert.equal(world.record?.status, "completed", what);
            if (s.poison) assert.equal(world.poisonRecord, false, `${what}: the poison record is settled`);
            // A third run finds nothing to do.
            const sent = world.sent;
            await s.command(world, new Kill());
            assert.equal(world.sent, sent, `${what}: a third run sends nothing`);
            cases++;
          }
        }
      }
      assert.equal(cases, steps.length * 2 * worker.length);
    });
  });
}

describe("re-drive decisions", () => {
  const req = { executionId: EXEC, key: "poison-1", reason: "r", message: () => ({ text: "" }) };
  const doc = (status: ExecutionDoc["status"], redrive?: Record<string, unknown>): ExecutionDoc =>
    ({ id: EXEC, status, ...(redrive ? { redrive: { at: "t", ...redrive } } : {}) }) as ExecutionDoc;

  test("a completed execution is never re-driven, whatever its marker says", () => {
    for (const state of [undefined, "sending", "queued"]) {
      const marker = state ? { id: "r1", state, poison_message_id: "poison-1" } : undefined;
      assert.deepEqual(decideRedrive(doc("completed", marker), req), { do: "done", result: { kind: "completed" } });
    }
  });

  test("a task a worker is running is not re-driven", () => {
    assert.equal(decideRedrive(doc("running"), req).do, "done");
    assert.match(JSON.stringify(decideRedrive(doc("running"), req)), /running/);
  });

  test("pending without a marker starts only where allowed; a retry left half done is resumed", () => {
    assert.match(JSON.stringify(decideRedrive(doc("pending"), req)), /refused.*its status is pending/);
    assert.equal(decideRedrive(doc("pending"), { ...req, startFrom: ["failed", "pending"] }).do, "begin");
    const halfDone = doc("pending", { id: "r1", state: "sending", poison_message_id: "execution-retry:t1" });
    assert.equal(retryKeyFor(halfDone), "execution-retry:t1");
    assert.equal(decideRedrive(halfDone, { ...req, key: retryKeyFor(halfDone)! }).do, "begin");
    assert.equal(retryKeyFor(doc("pending")), undefined);
    assert.equal(retryKeyFor(doc("completed")), undefined);
  });

  test("a task another re-drive queued is not sent again", () => {
    const queued = doc("pending", { id: "r9", state: "queued", poison_message_id: "poison-2" });
    assert.deepEqual(decideRedrive(queued, req), {
      do: "done",
      result: { kind: "already-queued", redriveId: "r9", other: true },
    });
  });
});

// Execution records, pipeline documents and the vault flag on a real Cosmos emulator: etag-checked updates under
// concurrency, the lifecycle (completed is final), output too large for an item, 404 vs outage.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { ExecutionStore, fitExecutionDoc, MAX_EVENTS } from "../../src/store/executions.ts";
import { createPendingExecution, markExecutionFailed } from "../../src/store/execution-records.ts";
import { CompiledPipelineCache, readPipelineDoc } from "../../src/store/pipelines.ts";
import { readSaveExecutionOutput } from "../../src/store/vaults-read.ts";
import type { ExecutionDoc } from "../../src/model/documents.ts";
import { compilePipeline, defaultRegistry, parsePipelineYaml, type PipelineResult } from "../../src/pipeline/index.ts";
import { Logger } from "../../src/log/logger.ts";
import {
  contentItem,
  readDoc,
  taskMessage,
  testConfig,
  testCosmos,
  testDatabase,
  timeout,
  uniqueName,
  withTimeout,
} from "../helpers/processing-kit.ts";
import { decideStart, MAX_INTERRUPTIONS } from "../../src/workers/processing/failure-policy.ts";
import { quietLogs } from "../helpers/test-logging.ts";
import { sleep } from "../helpers/wait.ts";

quietLogs();

function result(content = [contentItem("r1", { out: 1 })], extra: Partial<PipelineResult> = {}): PipelineResult {
  return {
    pipeline_name: "p",
    status: "completed",
    content,
    events: [{ timestamp: new Date().toISOString(), event_type: "pipeline_completed" }],
    executor_outputs: { a: { status: "completed", duration_ms: 1, items_in: 1, items_out: 1 } },
    start_time: new Date().toISOString(),
    end_time: new Date().toISOString(),
    duration_seconds: 0.01,
    ...extra,
  };
}

describe("execution store on the Cosmos emulator", () => {
  let emu: Emulators;
  let config: Config;
  let db: Database;
  let store: ExecutionStore;
  const container = () => db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  const execution = (id: string) => readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, id);

  before(async () => {
    emu = await startEmulators({ queue: false, blob: false });
    config = await testConfig(emu);
    db = await testDatabase(emu, config);
    store = new ExecutionStore(container(), { workerId: "w-test" });
  });
  after(async () => {
    await emu?.stop();
  });

  async function pending(key: string): Promise<ReturnType<typeof taskMessage>["payload"]> {
    const task = taskMessage(key, { pipelineId: "p", vaultId: "v1" }).payload;
    await container().items.create({ ...store.seedFromTask(task), status_message: "Task queued" }, timeout());
    return task;
  }

  test("concurrent updates never lose a field (If-Match, re-read and re-apply on 412)", async () => {
    const task = await pending(uniqueName("conc"));
    const writers = Array.from(
      { length: 12 },
      (_, i) => store.update(task.execution_id, (doc) => ({ ...doc, [`field_${i}`]: i })),
    );
    const results = await withTimeout(Promise.all(writers), 30_000, "concurrent updates");
    assert.ok(results.every((r) => r.written));
    const doc = await execution(task.execution_id);
    for (let i = 0; i < 12; i++) assert.equal(doc[`field_${i}`], i, `field_${i} kept`);
  });

  test("updates from a record already in hand: no extra read, yet a stale copy never overwrites a newer write", async () => {
    const task = await pending(uniqueName("known"));
    const first = await store.read(task.execution_id);
    const begun = await store.begin(task, 1, first);
    assert.equal(begun.completed, false);
    assert.equal(begun.doc?.status, "running");
    assert.notEqual(begun.doc?._etag, first?._etag, "the written record, with its new etag");

    // Someone else writes after our copy was taken: completing from the stale copy must re-read, keeping their field.
    await store.update(task.execution_id, (doc) => ({ ...doc, written_meanwhile: true }));
    await store.complete(task, result(), false, begun.doc);
    const doc = await execution(task.execution_id);
    assert.equal(doc.status, "completed");
    assert.equal(doc.written_meanwhile, true, "the other write survived");

    // A copy that says "missing" while the record exists: the create conflicts (409) and the update re-reads.
    const other = await pending(uniqueName("known-missing"));
    const again = await store.begin(other, 1, null);
    assert.equal(again.doc?.status, "running");
    assert.equal((await execution(other.execution_id)).status_message, "Execution is running");
  });

  test("a plain replace with a stale etag is refused (the guard the store relies on)", async () => {
    const task = await pending(uniqueName("stale"));
    const { resource } = await container().item(task.execution_id, task.execution_id).read(timeout());
    await store.update(task.execution_id, (doc) => ({ ...doc, touched: true }));
    await assert.rejects(
      container().item(task.execution_id, task.execution_id).replace({ ...resource, touched: false }, {
        accessCondition: { type: "IfMatch", condition: resource._etag },
        ...timeout(),
      }),
      (err: { code?: number }) => err.code === 412,
    );
  });

  test("lifecycle: pending → running → completed, and completed is final", async () => {
    const task = await pending(uniqueName("life"));
    assert.equal(await store.start(task, 1), "running");
    let doc = await execution(task.execution_id);
    assert.equal(doc.status, "running");
    assert.equal(doc.status_message, "Execution is running");
    assert.equal(doc.processing_worker_id, "w-test");
    assert.ok(doc.started_at && doc.updated_at);
    await store.complete(task, result(), false);
    doc = await execution(task.execution_id);
    assert.equal(doc.status, "completed");
    assert.ok(doc.completed_at);
    assert.deepEqual(doc.content, [contentItem("r1").id], "identifiers only (no save_execution_output)");
    assert.equal(doc.number_of_items, 1);
    assert.deepEqual(Object.keys(doc.executor_outputs), ["a"]);
    assert.equal(doc.events.length, 1);

    // A late duplicate: neither running nor failed overwrites completed.
    assert.equal(await store.start(task, 2), "completed");
    const failed = await store.fail({ executionId: task.execution_id, task }, "late failure");
    assert.equal(failed.written, false);
    await store.retrying(task, "late retry", { attempt: 2, maxAttempts: 3, delaySeconds: 5 });
    const after = await execution(task.execution_id);
    assert.equal(after.status, "completed");
    assert.equal(after.error, null);
    assert.equal(after._etag, doc._etag, "not written at all");
  });

  test("full output is stored as a list when the vault saves execution output", async () => {
    const task = await pending(uniqueName("full"));
    const out = [contentItem("a", { x: 1 }), contentItem("b", { y: 2 })];
    await store.complete(task, result(out), true);
    const doc = await execution(task.execution_id);
    assert.ok(Array.isArray(doc.content));
    assert.deepEqual(doc.content.map((c: { data: unknown }) => c.data), [{ x: 1 }, { y: 2 }]);
    assert.equal(doc.number_of_items, 2);
  });

  test("a failed attempt waits as pending with the error; the final failure is failed", async () => {
    const task = await pending(uniqueName("fail"));
    await store.start(task, 1);
    await store.retrying(task, "boom", { attempt: 1, maxAttempts: 3, delaySeconds: 10 });
    let doc = await execution(task.execution_id);
    assert.equal(doc.status, "pending");
    assert.equal(doc.error, "boom");
    assert.match(doc.status_message, /Attempt 1 of 3 failed; retrying in 10 s/);
    assert.ok(doc.next_attempt_at);
    await store.start(task, 2);
    await store.fail({ executionId: task.execution_id, task }, "boom again", result([], { status: "failed" }));
    doc = await execution(task.execution_id);
    assert.equal(doc.status, "failed");
    assert.equal(doc.status_message, "Execution failed. View error details.");
    assert.equal(doc.error, "boom again");
    assert.ok(doc.completed_at);
    assert.deepEqual(Object.keys(doc.executor_outputs), ["a"], "the failed run's executor outputs are kept");
  });

  test("only the delivery that began the run may complete it: a worker whose lease ran out is superseded", async () => {
    const task = await pending(uniqueName("owner"));
    const first = new ExecutionStore(container(), { workerId: "w-first" });
    const second = new ExecutionStore(container(), { workerId: "w-second" });
    const begunFirst = await first.begin(task, 1);
    // First's lease expires; the message goes to second (delivery 2), which begins and completes.
    await second.begin(task, 2);
    const late = await first.complete(task, result([contentItem("late", { by: "first" })]), false, begunFirst.doc, 1);
    assert.equal(late.superseded, true);
    assert.equal(late.written, false);
    assert.equal((await execution(task.execution_id))?.status, "running", "second's run is untouched");
    const done = await second.complete(task, result([contentItem("r", { by: "second" })]), true, undefined, 2);
    assert.equal(done.superseded, false);
    const doc = await execution(task.execution_id);
    assert.equal(doc?.status, "completed");
    assert.equal(doc?.processing_worker_id, "w-second");
    assert.deepEqual((doc?.content as Array<{ data: unknown }>)[0].data, { by: "second" });
    // Nor may the superseded run count a failure or release the record.
    assert.equal((await first.runFailed(task, "x", { attempt: 1, maxFailures: 3, delaySeconds: 1 })).superseded, true);
    await first.interrupted(task, "lease lost", 1);
    assert.equal((await execution(task.execution_id))?.status, "completed");
  });

  test("a re-drive that replaced the message after the worker read the record keeps that message from starting", async () => {
    const task = await pending(uniqueName("redrive"));
    const read = await store.read(task.execution_id);
    // The worker read the record while it named re-drive r1 (its message carries r1)...
    const withR1 = await container().item(task.execution_id, task.execution_id).replace({
      ...read,
      redrive: { id: "r1", state: "queued", poison_message_id: "p1", at: new Date().toISOString() },
    }, timeout());
    const seen = withR1.resource as unknown as ExecutionDoc;
    // ...then a rerun of the requeue wrote r2 before the worker's begin.
    await container().item(task.execution_id, task.execution_id).replace({
      ...seen,
      redrive: { id: "r2", state: "sending", poison_message_id: "p1", at: new Date().toISOString() },
    }, timeout());
    await assert.rejects(
      store.begin({ ...task, redrive_id: "r1" }, 1, seen),
      /a later re-drive replaced this message/,
    );
    const doc = await execution(task.execution_id);
    assert.equal(doc.status, "pending", "the superseded message did not start the run");
    // The message the record names starts it.
    const started = await store.begin({ ...task, redrive_id: "r2" }, 2);
    assert.equal(started.doc?.status, "running");
  });

  test("the retry budget counts failed runs, not deliveries nor runs whose worker died (those are interruptions)", async () => {
    const task = await pending(uniqueName("budget"));
    const policy = (doc: ExecutionDoc, attempt: number) => decideStart(doc, attempt, 3);
    // Deliveries 1-3 are released by shutdowns or outages: nothing is counted.
    for (const attempt of [1, 2, 3]) {
      await store.begin(task, attempt, undefined, policy);
      await store.interrupted(task, "worker shutdown", attempt);
    }
    assert.equal((await execution(task.execution_id))?.task_failures ?? 0, 0);
    assert.equal((await execution(task.execution_id))?.interruptions ?? 0, 0);
    // Delivery 4 fails: one failure, pending for the retry.
    await store.begin(task, 4, undefined, policy);
    const f1 = await store.runFailed(task, "boom", { attempt: 4, maxFailures: 3, delaySeconds: 1 });
    assert.deepEqual([f1.failures, f1.final], [1, false]);
    assert.equal((await execution(task.execution_id))?.status, "pending");
    // Delivery 5 dies with its worker (the record stays running); delivery 6 counts an interruption, no failure.
    await store.begin(task, 5, undefined, policy);
    const b6 = await store.begin(task, 6, undefined, policy);
    assert.equal(b6.exhausted, undefined);
    assert.equal((await execution(task.execution_id))?.task_failures, 1);
    assert.equal((await execution(task.execution_id))?.interruptions, 1);
    // Delivery 6 fails: the second failure, and the run ended by itself, so the interruptions in a row start again.
    const f2 = await store.runFailed(task, "boom", { attempt: 6, maxFailures: 3, delaySeconds: 1 });
    assert.deepEqual([f2.failures, f2.final], [2, false]);
    assert.equal((await execution(task.execution_id))?.interruptions, 0);
    await store.begin(task, 7, undefined, policy);
    const f3 = await store.runFailed(task, "boom again", { attempt: 7, maxFailures: 3, delaySeconds: 1 });
    assert.deepEqual([f3.failures, f3.final], [3, true]);
    const doc = await execution(task.execution_id);
    assert.equal(doc?.status, "failed");
    assert.match(doc?.error ?? "", /^failed 3 time\(s\) \(MAX_TASK_RETRIES=3\): boom again$/);
    // A later delivery (the poison move failed) does not run it again.
    const b8 = await store.begin(task, 8, undefined, policy);
    assert.match(b8.exhausted ?? "", /boom again/);
    assert.equal((await execution(task.execution_id))?.status, "failed");
  });

  test("a task whose worker keeps stopping under it is set aside after MAX_INTERRUPTIONS in a row, its budget untouched", async () => {
    const task = await pending(uniqueName("crashes"));
    const policy = (doc: ExecutionDoc, attempt: number) => decideStart(doc, attempt, 1);
    for (let attempt = 1; attempt <= MAX_INTERRUPTIONS; attempt++) {
      assert.equal((await store.begin(task, attempt, undefined, policy)).exhausted, undefined, `delivery ${attempt}`);
    }
    // Run MAX_INTERRUPTIONS never ended either: that makes MAX_INTERRUPTIONS in a row.
    const last = await store.begin(task, MAX_INTERRUPTIONS + 1, undefined, policy);
    assert.match(last.exhausted ?? "", new RegExp(`stopped under it ${MAX_INTERRUPTIONS} times in a row`));
    const doc = await execution(task.execution_id);
    assert.equal(doc?.status, "failed");
    assert.equal(doc?.task_failures ?? 0, 0, "no failed run was counted (MAX_TASK_RETRIES=1 would have poisoned it)");
    assert.equal(doc?.interruptions, MAX_INTERRUPTIONS);
  });

  test("a failed send marks the record failed only if nobody changed it since its creation (creation etag)", async () => {
    const untouched = taskMessage(uniqueName("mark-a"), { pipelineId: "p", vaultId: "v1" });
    const refA = await createPendingExecution(container(), untouched, { workerId: "src" });
    assert.equal(await markExecutionFailed(container(), refA, "send failed"), true);
    assert.equal((await execution(refA.id))?.status, "failed");
    // The send reached the queue after all: a worker took the task, its attempt failed and it waits as pending.
    const taken = taskMessage(uniqueName("mark-b"), { pipelineId: "p", vaultId: "v1" });
    const refB = await createPendingExecution(container(), taken, { workerId: "src" });
    await store.begin(taken.payload, 1);
    await store.retrying(taken.payload, "boom", { attempt: 1, maxAttempts: 3, delaySeconds: 5 });
    assert.equal((await execution(refB.id))?.status, "pending");
    assert.equal(await markExecutionFailed(container(), refB, "send failed"), false);
    const doc = await execution(refB.id);
    assert.equal(doc?.status, "pending", "the retrying task is not marked failed");
    assert.equal(doc?.error, "boom");
  });

  test("a missing record is created from the task (findable by vault_id); without a task it is left missing", async () => {
    const task = taskMessage(uniqueName("missing"), { pipelineId: "p", vaultId: "vault-missing" }).payload;
    assert.equal(await store.start(task, 1), "running");
    const doc = await execution(task.execution_id);
    assert.equal(doc.status, "running");
    assert.equal(doc.vault_id, "vault-missing");
    assert.equal(doc.task_id, task.task_id);
    assert.equal(doc.created_by, "w-test");
    const { resources } = await container().items
      .query({
        query: "SELECT c.id FROM c WHERE c.vault_id = @v",
        parameters: [{ name: "@v", value: "vault-missing" }],
      })
      .fetchAll();
    assert.deepEqual(resources.map((r) => r.id), [task.execution_id]);

    const r = await store.fail({ executionId: "exec_never_created" }, "invalid message");
    assert.equal(r.written, false);
    assert.equal(await execution("exec_never_created"), undefined);
  });

  test("output too large for a Cosmos item: status kept, identifiers stored, with a note", async () => {
    const task = await pending(uniqueName("big"));
    const big = Array.from({ length: 30 }, (_, i) => contentItem(`big${i}`, { blob: "x".repeat(100_000) }));
    await store.complete(task, result(big), true);
    const doc = await execution(task.execution_id);
    assert.equal(doc.status, "completed");
    assert.equal(doc.number_of_items, 30);
    assert.equal(doc.content.length, 30);
    assert.equal(doc.content[0].canonical_id, big[0].id.canonical_id, "identifier dicts");
    assert.equal(doc.output_truncated, true);
    assert.match(doc.output_note, /too large for Cosmos DB/);
  });

  test("events are bounded in number and size", async () => {
    const task = await pending(uniqueName("events"));
    const events = Array.from({ length: 2000 }, (_, i) => ({
      timestamp: new Date().toISOString(),
      event_type: "executor_failed" as const,
      executor_id: `e${i}`,
      error: "e".repeat(10_000),
    }));
    await store.complete(task, result(undefined, { events }), false);
    const doc = await execution(task.execution_id);
    assert.equal(doc.events.length, MAX_EVENTS);
    assert.equal(doc.events_dropped, 2000 - MAX_EVENTS);
    assert.equal(doc.events.at(-1).executor_id, "e1999", "the end of the run is kept");
    assert.ok(doc.events[0].error.length < 2100);
  });

  test("fitExecutionDoc reduces in steps and never drops the status (also when Cosmos says 413)", () => {
    const doc = {
      id: "x",
      status: "completed",
      number_of_items: 2,
      content: [contentItem("a", { big: "y".repeat(5000) }), contentItem("b")],
      events: [{ event_type: "pipeline_completed" }],
      executor_outputs: { a: {} },
      _etag: "e",
      _rid: "r",
    } as unknown as ExecutionDoc;
    const same = fitExecutionDoc(doc, 1_000_000);
    assert.equal(same.level, 0);
    assert.equal((same.doc as Record<string, unknown>)._etag, undefined, "system fields are not written back");
    const forced = fitExecutionDoc(doc, 1_000_000, 1);
    assert.equal(forced.level, 1);
    assert.deepEqual(forced.doc.content, [contentItem("a").id, contentItem("b").id]);
    const tiny = fitExecutionDoc(doc, 10);
    assert.equal(tiny.level, 3);
    assert.equal(tiny.doc.status, "completed");
    assert.deepEqual(tiny.doc.content, []);
  });

  test("vault flag: true only when set; a missing vault or none stores identifiers", async () => {
    const vaults = db.container(config.COSMOS_DB_CONTAINER_VAULTS);
    await vaults.items.create({ id: "v-save", pipeline_id: "p", save_execution_output: true }, timeout());
    await vaults.items.create({ id: "v-nosave", pipeline_id: "p" }, timeout());
    assert.equal(await readSaveExecutionOutput(vaults, "v-save"), true);
    assert.equal(await readSaveExecutionOutput(vaults, "v-nosave"), false);
    assert.equal(await readSaveExecutionOutput(vaults, "v-gone"), false);
    assert.equal(await readSaveExecutionOutput(vaults, null), false);
  });

  test("compiled pipelines are reused per _etag and closed when replaced", async () => {
    const pipelines = db.container(config.COSMOS_DB_CONTAINER_PIPELINES);
    const yaml = (name: string) => `pipeline:\n  name: ${name}\n  executors:\n    - {id: a, type: pass_through}\n`;
    await pipelines.items.create({ id: "pc", name: "pc", yaml: yaml("one") }, timeout());
    let compiles = 0;
    const closed: string[] = [];
    const cache = new CompiledPipelineCache((doc, exclude) => {
      compiles++;
      const p = compilePipeline(parsePipelineYaml(doc.yaml), {
        registry: defaultRegistry(),
        deps: { config, logger: new Logger() },
        excludeExecutor: exclude,
      });
      const close = p.close;
      p.close = async () => {
        closed.push(p.name);
        await close();
      };
      return p;
    });
    const read = async () => {
      const r = await readPipelineDoc(pipelines, "pc");
      assert.equal(r.kind, "found");
      return r.kind === "found" ? r.doc : assert.fail();
    };
    const first = cache.acquire(await read(), null);
    const again = cache.acquire(await read(), null);
    assert.equal(first.pipeline, again.pipeline);
    assert.equal(compiles, 1);
    first.release();
    await pipelines.item("pc", "pc").replace({ id: "pc", name: "pc", yaml: yaml("two") }, timeout());
    const second = cache.acquire(await read(), null);
    assert.equal(compiles, 2);
    assert.equal(second.pipeline.name, "two");
    assert.equal(cache.size, 1, "the old version is dropped");
    assert.deepEqual(closed, [], "not closed while a task still uses it");
    again.release();
    await sleep(10);
    assert.deepEqual(closed, ["one"], "closed once its last user is done");
    second.release();
    await cache.closeAll();
    assert.deepEqual(closed, ["one", "two"]);
  });

  test("pipeline reads: 404 is 'not found', an invalid document is 'malformed', an outage is an error", async () => {
    const pipelines = db.container(config.COSMOS_DB_CONTAINER_PIPELINES);
    assert.deepEqual(await readPipelineDoc(pipelines, "no-such-pipeline"), { kind: "not-found" });
    await pipelines.items.create({ id: "bad-doc", name: "bad", yaml: 42 }, timeout());
    const bad = await readPipelineDoc(pipelines, "bad-doc");
    assert.equal(bad.kind, "malformed");

    // Cosmos down: the read fails (to be retried later), it does not claim the pipeline is missing (the Python worker did).
    const client = testCosmos(emu);
    const offline = client.database(config.COSMOS_DB_NAME).container(config.COSMOS_DB_CONTAINER_PIPELINES);
    await emu.cosmos.stop();
    try {
      await assert.rejects(
        withTimeout(
          readPipelineDoc(offline, "no-such-pipeline", AbortSignal.timeout(10_000)),
          20_000,
          "read during outage",
        ),
      );
    } finally {
      await emu.cosmos.start();
    }
  });
});

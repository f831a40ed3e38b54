// The processing worker end to end on real Azurite (queue + blob) and the Cosmos emulator. Each scenario has its
// own task queue and worker(s), so counters and poison records belong to that scenario alone.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import type { Database } from "@azure/cosmos";
import { BlobServiceClient } from "@azure/storage-blob";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { TaskSender } from "../../src/queue/sender.ts";
import { taskDrainBudgetMs } from "../../src/workers/processing/index.ts";
import {
  callsOf,
  contentItem,
  poisonRecords,
  queueClients,
  readDoc,
  type RunningWorker,
  sleep,
  startWorker,
  taskMessage,
  testConfig,
  testDatabase,
  testRegistry,
  timeout,
  uniqueName,
  until,
} from "../helpers/processing-kit.ts";
import { ExecutionStore } from "../../src/store/executions.ts";
import { decideStart, MAX_INTERRUPTIONS } from "../../src/workers/processing/failure-policy.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

const INPUT =
  "    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: c}}";

const PIPELINES: Record<string, string> = {
  "pipe-basic": `pipeline:
  name: basic
  executors:
${INPUT}
    - {id: keep, type: field_selector, settings: {fields: [title]}}
    - {id: done, type: pass_through}
  execution_sequence: [discover, keep, done]
`,
  "pipe-count":
    `pipeline:\n  name: count\n  executors:\n${INPUT}\n    - {id: count, type: test_wait}\n  execution_sequence: [discover, count]\n`,
  "pipe-flaky-once":
    `pipeline:\n  name: flaky\n  executors:\n${INPUT}\n    - {id: flaky, type: test_flaky, settings: {fail_times: 1}}\n  execution_sequence: [discover, flaky]\n`,
  "pipe-flaky-always":
    `pipeline:\n  name: broken\n  executors:\n${INPUT}\n    - {id: flaky, type: test_flaky, settings: {fail_times: 1000}}\n  execution_sequence: [discover, flaky]\n`,
  "pipe-slow":
    `pipeline:\n  name: slow\n  executors:\n${INPUT}\n    - {id: wait, type: test_wait, settings: {ms: 6500}}\n  execution_sequence: [discover, wait]\n`,
  "pipe-endless":
    `pipeline:\n  name: endless\n  executors:\n${INPUT}\n    - {id: wait, type: test_wait, settings: {ms: 600000}}\n  execution_sequence: [discover, wait]\n`,
  "pipe-uncompilable": `pipeline:\n  name: nope\n  executors:\n    - {id: x, type: no_such_executor_type}\n`,
  "pipe-fan": `pipeline:
  name: fan
  executors:
${INPUT}
    - {id: start, type: pass_through}
    - {id: tag_docs, type: field_mapper, settings: {mappings: {title: title_a}, condition: "data.kind == 'doc'"}}
    - {id: tag_all, type: field_mapper, settings: {mappings: {title: title_b}}}
    - {id: join, type: fan_in_aggregator}
  edges:
    - {from: discover, to: start}
    - {from: start, to: [tag_docs, tag_all], type: parallel}
    - {from: [tag_docs, tag_all], to: join, type: join}
`,
};

describe("processing worker", () => {
  let emu: Emulators;
  let db: Database;
  let base: Config;
  const workers: RunningWorker[] = [];

  before(async () => {
    emu = await startEmulators();
    base = await testConfig(emu);
    db = await testDatabase(emu, base);
    const pipelines = db.container(base.COSMOS_DB_CONTAINER_PIPELINES);
    for (const [id, yaml] of Object.entries(PIPELINES)) await pipelines.items.create({ id, name: id, yaml }, timeout());
    const vaults = db.container(base.COSMOS_DB_CONTAINER_VAULTS);
    await vaults.items.create({
      id: "vault-save",
      pipeline_id: "pipe-basic",
      save_execution_output: true,
      enabled: true,
    }, timeout());
    await vaults.items.create({
      id: "vault-ids",
      pipeline_id: "pipe-basic",
      save_execution_output: false,
      enabled: true,
    }, timeout());
  });

  after(async () => {
    await Promise.allSettled(workers.map((w) => w.stop()));
    await emu?.stop();
  });

  /** A queue and config of its own; the worker(s) use the test registry (test_wait, test_flaky). */
  async function scenario(overrides: Record<string, string> = {}) {
    const config = await testConfig(emu, overrides);
    const queues = queueClients(emu, config);
    await queues.tasks.createIfNotExists(timeout());
    const start = (id = uniqueName("worker")) => {
      const w = startWorker(config, id, testRegistry());
      workers.push(w);
      return w;
    };
    return { config, queues, start };
  }

  const execution = (id: string) => readDoc(db, base.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, id);
  const executionIn = (id: string, statuses: string[]) =>
    until(`execution ${id} in ${statuses.join("|")}`, async () => {
      const doc = await execution(id);
      return doc && statuses.includes(doc.status) ? doc : undefined;
    }, 45_000);
  const pendingRecord = (task: ReturnType<typeof taskMessage>) =>
    db.container(base.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.create({
      id: task.payload.execution_id,
      pipeline_id: task.payload.pipeline_id,
      vault_id: task.payload.vault_id,
      status: "pending",
      status_message: "Task queued for processing with input content of size 1",
      task_id: task.payload.task_id,
      content: task.payload.content.map((c) => c.id),
      number_of_items: task.payload.content.length,
      created_at: new Date().toISOString(),
    }, timeout());
  const queued = async (q: { getProperties: (o: object) => Promise<{ approximateMessagesCount?: number }> }) =>
    (await q.getProperties(timeout())).approximateMessagesCount ?? 0;

  test("happy path: plain and base64 messages run without the input executor; output per vault setting", async () => {
    const { queues, start } = await scenario();
    const worker = start("worker-happy");
    const full = taskMessage(uniqueName("full"), { pipelineId: "pipe-basic", vaultId: "vault-save" });
    const ids = taskMessage(uniqueName("ids"), { pipelineId: "pipe-basic", vaultId: "vault-ids" });
    await pendingRecord(full); // as the source worker writes it; `ids` has none and gets one created
    await queues.tasks.sendMessage(JSON.stringify(full), timeout());
    await queues.tasks.sendMessage(Buffer.from(JSON.stringify(ids)).toString("base64"), timeout());

    const a = await executionIn(full.payload.execution_id, ["completed", "failed"]);
    assert.equal(a.status, "completed", a.error);
    assert.equal(a.status_message, "Execution completed");
    assert.equal(a.processing_worker_id, "worker-happy");
    assert.equal(a.number_of_items, 1);
    assert.deepEqual(a.content[0].data, { title: "T" }, "full output (save_execution_output)");
    assert.deepEqual(Object.keys(a.executor_outputs), ["keep", "done"], "the input executor did not run");
    assert.equal(a.events.at(-1).event_type, "pipeline_completed");
    assert.ok(a.started_at && a.completed_at && a.updated_at);
    assert.equal(a.error, null);

    const b = await executionIn(ids.payload.execution_id, ["completed", "failed"]);
    assert.equal(b.status, "completed", b.error);
    assert.deepEqual(b.content, [ids.payload.content[0].id], "identifiers only, as a list");
    assert.equal(b.vault_id, "vault-ids", "a missing record is created from the task");

    await until("queue empty", async () => ((await queued(queues.tasks)) === 0 ? true : undefined));
    assert.equal(worker.reporter.counters.tasks_processed_total, 2);
    assert.equal(worker.reporter.counters.messages_received_total, 2);
    assert.ok(worker.reporter.counters.queue_polls_total >= 1);
    assert.equal(worker.reporter.ready, true);
    assert.deepEqual(await poisonRecords(queues.poison), []);
    await worker.stop();
    assert.equal(worker.reporter.inFlight, 0);
  });

  test("the README task shape (content_id + content_data), wrapped or bare, runs as one content item", async () => {
    const { queues, start } = await scenario();
    const worker = start();
    // As both ContentFlow worker READMEs document the task; the second is sent bare, as a client may send it.
    const readmeTask = (key: string, extra: Record<string, unknown> = {}) => ({
      task_id: `task_${key}`,
      task_type: "content_processing",
      pipeline_id: "pipe-basic",
      pipeline_name: "Document Processing",
      execution_id: `exec_${key}`,
      content_id: `content_${key}`,
      content_data: { title: "README", drop: 1 },
      executed_input_executor: "discover",
      priority: "normal",
      max_retries: 3,
      ...extra,
    });
    const wrapped = readmeTask(uniqueName("readme"), { vault_id: "vault-save" });
    const bare = readmeTask(uniqueName("bare"));
    await queues.tasks.sendMessage(JSON.stringify({ task_type: "content_processing", payload: wrapped }), timeout());
    await queues.tasks.sendMessage(JSON.stringify(bare), timeout());

    const a = await executionIn(wrapped.execution_id, ["completed", "failed"]);
    assert.equal(a.status, "completed", a.error);
    assert.equal(a.number_of_items, 1);
    assert.deepEqual(a.content.map((c: { id: unknown }) => c.id), [{
      canonical_id: wrapped.content_id,
      unique_id: wrapped.content_id,
    }]);
    assert.deepEqual(a.content[0].data, { title: "README" }, "content_data is the item's data, through the pipeline");
    assert.deepEqual(Object.keys(a.executor_outputs), ["keep", "done"], "executed_input_executor is left out");
    const b = await executionIn(bare.execution_id, ["completed", "failed"]);
    assert.equal(b.status, "completed", b.error);
    assert.equal(b.number_of_items, 1);
    assert.equal(b.task_id, bare.task_id);
    await until("queue empty", async () => ((await queued(queues.tasks)) === 0 ? true : undefined));
    assert.deepEqual(await poisonRecords(queues.poison), []);
    await worker.stop();
  });

  test("retry then success: a failed attempt comes back after a delay and completes", async () => {
    const { queues, start } = await scenario({
      MAX_TASK_RETRIES: "3",
      RETRY_BASE_DELAY_SECONDS: "1",
      RETRY_MAX_DELAY_SECONDS: "2",
    });
    const worker = start();
    const key = uniqueName("retry");
    const task = taskMessage(key, { pipelineId: "pipe-flaky-once", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    const doc = await executionIn(task.payload.execution_id, ["completed", "failed"]);
    assert.equal(doc.status, "completed");
    assert.equal(doc.attempt, 2, "completed on the second delivery");
    assert.equal(callsOf("test_flaky", key), 2);
    // The record is written completed before the message is deleted and the task counted.
    await until("task counted", () => worker.reporter.counters.tasks_processed_total === 1);
    assert.equal(worker.reporter.counters.tasks_retried_total, 1);
    assert.equal(worker.reporter.counters.tasks_failed_total, 1);
    assert.equal(worker.reporter.counters.tasks_processed_total, 1);
    assert.deepEqual(await poisonRecords(queues.poison), []);
    await worker.stop();
  });

  test("poison after MAX_TASK_RETRIES failed runs: execution failed, message in the poison queue with the reason", async () => {
    const { queues, start } = await scenario({ MAX_TASK_RETRIES: "2", RETRY_BASE_DELAY_SECONDS: "0" });
    const worker = start();
    const key = uniqueName("poison");
    const task = taskMessage(key, { pipelineId: "pipe-flaky-always", vaultId: "vault-ids" });
    await pendingRecord(task);
    const text = JSON.stringify(task);
    await queues.tasks.sendMessage(text, timeout());
    const doc = await executionIn(task.payload.execution_id, ["failed", "completed"]);
    assert.equal(doc.status, "failed");
    assert.match(doc.error, /failed 2 time\(s\) \(MAX_TASK_RETRIES=2\): .*flaky failure 2/);
    assert.equal(doc.task_failures, 2);
    assert.ok(doc.executor_outputs.flaky, "the failed run's executor outputs are recorded");
    const records = await until("poison record", async () => {
      const r = await poisonRecords(queues.poison);
      return r.length ? r : undefined;
    });
    assert.equal(records.length, 1);
    assert.equal(records[0].message, text, "the original text");
    assert.equal(records[0].dequeue_count, 2);
    assert.equal(records[0].execution_id, task.payload.execution_id);
    assert.equal(records[0].queue, queues.tasks.name);
    assert.match(records[0].reason, /failed 2 time\(s\) \(MAX_TASK_RETRIES=2\)/);
    assert.equal(callsOf("test_flaky", key), 2, "ran exactly MAX_TASK_RETRIES times");
    assert.equal(await queued(queues.tasks), 0);
    assert.equal(worker.reporter.counters.tasks_poisoned_total, 1);
    await worker.stop();
  });

  test("deliveries spent elsewhere (outages, drains, restarts) do not count: a task delivered more often than MAX_TASK_RETRIES still runs", async () => {
    const { queues, start } = await scenario({ MAX_TASK_RETRIES: "2" });
    const key = uniqueName("redelivered");
    const task = taskMessage(key, { pipelineId: "pipe-count", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    for (let i = 0; i < 3; i++) {
      // Received and never settled, as by workers that released it or could not reach Cosmos (the record stays
      // pending: no run of the task ever failed).
      await until("received", async () => {
        const r = await queues.tasks.receiveMessages({ visibilityTimeout: 1, ...timeout() });
        return r.receivedMessageItems.length ? true : undefined;
      }, 10_000);
    }
    await sleep(1200);
    const worker = start();
    const doc = await executionIn(task.payload.execution_id, ["failed", "completed"]);
    assert.equal(doc.status, "completed", `on delivery 4 of a task allowed 2 failed runs: ${doc.error}`);
    assert.equal(doc.attempt, 4);
    assert.equal(callsOf("test_wait", key), 1);
    assert.deepEqual(await poisonRecords(queues.poison), []);
    await worker.stop();
  });

  test("a healthy task whose workers were killed under it several times is charged no failure and completes", async () => {
    // MAX_TASK_RETRIES=1: had a kill counted as a failed run, the first kill alone would have poisoned the task.
    const { queues, start } = await scenario({ MAX_TASK_RETRIES: "1" });
    const key = uniqueName("killed");
    const task = taskMessage(key, { pipelineId: "pipe-count", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    const executions = db.container(base.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
    // Deliveries 1 and 2 go to workers that begin the run (with the worker's own start policy) and are then killed
    // with it in flight, as the supervisor kills a worker hung by another task: the record stays running.
    for (let delivery = 1; delivery <= MAX_INTERRUPTIONS - 1; delivery++) {
      await until("received", async () => {
        const r = await queues.tasks.receiveMessages({ visibilityTimeout: 1, ...timeout() });
        return r.receivedMessageItems.length ? true : undefined;
      }, 10_000);
      const killed = new ExecutionStore(executions, { workerId: `worker-killed-${delivery}` });
      const begun = await killed.begin(task.payload, delivery, undefined, (doc, n) => decideStart(doc, n, 1));
      assert.equal(begun.exhausted, undefined, `delivery ${delivery} starts`);
    }
    await sleep(1200);
    const worker = start();
    const doc = await executionIn(task.payload.execution_id, ["failed", "completed"]);
    assert.equal(doc.status, "completed", `after ${MAX_INTERRUPTIONS - 1} kills: ${doc.error}`);
    assert.equal(doc.task_failures ?? 0, 0, "no failed run counted");
    assert.equal(doc.interruptions, MAX_INTERRUPTIONS - 1, "the kills are counted as interruptions");
    assert.equal(callsOf("test_wait", key), 1);
    assert.deepEqual(await poisonRecords(queues.poison), []);
    await worker.stop();
  });

  test("a task whose workers keep stopping under it is set aside after MAX_INTERRUPTIONS in a row, without running", async () => {
    const { queues, start } = await scenario({ MAX_TASK_RETRIES: "3" });
    const key = uniqueName("crashloop");
    const task = taskMessage(key, { pipelineId: "pipe-count", vaultId: "vault-ids" });
    await pendingRecord(task);
    // Earlier runs never ended, and the run of delivery 1 did not either: its record says running.
    const executions = db.container(base.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
    const { resource } = await executions.item(task.payload.execution_id, task.payload.execution_id).read();
    await executions.item(task.payload.execution_id, task.payload.execution_id).replace({
      ...resource,
      status: "running",
      attempt: 1,
      task_failures: 0,
      interruptions: MAX_INTERRUPTIONS - 1,
      processing_worker_id: "a-worker-that-died",
    }, timeout());
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    await until("received", async () => {
      const r = await queues.tasks.receiveMessages({ visibilityTimeout: 1, ...timeout() });
      return r.receivedMessageItems.length ? true : undefined;
    }, 10_000);
    await sleep(1200);
    const worker = start();
    const doc = await executionIn(task.payload.execution_id, ["failed", "completed"]);
    assert.equal(doc.status, "failed");
    assert.match(doc.error, new RegExp(`stopped under it ${MAX_INTERRUPTIONS} times in a row`));
    assert.equal(doc.task_failures, 0);
    assert.equal(callsOf("test_wait", key), 0, "never run");
    const records = await until(
      "poisoned",
      async () => ((await poisonRecords(queues.poison)).length ? poisonRecords(queues.poison) : undefined),
    );
    assert.match(records[0].reason, /times in a row/);
    await worker.stop();
  });

  test("every kind of bad message goes straight to poison with a clear reason (never retried)", async () => {
    const { queues, start } = await scenario({ MAX_TASK_RETRIES: "3" });
    const worker = start();
    const wrongTypes = taskMessage(uniqueName("wrong"), { pipelineId: "pipe-basic", vaultId: "vault-ids" });
    await pendingRecord(wrongTypes);
    const unknownPipeline = taskMessage(uniqueName("nopipe"), { pipelineId: "no-such-pipeline", vaultId: "vault-ids" });
    await pendingRecord(unknownPipeline);
    const uncompilable = taskMessage(uniqueName("nocompile"), {
      pipelineId: "pipe-uncompilable",
      vaultId: "vault-ids",
      inputExecutor: null,
    });
    const bad: Record<string, string> = {
      nonJson: "this is not json {",
      badBase64: "bm90IGpzb24=",
      unknownType: JSON.stringify({ task_type: "input_source_loading", payload: {} }),
      missingFields: JSON.stringify({ task_type: "content_processing", payload: { task_id: "t-missing" } }),
      wrongTypes: JSON.stringify({
        ...wrongTypes,
        payload: { ...wrongTypes.payload, content: "nope", retry_count: "x" },
      }),
      unknownPipeline: JSON.stringify(unknownPipeline),
      uncompilable: JSON.stringify(uncompilable),
    };
    for (const text of Object.values(bad)) await queues.tasks.sendMessage(text, timeout());
    const records = await until("all poisoned", async () => {
      const r = await poisonRecords(queues.poison);
      return r.length >= Object.keys(bad).length ? r : undefined;
    });
    const reasonOf = (text: string) => records.find((r) => r.message === text)?.reason ?? "(not poisoned)";
    assert.match(reasonOf(bad.nonJson), /neither JSON nor base64/);
    assert.match(reasonOf(bad.badBase64), /base64 but does not decode to JSON/);
    assert.match(reasonOf(bad.unknownType), /unknown task_type "input_source_loading"/);
    assert.match(reasonOf(bad.missingFields), /payload\.pipeline_id/);
    assert.match(reasonOf(bad.wrongTypes), /payload\.(content|retry_count)/);
    assert.match(reasonOf(bad.unknownPipeline), /pipeline no-such-pipeline not found/);
    assert.match(reasonOf(bad.uncompilable), /pipeline pipe-uncompilable cannot be compiled: .*no_such_executor_type/);
    for (const r of records) assert.equal(r.dequeue_count, 1, `never retried: ${r.reason}`);
    assert.equal(worker.reporter.counters.tasks_retried_total, undefined);

    const invalid = await executionIn(wrongTypes.payload.execution_id, ["failed"]);
    assert.match(invalid.error, /invalid task message/);
    const missing = await executionIn(unknownPipeline.payload.execution_id, ["failed"]);
    assert.match(missing.error, /pipeline no-such-pipeline not found/);
    await until("task queue empty", async () => ((await queued(queues.tasks)) === 0 ? true : undefined));
    await worker.stop();
  });

  test("hold renewal: a task running 3× the hold is not redelivered to another worker", async () => {
    const { queues, start } = await scenario({ QUEUE_VISIBILITY_TIMEOUT_SECONDS: "2", TASK_TIMEOUT_SECONDS: "60" });
    const w1 = start();
    const w2 = start();
    const key = uniqueName("lease");
    const task = taskMessage(key, { pipelineId: "pipe-slow", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    await executionIn(task.payload.execution_id, ["running"]);
    await sleep(4500); // past twice the hold
    const peeked = await queues.tasks.peekMessages(timeout());
    assert.equal(peeked.peekedMessageItems.length, 0, "still held");
    const doc = await executionIn(task.payload.execution_id, ["completed", "failed"]);
    assert.equal(doc.status, "completed");
    assert.equal(callsOf("test_wait", key), 1, "ran once");
    const total = (name: string) => (w1.reporter.counters[name] ?? 0) + (w2.reporter.counters[name] ?? 0);
    // The record is completed before the message is deleted and the task counted: wait for the count.
    await until("task counted", async () => (total("tasks_processed_total") >= 1 ? true : undefined), 10_000);
    assert.equal(total("messages_received_total"), 1, "delivered once");
    assert.equal(total("tasks_processed_total"), 1);
    assert.ok(total("lease_renewals_total") >= 4, `${total("lease_renewals_total")} renewals`);
    assert.equal(total("lease_renewal_failures_total"), 0);
    await until("queue empty", async () => ((await queued(queues.tasks)) === 0 ? true : undefined));
    await Promise.all([w1.stop(), w2.stop()]);
  });

  test("drain: an unfinished task's message is visible again at once and its execution is pending again", async () => {
    const { config, queues, start } = await scenario({
      SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "2",
      QUEUE_VISIBILITY_TIMEOUT_SECONDS: "120",
    });
    const worker = start();
    const task = taskMessage(uniqueName("drain"), { pipelineId: "pipe-endless", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    await executionIn(task.payload.execution_id, ["running"]);
    const t0 = Date.now();
    await worker.stop();
    const took = Date.now() - t0;
    assert.ok(took < taskDrainBudgetMs(config) + 5000, `stopped in ${took} ms`);
    const peeked = (await queues.tasks.peekMessages(timeout())).peekedMessageItems;
    assert.equal(peeked.length, 1, "visible right away, not after the 120 s hold");
    assert.equal(peeked[0].dequeueCount, 1);
    const doc = await execution(task.payload.execution_id);
    assert.equal(doc.status, "pending");
    assert.match(doc.status_message, /Interrupted \(worker shutdown\)/);
    assert.equal(worker.reporter.ready, false);
  });

  test("a redelivered task whose execution is completed is acknowledged without re-running", async () => {
    const { queues, start } = await scenario();
    const worker = start();
    const key = uniqueName("dup");
    const task = taskMessage(key, { pipelineId: "pipe-count", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    const done = await executionIn(task.payload.execution_id, ["completed"]);
    assert.equal(callsOf("test_wait", key), 1);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    await until(
      "skipped",
      async () => (worker.reporter.counters.tasks_skipped_duplicate_total === 1 ? true : undefined),
    );
    assert.equal(callsOf("test_wait", key), 1, "not run again");
    assert.equal((await execution(task.payload.execution_id))._etag, done._etag, "record untouched");
    await until("queue empty", async () => ((await queued(queues.tasks)) === 0 ? true : undefined));
    await worker.stop();
  });

  test("fan-out / fan-in with a condition, end to end through the queue", async () => {
    const { queues, start } = await scenario();
    const worker = start();
    const key = uniqueName("fan");
    const content = [
      contentItem(`${key}-doc`, { kind: "doc", title: "A" }),
      contentItem(`${key}-img`, { kind: "img", title: "B" }),
    ];
    const task = taskMessage(key, { pipelineId: "pipe-fan", vaultId: "vault-save", content });
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    const doc = await executionIn(task.payload.execution_id, ["completed", "failed"]);
    assert.equal(doc.status, "completed", doc.error);
    assert.equal(doc.number_of_items, 2, "the join merged the branches' copies");
    const byKind = Object.fromEntries(doc.content.map((c: { data: { kind: string } }) => [c.data.kind, c.data]));
    assert.deepEqual(byKind.doc, { kind: "doc", title: "A", title_a: "A", title_b: "A" });
    assert.deepEqual(byKind.img, { kind: "img", title: "B", title_b: "B" }, "the condition kept tag_docs off images");
    assert.equal(doc.executor_outputs.tag_docs.items_skipped, 1);
    assert.deepEqual(Object.keys(doc.executor_outputs).sort(), ["join", "start", "tag_all", "tag_docs"]);
    await worker.stop();
  });

  test("claim-check message: the payload is read from its blob, and the blob deleted when done", async () => {
    const { config, queues, start } = await scenario();
    const worker = start();
    const task = taskMessage(uniqueName("claim"), { pipelineId: "pipe-basic", vaultId: "vault-save" });
    const sender = new TaskSender(config, { queue: queues.tasks });
    const text = JSON.stringify(task);
    const sent = await sender.send({ message: task, text, bytes: text.length, claimCheck: true });
    assert.ok(sent.claimCheck);
    const blob = BlobServiceClient.fromConnectionString(emu.blobConnectionString)
      .getContainerClient(sent.claimCheck.container).getBlobClient(sent.claimCheck.blob);
    assert.ok(await blob.exists(timeout()));
    const doc = await executionIn(task.payload.execution_id, ["completed", "failed"]);
    assert.equal(doc.status, "completed", doc.error);
    assert.deepEqual(doc.content[0].data, { title: "T" });
    await until("blob deleted", async () => ((await blob.exists(timeout())) ? undefined : true));
    await worker.stop();
  });

  test("a claim-check pointer that climbs out of its container is poisoned; the other container's blob survives", async () => {
    const { config, queues, start } = await scenario();
    const other = BlobServiceClient.fromConnectionString(emu.blobConnectionString).getContainerClient(
      uniqueName("other"),
    );
    await other.create(timeout());
    const task = taskMessage(uniqueName("climb"), { pipelineId: "pipe-basic", vaultId: "vault-ids" });
    await other.getBlockBlobClient("x").upload(JSON.stringify(task), JSON.stringify(task).length, timeout());
    // The execution is completed: a pointer that was followed would have its blob deleted without being read.
    await db.container(base.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.create({
      id: task.payload.execution_id,
      status: "completed",
      task_id: task.payload.task_id,
    }, timeout());
    const pointer = {
      task_type: "content_processing",
      claim_check: {
        container: config.CLAIM_CHECK_CONTAINER_NAME,
        blob: `../${other.containerName}/x`,
        task_id: task.payload.task_id,
        execution_id: task.payload.execution_id,
      },
    };
    await queues.tasks.sendMessage(JSON.stringify(pointer), timeout());
    const worker = start();
    const records = await until(
      "poisoned",
      async () => ((await poisonRecords(queues.poison)).length ? poisonRecords(queues.poison) : undefined),
    );
    assert.match(
      records[0].reason,
      /^invalid claim-check message: claim-check blob name "\.\.\/other-[^"]+\/x" is not tasks\/<task_id>\.json/,
    );
    assert.ok(await other.getBlobClient("x").exists(timeout()), "the other container's blob is still there");
    await worker.stop();
  });

  test("task timeout: the run is cancelled and recorded as 'timed out after N s'", async () => {
    const { queues, start } = await scenario({ TASK_TIMEOUT_SECONDS: "1", MAX_TASK_RETRIES: "1" });
    const worker = start();
    const task = taskMessage(uniqueName("slow"), { pipelineId: "pipe-endless", vaultId: "vault-ids" });
    await pendingRecord(task);
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    const doc = await executionIn(task.payload.execution_id, ["failed", "completed"]);
    assert.equal(doc.status, "failed");
    assert.match(doc.error, /timed out after 1 s/);
    const records = await until(
      "poisoned",
      async () => ((await poisonRecords(queues.poison)).length ? poisonRecords(queues.poison) : undefined),
    );
    assert.match(records[0].reason, /failed 1 time\(s\) \(MAX_TASK_RETRIES=1\): timed out after 1 s/);
    await worker.stop();
  });
});

// The processing worker against real Azurite + the Cosmos emulator.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { QueueClient } from "@azure/storage-queue";
import { CosmosClient, type Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../../scripts/lib/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import { Logger, configureLogging } from "../../src/log/logger.ts";
import { MemoryReporter, type WorkerContext } from "../../src/workers/context.ts";
import { runProcessingWorker } from "../../src/workers/processing.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";

configureLogging({ level: "error" });

async function until<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const v = await fn();
    if (v !== undefined) return v;
    await new Promise((r) => setTimeout(r, 200));
  }
  assert.fail(`timed out waiting for: ${what}`);
}

const PIPELINE = `pipeline:
  name: p
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: c}}
    - {id: keep, type: field_selector, settings: {fields: [title]}}
    - {id: done, type: pass_through}
  execution_sequence: [discover, keep, done]
`;
// Fails at run time (not at compile time): the item is not a blob, so the retriever throws for it.
const FAILING = `pipeline:\n  name: bad\n  executors:\n    - {id: f, type: azure_blob_content_retriever, settings: {use_temp_file_for_content: false, continue_on_error: false, fail_pipeline_on_error: true}}\n`;

function task(id: string, pipeline = "pipe-1") {
  return {
    task_type: "content_processing",
    payload: {
      task_id: `task_${id}`,
      pipeline_id: pipeline,
      pipeline_name: "p",
      execution_id: `exec_${id}`,
      vault_id: "vault-1",
      content: [{ id: { canonical_id: `https://a/c/${id}`, unique_id: id }, data: { title: "T", drop: 1 }, summary_data: {}, executor_logs: [] }],
      executed_input_executor: "discover",
      created_at: new Date().toISOString(),
      retry_count: 0,
      max_retries: 3,
    },
  };
}

describe("processing worker", () => {
  let emu: Emulators;
  let db: Database;
  let queue: QueueClient;
  let poison: QueueClient;
  const drain = new AbortController();
  let done: Promise<void>;
  const report = new MemoryReporter();

  before(async () => {
    emu = await startEmulators({ blob: true });
    const { config } = await loadConfig({
      env: { ...emu.env, QUEUE_VISIBILITY_TIMEOUT_SECONDS: "4", MAX_TASK_RETRIES: "2", RETRY_BASE_DELAY_SECONDS: "0", RETRY_MAX_DELAY_SECONDS: "1", QUEUE_POLL_INTERVAL_SECONDS: "1", SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "5" },
      dotenvPath: false,
    });
    const cosmos = new CosmosClient({ endpoint: emu.cosmosEndpoint, key: emu.env.COSMOS_DB_KEY, connectionPolicy: { enableEndpointDiscovery: false } });
    await ensureCosmosContainers(cosmos, config);
    db = cosmos.database("contentflow");
    await db.container("pipelines").items.create({ id: "pipe-1", name: "p", yaml: PIPELINE });
    await db.container("pipelines").items.create({ id: "pipe-bad", name: "bad", yaml: FAILING });
    await db.container("vaults").items.create({ id: "vault-1", pipeline_id: "pipe-1", save_execution_output: true, enabled: true });
    queue = new QueueClient(emu.queueConnectionString, config.STORAGE_WORKER_QUEUE_NAME);
    poison = new QueueClient(emu.queueConnectionString, `${config.STORAGE_WORKER_QUEUE_NAME}-poison`);
    await queue.createIfNotExists();
    const ctx: WorkerContext = { config, logger: new Logger(), role: "processing", index: 0, workerId: "test-worker", drain: drain.signal, report };
    done = runProcessingWorker(ctx);
  });

  after(async () => {
    drain.abort();
    await done;
    await emu.stop();
  });

  const execution = (id: string) => db.container("vault_executions").item(id, id).read().then((r) => r.resource);
  const poisoned = async () => (await poison.peekMessages({ numberOfMessages: 32 })).peekedMessageItems.map((m) => JSON.parse(m.messageText));

  test("happy path: pipeline runs without the input executor, execution completed with output, message deleted", async () => {
    await queue.sendMessage(JSON.stringify(task("ok1")));
    const doc = await until("completed", async () => {
      const d = await execution("exec_ok1");
      return d?.status === "completed" ? d : undefined;
    });
    assert.equal(doc.processing_worker_id, "test-worker");
    assert.equal(doc.number_of_items, 1);
    assert.deepEqual(doc.content[0].data, { title: "T" }, "full output saved (vault.save_execution_output)");
    assert.deepEqual(Object.keys(doc.executor_outputs), ["keep", "done"]);
    assert.ok(doc.started_at && doc.completed_at);
    assert.equal((await queue.getProperties()).approximateMessagesCount, 0);
  });

  test("base64-encoded messages are accepted", async () => {
    await queue.sendMessage(Buffer.from(JSON.stringify(task("b64"))).toString("base64"));
    await until("completed", async () => ((await execution("exec_b64"))?.status === "completed" ? true : undefined));
  });

  test("bad messages go straight to poison with a clear reason", async () => {
    const bad = ["not json at all {", "bm90IGpzb24=", JSON.stringify({ task_type: "other", payload: {} }), JSON.stringify({ task_type: "content_processing", payload: { task_id: "t" } }), JSON.stringify({ ...task("wt"), payload: { ...task("wt").payload, content: "nope" } })];
    for (const b of bad) await queue.sendMessage(b);
    const records = await until("5 poisoned", async () => {
      const p = await poisoned();
      return p.length >= 5 ? p : undefined;
    });
    const reasons = records.map((r) => r.reason).join("\n");
    assert.match(reasons, /neither JSON nor base64|not valid JSON/);
    assert.match(reasons, /base64 but does not decode to JSON/);
    assert.match(reasons, /unknown task_type "other"/);
    assert.match(reasons, /payload\.(pipeline_id|execution_id|content)/);
    for (const r of records) {
      assert.equal(r.worker_id, "test-worker");
      assert.equal(r.dequeue_count, 1, "never retried");
    }
  });

  test("unknown pipeline: execution failed, message poisoned", async () => {
    await queue.sendMessage(JSON.stringify(task("nop", "no-such-pipeline")));
    const doc = await until("failed", async () => {
      const d = await execution("exec_nop");
      return d?.status === "failed" ? d : undefined;
    });
    assert.match(doc.error, /pipeline no-such-pipeline not found/);
  });

  test("a failing pipeline is retried, then poisoned after MAX_TASK_RETRIES deliveries", async () => {
    const t = task("retry", "pipe-bad");
    t.payload.executed_input_executor = null as never;
    await queue.sendMessage(JSON.stringify(t));
    const doc = await until("failed", async () => {
      const d = await execution("exec_retry");
      return d?.status === "failed" ? d : undefined;
    }, 40_000);
    assert.match(doc.error, /unsupported source type/);
    const record = (await poisoned()).find((r) => String(r.message).includes("exec_retry"));
    assert.ok(record, "in poison queue");
    assert.equal(record.dequeue_count, 2);
    assert.ok(report.counters.tasks_retried_total >= 1);
  });

  test("a redelivered task whose execution is completed is acknowledged without re-running", async () => {
    const before = report.counters.tasks_processed_total ?? 0;
    await queue.sendMessage(JSON.stringify(task("ok1")));
    await until("skipped", async () => ((report.counters.tasks_skipped_duplicate_total ?? 0) >= 1 ? true : undefined));
    assert.equal(report.counters.tasks_processed_total, before);
  });
});

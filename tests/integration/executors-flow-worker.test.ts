// Nested pipelines through the processing worker on Azurite and the Cosmos emulator: the pipeline document read from
// Cosmos holds a main pipeline and a sub-pipeline; the task runs for_each_content, subpipeline and the document-set
// executors, and the execution record carries their output.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import {
  contentItem,
  queueClients,
  readDoc,
  type RunningWorker,
  startWorker,
  taskMessage,
  testConfig,
  testDatabase,
  testRegistry,
  timeout,
  uniqueName,
  until,
} from "../helpers/processing-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

const YAML = `pipeline:
  name: quarterly
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: c}}
    - {id: init, type: document_set_initializer, settings: {set_id: fy24, set_name: FY2024, ordering_strategy: filename_numeric}}
    - id: each
      type: for_each_content
      settings:
        steps:
          - {id: enrich, type: subpipeline, settings: {pipeline: enrich}}
    - {id: collect, type: document_set_collector, settings: {fields_to_collect: [revenue]}}
    - id: totals
      type: cross_document_field_aggregator
      settings:
        aggregations: [{field_path: data.revenue, operations: [sum, delta, trend]}]
  execution_sequence: [discover, init, each, collect, totals]
pipelines:
  - name: enrich
    executors:
      - {id: copy, type: field_mapper, settings: {mappings: {amount: revenue}}}
`;

describe("nested pipelines in the processing worker", () => {
  let emu: Emulators;
  let db: Database;
  let config: Config;
  let worker: RunningWorker | undefined;

  before(async () => {
    emu = await startEmulators();
    config = await testConfig(emu);
    db = await testDatabase(emu, config);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.create(
      { id: "pipe-sets", name: "pipe-sets", yaml: YAML },
      timeout(),
    );
    await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.create({
      id: "vault-sets",
      pipeline_id: "pipe-sets",
      save_execution_output: true,
      enabled: true,
    }, timeout());
  });

  after(async () => {
    await worker?.stop();
    await emu?.stop();
  });

  test("a task through for_each_content → subpipeline → collector → aggregator", async () => {
    const queues = queueClients(emu, config);
    await queues.tasks.createIfNotExists(timeout());
    worker = startWorker(config, uniqueName("worker"), testRegistry());
    const key = uniqueName("sets");
    const content = [
      contentItem("Q2.pdf", { amount: 12 }),
      contentItem("Q10.pdf", { amount: 30 }),
      contentItem("Q1.pdf", { amount: 10 }),
    ];
    const task = taskMessage(key, { pipelineId: "pipe-sets", vaultId: "vault-sets", content });
    await queues.tasks.sendMessage(JSON.stringify(task), timeout());
    const record = await until("execution finished", async () => {
      const doc = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, task.payload.execution_id);
      return doc && ["completed", "failed"].includes(doc.status) ? doc : undefined;
    }, 60_000);
    assert.equal(record.status, "completed", record.error);
    assert.deepEqual(Object.keys(record.executor_outputs), ["init", "each", "collect", "totals"]);
    assert.equal(record.content.length, 1);
    const [set] = record.content;
    assert.equal(set.id.canonical_id, "document_set://fy24");
    assert.deepEqual(
      set.data.document_set.documents.map((d: { role: string; data: unknown }) => [d.role, d.data]),
      [["Q1", { revenue: 10 }], ["Q2", { revenue: 12 }], ["Q10", { revenue: 30 }]],
    );
    const revenue = set.data.field_aggregations.aggregations.revenue;
    assert.equal(revenue.sum, 52);
    assert.deepEqual(revenue.delta.map((d: { delta: number }) => d.delta), [2, 18]);
    assert.equal(revenue.trend.direction, "increasing");
  });
});

// Compatibility fixtures: the documents exactly as the ContentFlow API and the Python worker write them (pipelines and
// vaults from the API, a pending execution record and its plain-JSON queue message from the Python source worker,
// a Python checkpoint and lock), fed to our workers; and everything we write checked against valibot mirrors of the
// API's pydantic models (tests/helpers/contentflow-api-models.ts) — what the API would fail to list, the UI could
// not show.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import {
  PipelineModel,
  VaultCrawlCheckpointModel,
  VaultExecutionModel,
  VaultModel,
} from "../helpers/contentflow-api-models.ts";
import { pythonLockDoc, pythonNow, pythonSaveCheckpoint } from "../helpers/python-worker.ts";
import {
  queueClients,
  readDoc,
  startWorker,
  testConfig,
  testDatabase,
  uniqueName,
  until,
  withTimeout,
} from "../helpers/processing-kit.ts";
import { blobService, testContext, uploadBlobs } from "../helpers/source-kit.ts";
import { runSourceOnce } from "../../src/workers/source/index.ts";

let emu: Emulators;
before(async () => {
  emu = await startEmulators();
});
after(async () => await emu?.stop());

const T = 30_000;

/** PipelineService.create_pipeline: id = f"{name}_{uuid4().hex[:8]}" lowercased, the UI's YAML, nodes and edges. */
function apiPipeline(name: string, yaml: string) {
  const now = new Date().toISOString().replace("Z", "+00:00");
  return {
    id: `${name.replace(/ /g, "_").toLowerCase()}_${crypto.randomUUID().slice(0, 8)}`,
    name,
    description: "",
    yaml,
    nodes: [{ id: "blob-discovery-1", type: "executor", position: { x: 250, y: 50 }, data: { label: "Discovery" } }],
    edges: [{ id: "blob-discovery-1-pt-1", source: "blob-discovery-1", target: "pt-1" }],
    created_by: "",
    tags: [],
    version: "1.0",
    enabled: true,
    retry_delay: 5,
    timeout: 600,
    retries: 3,
    created_at: now,
    updated_at: now,
  };
}

/** VaultService.create_vault (models/_vault.py Vault). */
function apiVault(pipeline: { id: string; name: string }, saveOutput: boolean) {
  const now = new Date().toISOString().replace("Z", "+00:00");
  return {
    id: crypto.randomUUID(),
    name: uniqueName("Invoices"),
    description: "",
    pipeline_id: pipeline.id,
    pipeline_name: pipeline.name,
    tags: [],
    save_execution_output: saveOutput,
    created_by: null,
    enabled: true,
    created_at: now,
    updated_at: now,
  };
}

function uiYaml(container: string): string {
  return `pipeline:
  name: "Invoice Processing"
  description: "Made in the web UI"
  executors:
    - id: blob-discovery-1
      name: "Azure Blob Input Discovery"
      type: azure_blob_input_discovery
      position: { x: 250, y: 50 }
      settings:
        blob_storage_account: devstoreaccount1
        blob_container_name: "${container}"
        file_extensions: ".pdf"
    - id: pt-1
      name: "Pass Through"
      type: pass_through
      position: { x: 250, y: 200 }
      settings:
        condition: "id.filename ends_with '.pdf' or id.filename ends_with '.PDF'"
  edges:
    - from: blob-discovery-1
      to: pt-1
      type: sequential
`;
}

/** A Content as the Python source worker dumps it (naive executor-log times, +00:00 metadata times). */
function pythonContent(name: string) {
  return {
    id: {
      canonical_id: `https://devstoreaccount1.blob.core.windows.net/docs/${name}`,
      unique_id: "3f2a9c0e1d4b5a6978877665544332211aabbccd",
      source_name: "devstoreaccount1",
      source_type: "azure_blob",
      container: "docs",
      path: name,
      filename: name,
      metadata: { size: 52311, last_modified: "2025-01-02T03:04:05+00:00", content_type: "application/pdf" },
    },
    summary_data: {},
    data: {},
    executor_logs: [{
      executor_id: "blob-discovery-1",
      start_time: "2025-01-02T03:10:00.123456",
      end_time: "2025-01-02T03:10:00.123456",
      status: "completed",
      details: { blob_discovered: name, container: "docs" },
      errors: [],
    }],
  };
}

describe("documents as the ContentFlow API and the Python worker write them", () => {
  let config: Config;
  let db: Database;
  before(async () => {
    config = await testConfig(emu, { COSMOS_DB_NAME: uniqueName("pydocs") });
    db = await withTimeout(testDatabase(emu, config), T, "database");
  });

  test("the API's pipeline and vault documents parse with the API models (fixture sanity)", () => {
    const pipeline = apiPipeline("Invoice Processing", uiYaml("docs"));
    v.parse(PipelineModel, pipeline);
    v.parse(VaultModel, apiVault(pipeline, false));
  });

  test("a task the Python source worker queued (plain JSON, its pending record) is processed; our record parses as the API's VaultExecution", async () => {
    const pipeline = apiPipeline("Invoice Processing", uiYaml("docs"));
    const vault = apiVault(pipeline, true);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.create(pipeline);
    await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.create(vault);
    const content = [pythonContent("inv-001.pdf"), pythonContent("inv-002.pdf")];
    const executionId = "exec_7e6d5c4b3a21";
    const taskId = "task_9f1c2b3a4d5e";
    const created = pythonNow();
    // source_worker.py _create_processing_task: the record first, then the message.
    const pythonRecord = {
      id: executionId,
      pipeline_id: pipeline.id,
      pipeline_name: pipeline.name,
      vault_id: vault.id,
      status: "pending",
      status_message: `Task queued for processing with input content of size ${content.length}`,
      task_id: taskId,
      source_worker_id: "InputSourceWorker-0",
      content,
      number_of_items: content.length,
      created_at: created,
      created_by: "InputSourceWorker-0",
      updated_at: created,
      started_at: null,
      completed_at: null,
      error: null,
      executor_outputs: {},
      events: [],
    };
    v.parse(VaultExecutionModel, pythonRecord);
    await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.create(pythonRecord);
    // models.py TaskMessage(...).model_dump_json(): plain JSON text, no base64.
    const message = JSON.stringify({
      task_type: "content_processing",
      payload: {
        task_id: taskId,
        task_type: "content_processing",
        priority: "normal",
        pipeline_id: pipeline.id,
        pipeline_name: pipeline.name,
        execution_id: executionId,
        vault_id: vault.id,
        content,
        executed_input_executor: "blob-discovery-1",
        created_at: created,
        retry_count: 0,
        max_retries: 3,
      },
    });
    const { tasks } = queueClients(emu, config);
    await tasks.createIfNotExists();
    await tasks.sendMessage(message);

    const worker = startWorker(config, "cfw-processing-1");
    try {
      const record = await until("execution completed", async () => {
        const doc = await readDoc(db, config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS, executionId);
        return doc?.status === "completed" || doc?.status === "failed" ? doc : undefined;
      }, 60_000);
      assert.equal(record.status, "completed", record.error);
      const parsed = v.parse(VaultExecutionModel, record);
      assert.equal(parsed.processing_worker_id, "cfw-processing-1");
      assert.equal(parsed.source_worker_id, "InputSourceWorker-0", "the Python source worker's fields are kept");
      assert.ok(parsed.started_at && parsed.completed_at);
      assert.ok(Array.isArray(parsed.content), "content is a list (the Python worker wrote a dict for one item)");
      assert.equal(parsed.number_of_items, 2);
      const ids = parsed.content!.map((c) => (c.id as { canonical_id: string }).canonical_id);
      assert.deepEqual(ids, content.map((c) => c.id.canonical_id));
    } finally {
      await worker.stop();
    }
  });

  test("the source worker on API documents beside a Python checkpoint and an expired Python lock: what it writes parses as the API models", async () => {
    const container = uniqueName("docs");
    await blobService(emu).getContainerClient(container).createIfNotExists();
    const pipeline = apiPipeline("Invoice Processing", uiYaml(container));
    const vault = apiVault(pipeline, false);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.create(pipeline);
    await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.create(vault);
    const locks = db.container(config.COSMOS_DB_CONTAINER_LOCKS);
    await locks.items.create(
      pythonLockDoc(pipeline.id, vault.id, "InputSourceWorker-1", new Date(Date.now() - 600_000), 300),
    );
    const checkpoints = db.container(config.COSMOS_DB_CONTAINER_CRAWL_CHECKPOINTS);
    await pythonSaveCheckpoint(
      checkpoints,
      pipeline.id,
      vault.id,
      "blob-discovery-1",
      new Date(Date.now() - 3_600_000),
    );
    await uploadBlobs(emu, container, [{ name: "a.pdf" }, { name: "b.pdf" }, { name: "notes.txt" }]);

    // A second vault whose pipeline names an executor this build lacks: its failure record must parse too.
    const broken = apiPipeline(
      "Broken",
      "pipeline:\n  name: Broken\n  executors:\n    - {id: x, type: web_scraper, settings: {start_urls: 'https://example.com'}}\n",
    );
    const brokenVault = apiVault(broken, false);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.create(broken);
    await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.create(brokenVault);

    const { ctx } = testContext(config, "cfw-source-1");
    const summary = await withTimeout(runSourceOnce(ctx, { vaultId: vault.id }), 60_000, "source once");
    assert.deepEqual(summary.errors, []);
    assert.equal(summary.items_discovered, 2);
    const failed = await withTimeout(runSourceOnce(ctx, { vaultId: brokenVault.id }), 60_000, "source once");
    assert.equal(failed.errors.length, 1);

    // The API's queries: SELECT * FROM c WHERE c.vault_id = @vault_id (executions and checkpoints).
    for (const v_ of [vault, brokenVault]) {
      const { resources } = await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query({
        query: "SELECT * FROM c WHERE c.vault_id = @vault_id",
        parameters: [{ name: "@vault_id", value: v_.id }],
      }).fetchAll();
      assert.ok(resources.length >= 1, `records of ${v_.name}`);
      for (const r of resources) {
        const parsed = v.safeParse(VaultExecutionModel, r);
        assert.ok(
          parsed.success,
          `${r.id}: ${JSON.stringify(parsed.issues?.map((i) => [i.path?.[0]?.key, i.message]))}`,
        );
      }
    }
    const { resources: cps } = await checkpoints.items.query({
      query: "SELECT * FROM c WHERE c.vault_id = @vault_id",
      parameters: [{ name: "@vault_id", value: vault.id }],
    }).fetchAll();
    assert.equal(cps.length, 2, "the Python checkpoint and ours");
    for (const cp of cps) {
      const parsed = v.safeParse(VaultCrawlCheckpointModel, cp);
      assert.ok(
        parsed.success,
        `${cp.id}: ${JSON.stringify(parsed.issues?.map((i) => [i.path?.[0]?.key, i.message]))}`,
      );
    }
  });
});

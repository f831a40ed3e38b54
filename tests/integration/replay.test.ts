// `pipeline run --execution ID` on the emulators: a failed execution's input is read from its poison record (the
// items with their data) or, without one, from its execution record (identifiers only), and run through the
// pipeline as stored now; the poison record stays on its queue and the execution record is not changed.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import type { Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import type { Config } from "../../src/config/schema.ts";
import { poisonRecord } from "../../src/queue/poison.ts";
import { RedriveAdmin } from "../../src/redrive/admin.ts";
import { replayInput } from "../../src/redrive/replay-input.ts";
import {
  contentItem,
  queueClients,
  taskMessage,
  testConfig,
  testDatabase,
  timeout,
  uniqueName,
} from "../helpers/processing-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

declare const Deno: any;
quietLogs();
const MAIN = resolve(import.meta.dirname ?? ".", "../../src/main.ts");

const PIPELINE = `pipeline:
  name: rename
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: c}}
    - {id: rename, type: field_mapper, settings: {mappings: {title: heading}}}
  execution_sequence: [discover, rename]
`;

describe("pipeline run --execution (replay), on the emulators", () => {
  let emu: Emulators;
  let config: Config;
  let db: Database;
  let env: Record<string, string>;

  before(async () => {
    emu = await startEmulators();
    const queueName = uniqueName("tasks");
    env = { ...emu.env, STORAGE_WORKER_QUEUE_NAME: queueName } as Record<string, string>;
    config = await testConfig(emu, { STORAGE_WORKER_QUEUE_NAME: queueName });
    db = await testDatabase(emu, config);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.create(
      { id: "pipe-rename", name: "pipe-rename", yaml: PIPELINE },
      timeout(),
    );
    await queueClients(emu, config).poison.createIfNotExists(timeout());
  });
  after(async () => {
    await emu?.stop();
  });

  const executions = () => db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);

  async function failedExecution(key: string, poisoned: boolean) {
    const task = taskMessage(key, { pipelineId: "pipe-rename", content: [contentItem(key, { title: `T-${key}` })] });
    const { resource } = await executions().items.create({
      id: task.payload.execution_id,
      pipeline_id: "pipe-rename",
      status: "failed",
      error: "executor 'rename' failed",
      task_id: task.payload.task_id,
      content: task.payload.content.map((i) => i.id),
    }, timeout());
    if (poisoned) {
      const record = poisonRecord({
        text: JSON.stringify(task),
        reason: "executor 'rename' failed",
        dequeueCount: 3,
        workerId: "w1",
        queue: config.STORAGE_WORKER_QUEUE_NAME,
        messageId: `m-${key}`,
        taskId: task.payload.task_id,
        executionId: task.payload.execution_id,
      });
      await queueClients(emu, config).poison.sendMessage(JSON.stringify(record), timeout());
    }
    return { task, etag: resource!._etag };
  }

  function cli(args: string[]) {
    const [command, pre] = typeof Deno !== "undefined"
      ? [Deno.execPath(), ["run", "-A", MAIN]]
      : [process.execPath, [MAIN]];
    const r = spawnSync(command, [...pre, ...args], {
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
      encoding: "utf8",
      timeout: 120_000,
    });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  }

  test("from the poison record: the items with their data; record and queue left as they are", async () => {
    const { task, etag } = await failedExecution(uniqueName("p"), true);
    const admin = new RedriveAdmin(config);
    try {
      const input = await replayInput(admin, task.payload.execution_id);
      assert.equal(input.from, "poison record");
      assert.equal(input.pipelineId, "pipe-rename");
      assert.deepEqual(input.items.map((i) => i.data), task.payload.content.map((i) => i.data));
    } finally {
      await admin.close();
    }
    const r = cli(["pipeline", "run", "--execution", task.payload.execution_id, "--json"]);
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.status, "completed");
    assert.equal(out.items[0].data.heading, task.payload.content[0].data.title);
    assert.match(r.stderr, /from its poison record/);
    // The poison record is still there, visible, and the execution record unchanged.
    const { peekedMessageItems } = await queueClients(emu, config).poison.peekMessages({
      numberOfMessages: 32,
      ...timeout(),
    });
    assert.ok(peekedMessageItems.some((m) => m.messageText.includes(task.payload.execution_id)));
    const { resource } = await executions().item(task.payload.execution_id, task.payload.execution_id).read(timeout());
    assert.equal(resource._etag, etag);
  });

  test("without a poison record: the identifiers the execution record keeps", async () => {
    const { task, etag } = await failedExecution(uniqueName("r"), false);
    const admin = new RedriveAdmin(config);
    try {
      const input = await replayInput(admin, task.payload.execution_id);
      assert.equal(input.from, "execution record");
      assert.deepEqual(input.items.map((i) => i.id), task.payload.content.map((i) => i.id));
      assert.deepEqual(input.items[0].data, {});
      await assert.rejects(replayInput(admin, "exec_nope"), /no execution record and no poison record/);
    } finally {
      await admin.close();
    }
    const { resource } = await executions().item(task.payload.execution_id, task.payload.execution_id).read(timeout());
    assert.equal(resource._etag, etag);
  });
});

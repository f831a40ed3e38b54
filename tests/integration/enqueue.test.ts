// `contentflow-worker enqueue` against Azurite (queue) and the Cosmos emulator.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import process from "node:process";
import * as v from "valibot";
import { QueueClient } from "@azure/storage-queue";
import { BlobServiceClient } from "@azure/storage-blob";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { type CosmosStore, openCosmosStore } from "../../src/store/cosmos.ts";
import { taskQueues } from "../../src/queue/clients.ts";
import { QUEUE_MESSAGE_LIMIT_BYTES, type TaskMessage, TaskMessageSchema } from "../../src/model/task-envelope.ts";
import { decodeMessage } from "../../src/queue/decode.ts";
import { queueTextBytes } from "../../src/queue/sender.ts";
import { ExecutionDocSchema } from "../../src/model/documents.ts";
import { type EnqueueIO, enqueueTask, parseContentItems, runEnqueue } from "../../src/cli/enqueue-command.ts";
import { UsageError } from "../../src/cli/args.ts";
import { parseJsonInput } from "../../src/cli/json-input.ts";

const ROOT = resolve(import.meta.dirname ?? new URL(".", import.meta.url).pathname, "..", "..");
const PIPELINE = {
  id: "pdf_extraction_1a2b3c4d",
  name: "PDF Extraction",
  yaml: "pipeline:\n  name: pdf\n  executors: []\n",
};
const OTHER_PIPELINE = { id: "other_pipeline_99", name: "Other", yaml: "pipeline:\n  name: other\n" };
const VAULT = { id: "vault-0b6f", name: "Invoices", pipeline_id: PIPELINE.id, enabled: true };
const OTHER_VAULT = { id: "vault-other", name: "Other", pipeline_id: OTHER_PIPELINE.id, enabled: true };

let emu: Emulators;
let store: CosmosStore;
const tmp = mkdtempSync(join(tmpdir(), "cfw-enqueue-"));
let queueCounter = 0;

before(async () => {
  emu = await startEmulators();
  const { config } = await loadConfig({ env: { ...emu.env }, dotenvPath: false });
  store = await openCosmosStore(config);
  for (const doc of [PIPELINE, OTHER_PIPELINE]) await store.pipelines.items.upsert(doc);
  for (const doc of [VAULT, OTHER_VAULT]) await store.vaults.items.upsert(doc);
});

after(async () => {
  store?.close();
  await emu?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** A config with its own queue, so tests never see each other's messages. */
async function freshConfig(): Promise<Config> {
  const env = { ...emu.env, STORAGE_WORKER_QUEUE_NAME: `enqueue-test-${process.pid}-${++queueCounter}` };
  return (await loadConfig({ env, dotenvPath: false })).config;
}

interface Captured {
  code: number;
  out: string;
  err: string;
}

async function run(argv: string[], config: Config, stdin = ""): Promise<Captured> {
  let out = "";
  let err = "";
  const io: EnqueueIO = {
    loadConfig: async () => config,
    readStdin: async () => stdin,
    readFile: (p) => readFileSync(p, "utf8"),
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
  };
  const code = await runEnqueue(argv, io);
  return { code, out, err };
}

async function queuedTexts(config: Config): Promise<string[]> {
  const queue = taskQueues(config).tasks;
  if (!(await queue.exists())) return [];
  const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 });
  return receivedMessageItems.map((m) => m.messageText);
}

async function queuedMessages(config: Config): Promise<unknown[]> {
  return (await queuedTexts(config)).map((text) => JSON.parse(text));
}

async function execution(id: string) {
  const { resource } = await store.executions.item(id, id).read();
  return resource;
}

const item = (n: number) => ({
  id: { canonical_id: `https://acct.blob.core.windows.net/docs/file-${n}.pdf`, unique_id: `uid-${n}` },
});

describe("enqueue: queues a valid task and a pending execution record", () => {
  test("--json with one minimal item", async () => {
    const config = await freshConfig();
    const r = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(item(1))], config);
    assert.equal(r.code, 0, r.err);
    const taskId = /task_id: (task_[0-9a-f]{12})/.exec(r.out)?.[1];
    const execId = /execution_id: (exec_[0-9a-f]{12})/.exec(r.out)?.[1];
    assert.ok(taskId && execId, r.out);

    const messages = await queuedMessages(config);
    assert.equal(messages.length, 1);
    const parsed = v.safeParse(TaskMessageSchema, messages[0]);
    assert.ok(parsed.success, JSON.stringify(parsed.issues));
    const raw = messages[0] as { task_type: string; payload: Record<string, unknown> };
    assert.equal(raw.task_type, "content_processing");
    const p = raw.payload;
    assert.equal(p.task_id, taskId);
    assert.equal(p.execution_id, execId);
    assert.equal(p.task_type, "content_processing");
    assert.equal(p.pipeline_id, PIPELINE.id);
    assert.equal(p.pipeline_name, PIPELINE.name);
    assert.equal(p.vault_id, null);
    assert.equal(p.priority, "normal");
    assert.equal(p.executed_input_executor, null);
    assert.equal(p.retry_count, 0);
    assert.equal(p.max_retries, config.MAX_TASK_RETRIES);
    assert.ok(!Number.isNaN(Date.parse(String(p.created_at))));
    assert.deepEqual(p.content, [{ ...item(1), summary_data: {}, data: {}, executor_logs: [] }]);

    const rec = await execution(execId!);
    assert.ok(v.safeParse(ExecutionDocSchema, rec).success);
    assert.equal(rec.status, "pending");
    assert.equal(rec.created_by, "cli");
    assert.equal(rec.task_id, taskId);
    assert.equal(rec.pipeline_id, PIPELINE.id);
    assert.equal(rec.pipeline_name, PIPELINE.name);
    assert.equal(rec.number_of_items, 1);
    assert.equal(rec.status_message, "Task queued for processing with input content of size 1");
    // As the source worker writes it (src/store/execution-records.ts): the items' identifiers, not their data.
    assert.deepEqual(rec.content, (p.content as Array<{ id: unknown }>).map((c) => c.id));
    assert.equal(rec.source_worker_id, "cli");
    assert.equal(rec.claim_check, undefined);
    for (const key of ["started_at", "completed_at", "error"]) assert.equal(rec[key], null, key);
    assert.deepEqual(rec.executor_outputs, {});
    assert.deepEqual(rec.events, []);
  });

  test("--file with a list, --vault, --priority, --skip-executor and --output json", async () => {
    const config = await freshConfig();
    const file = join(tmp, "items.json");
    const full = {
      ...item(2),
      summary_data: { pages: 3 },
      data: { text: "héllo" },
      executor_logs: [{ executor_id: "blob-discovery-1", status: "completed", details: {}, errors: [] }],
      extra_field_kept: true,
    };
    writeFileSync(file, JSON.stringify([full, item(3), item(4)], null, 2));
    const r = await run(
      [
        "--pipeline",
        PIPELINE.id,
        "--vault",
        VAULT.id,
        "--file",
        file,
        "--priority",
        "high",
        "--skip-executor",
        "blob-discovery-1",
        "--output",
        "json",
      ],
      config,
    );
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(r.out);
    assert.equal(summary.items, 3);
    assert.equal(summary.vault_id, VAULT.id);
    assert.equal(summary.queue, config.STORAGE_WORKER_QUEUE_NAME);
    assert.equal(summary.dry_run, false);
    assert.equal(summary.message, undefined, "the message itself is only printed for dry runs");
    assert.equal(summary.tasks.length, 1);
    assert.equal(summary.tasks[0].task_id, summary.task_id);
    assert.equal(summary.tasks[0].execution_id, summary.execution_id);
    assert.equal(summary.tasks[0].items, 3);
    assert.equal(summary.tasks[0].message, undefined);
    assert.equal(summary.tasks[0].claim_check, undefined);
    const [msg] = (await queuedMessages(config)) as Array<{ payload: Record<string, any> }>;
    assert.equal(msg.payload.task_id, summary.task_id);
    assert.equal(msg.payload.priority, "high");
    assert.equal(msg.payload.vault_id, VAULT.id);
    assert.equal(msg.payload.executed_input_executor, "blob-discovery-1");
    assert.equal(msg.payload.content.length, 3);
    assert.deepEqual(msg.payload.content[0].data, { text: "héllo" });
    assert.equal(msg.payload.content[0].extra_field_kept, true, "unknown Content fields are passed through");
    const rec = await execution(summary.execution_id);
    assert.equal(rec.vault_id, VAULT.id);
    assert.equal(rec.number_of_items, 3);
  });

  test("--stdin, and --vault alone takes the vault's pipeline", async () => {
    const config = await freshConfig();
    const r = await run(["--vault", VAULT.id, "--stdin"], config, JSON.stringify([item(5)]));
    assert.equal(r.code, 0, r.err);
    const [msg] = (await queuedMessages(config)) as Array<{ payload: Record<string, any> }>;
    assert.equal(msg.payload.pipeline_id, PIPELINE.id);
    assert.equal(msg.payload.vault_id, VAULT.id);
  });

  test("--dry-run prints the message and writes nothing", async () => {
    const config = await freshConfig();
    const r = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(item(6)), "--dry-run"], config);
    assert.equal(r.code, 0, r.err);
    const message = JSON.parse(r.out);
    assert.ok(v.safeParse(TaskMessageSchema, message).success);
    assert.match(r.err, /dry run: .*nothing written or sent/);
    assert.deepEqual(await queuedMessages(config), []);
    assert.equal(await execution(message.payload.execution_id), undefined);
  });
});

describe("enqueue: errors", () => {
  test("missing pipeline or vault, or a vault of another pipeline: exit 1, one line, nothing queued", async () => {
    const config = await freshConfig();
    const cases: Array<[string[], RegExp]> = [
      [["--pipeline", "nope"], /pipeline 'nope' not found in container 'pipelines' of database 'contentflow'/],
      [["--vault", "no-vault"], /vault 'no-vault' not found/],
      [
        ["--pipeline", PIPELINE.id, "--vault", OTHER_VAULT.id],
        /vault 'vault-other' belongs to pipeline 'other_pipeline_99', not 'pdf_extraction_1a2b3c4d'/,
      ],
    ];
    for (const [args, expected] of cases) {
      const r = await run([...args, "--json", JSON.stringify(item(7))], config);
      assert.equal(r.code, 1, args.join(" "));
      assert.match(r.err, expected);
      assert.equal(r.err.trim().split("\n").length, 1);
    }
    assert.deepEqual(await queuedMessages(config), []);
  });

  test("invalid JSON: usage error with line and column", async () => {
    const config = await freshConfig();
    await assert.rejects(
      run(["--pipeline", PIPELINE.id, "--json", '{"id": {"canonical_id": "x",}}'], config),
      (err: Error) => {
        assert.ok(err instanceof UsageError);
        assert.match(err.message, /^--json: invalid JSON at line 1, column 29: trailing comma before '}'/);
        return true;
      },
    );
    const file = join(tmp, "bad.json");
    writeFileSync(file, '[\n  {"id": {"canonical_id": "a", "unique_id": "b"}}\n  {"id": {}}\n]\n');
    await assert.rejects(
      run(["--pipeline", PIPELINE.id, "--file", file], config),
      /--file .*bad\.json: invalid JSON at line 3, column 3: expected ',' or ']'/,
    );
    await assert.rejects(run(["--pipeline", PIPELINE.id, "--stdin"], config, "  "), /--stdin: empty input/);
    const positions: Array<[string, string]> = [
      ["{'id': 1}", "line 1, column 2: expected a property name in double quotes"],
      ['{"a": "unterminated', "line 1, column 20: unterminated string"],
      ['{"a": 1} extra', "line 1, column 10: unexpected text after the JSON value"],
      ["[1, 2,]", "line 1, column 7: trailing comma before ']'"],
      ['{"a": tru}', 'line 1, column 10: unexpected "}"'],
      ['{"a": 01}', "line 1, column 8: expected ',' or '}'"],
      ['{"a": "tab\there"}', "line 1, column 11: control character in string"],
    ];
    for (const [text, where] of positions) {
      assert.throws(
        () => parseJsonInput(text, "--json"),
        (err: Error) => err.message.startsWith(`--json: invalid JSON at ${where}`),
        text,
      );
    }
    assert.deepEqual(parseJsonInput('\ufeff{"a": [1, -2.5e3, true, null, "\\u00e9"]}', "x"), {
      a: [1, -2500, true, null, "é"],
    });
    await assert.rejects(
      run(["--pipeline", PIPELINE.id, "--file", join(tmp, "missing.json")], config),
      /cannot read --file .*ENOENT/,
    );
  });

  test("invalid items: every problem with its path", async () => {
    const config = await freshConfig();
    const bad = [item(1), { id: { canonical_id: "x" } }, { id: { canonical_id: "", unique_id: "u" }, data: "text" }];
    await assert.rejects(run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(bad)], config), (err: Error) => {
      assert.ok(err instanceof UsageError);
      assert.match(err.message, /\[1\]\.id\.unique_id: /);
      assert.match(err.message, /\[2\]\.id\.canonical_id: id\.canonical_id must not be empty/);
      assert.match(err.message, /\[2\]\.data: /);
      assert.doesNotMatch(err.message, /\[0\]/);
      return true;
    });
    await assert.rejects(run(["--pipeline", PIPELINE.id, "--json", "[]"], config), /empty list/);
    await assert.rejects(run(["--pipeline", PIPELINE.id, "--json", '"text"'], config), /must be a content item/);
    assert.deepEqual(await queuedMessages(config), []);
  });

  test("option errors are usage errors", async () => {
    const config = await freshConfig();
    const json = JSON.stringify(item(1));
    const cases: Array<[string[], RegExp]> = [
      [["--json", json], /--pipeline is required/],
      [["--pipeline", PIPELINE.id], /give the content items with --file PATH, --json TEXT or --stdin/],
      [["--pipeline", PIPELINE.id, "--json", json, "--stdin"], /use only one of --file, --json and --stdin/],
      [
        ["--pipeline", PIPELINE.id, "--json", json, "--priority", "urgent"],
        /--priority must be one of low, normal, high, critical/,
      ],
      [["--pipeline", PIPELINE.id, "--json", json, "--output", "yaml"], /--output must be text or json/],
      [["--pipeline", PIPELINE.id, "--json", json, "--bogus"], /unknown option --bogus/],
    ];
    for (const [args, expected] of cases) {
      await assert.rejects(run(args, config), (err: Error) => err instanceof UsageError && expected.test(err.message));
    }
  });

  test("when the queue cannot be reached the execution record is marked failed", async () => {
    const config = await freshConfig();
    const deadQueue = new QueueClient(`http://127.0.0.1:9/devstoreaccount1/dead`, undefined, {
      retryOptions: { maxTries: 1 },
    });
    let executionId = "";
    await assert.rejects(
      enqueueTask(config, { pipelineId: PIPELINE.id, items: [item(9) as any], priority: "normal", dryRun: false }, {
        store,
        queue: deadQueue,
      }),
      (err: Error) => {
        const m = /cannot send the task to queue 'dead': .*\(execution (exec_[0-9a-f]{12}) marked failed\)/.exec(
          err.message,
        );
        assert.ok(m, err.message);
        executionId = m[1];
        return true;
      },
    );
    const { resource: record } = await store.executions.item(executionId, executionId).read();
    assert.equal(record?.status, "failed");
    assert.equal(record?.created_by, "cli");
    assert.match(record?.error, /failed to send the task to queue 'dead'/);
    assert.ok(record?.completed_at);
  });

  test("a task whose message cannot be sent stops a split: earlier tasks are named, the rest never written", async () => {
    const config = await freshConfig();
    const real = taskQueues(config).tasks;
    await real.createIfNotExists();
    let sends = 0;
    // Sends the first message, then fails as an unreachable queue would.
    const flaky = {
      name: real.name,
      sendMessage: (text: string) => {
        if (++sends === 1) return real.sendMessage(text);
        return Promise.reject(Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:9"), { code: "ECONNREFUSED" }));
      },
      createIfNotExists: () => real.createIfNotExists(),
    } as unknown as QueueClient;
    // Validated as the command line does (defaults filled in), so the split is the one `enqueue` would make.
    const items = parseContentItems(
      Array.from({ length: 150 }, (_, i) => ({ ...item(i), data: { text: "y".repeat(1000) } })),
    );
    let message = "";
    await assert.rejects(
      enqueueTask(config, { pipelineId: PIPELINE.id, items, priority: "normal", dryRun: false }, {
        store,
        queue: flaky,
      }),
      (err: Error) => {
        message = err.message;
        return true;
      },
    );
    assert.match(
      message,
      /^cannot send the task to queue '[^']+': connect ECONNREFUSED .*\(execution exec_[0-9a-f]{12} marked failed\); 1 of 3 tasks were queued before it: (task_[0-9a-f]{12}) \((exec_[0-9a-f]{12}), \d+ item\(s\)\); the other 2 were not sent$/,
    );
    const [sentTask, sentExec] = /queued before it: (task_\w+) \((exec_\w+)/.exec(message)!.slice(1);
    const failedExec = /\(execution (exec_\w+) marked failed\)/.exec(message)![1];
    const [queued] = (await queuedMessages(config)) as TaskMessage[];
    assert.equal(queued.payload.task_id, sentTask);
    assert.equal((await execution(sentExec)).status, "pending");
    const failed = await execution(failedExec);
    assert.equal(failed.status, "failed");
    assert.match(failed.error, /failed to send the task to queue '[^']+': connect ECONNREFUSED/);
    // The tasks of one enqueue share created_at: only the sent and the failed task have a record.
    const { resources } = await store.executions.items
      .query({
        query: "SELECT VALUE c.id FROM c WHERE c.created_at = @at",
        parameters: [{ name: "@at", value: queued.payload.created_at ?? null }],
      })
      .fetchAll();
    assert.deepEqual(resources.sort(), [sentExec, failedExec].sort(), "the third task's record was never written");
  });
});

describe("enqueue: payloads over the 64 KiB queue limit are split or claim-checked, never refused", () => {
  test("a batch over the limit is split into several tasks, each with its own record; every item arrives in order", async () => {
    const config = await freshConfig();
    const items = Array.from({ length: 80 }, (_, i) => ({ ...item(i), data: { text: "x".repeat(1000) } }));
    const whole = queueTextBytes(JSON.stringify(items));
    assert.ok(whole > QUEUE_MESSAGE_LIMIT_BYTES, "the test batch must be over the limit");

    const dry = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(items), "--dry-run"], config);
    assert.equal(dry.code, 0, dry.err);
    const dryMessages = JSON.parse(dry.out) as TaskMessage[];
    assert.ok(Array.isArray(dryMessages) && dryMessages.length === 2, dry.out.slice(0, 200));
    assert.match(
      dry.err,
      /^dry run: 80 item\(s\) \(\d+ bytes as one message\) are valid; over the 65536-byte queue limit, they would be split into 2 task messages \(\d+ \+ \d+ items\); nothing written or sent\n$/,
    );
    assert.deepEqual(await queuedMessages(config), []);

    const r = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(items)], config);
    assert.equal(r.code, 0, r.err);
    assert.match(
      r.out,
      /^queued 80 item\(s\) for pipeline pdf_extraction_1a2b3c4d \(PDF Extraction\) on queue \S+\nthe items are \d+ bytes as one message, over the 65536-byte queue limit: split into 2 task messages, each with its own execution record\ntask 1 of 2: \d+ item\(s\), \d+ bytes\ntask_id: task_[0-9a-f]{12}\nexecution_id: exec_[0-9a-f]{12}\ntask 2 of 2: \d+ item\(s\), \d+ bytes\ntask_id: task_[0-9a-f]{12}\nexecution_id: exec_[0-9a-f]{12}\n$/,
    );
    const printedTasks = [...r.out.matchAll(/task_id: (task_\w+)\nexecution_id: (exec_\w+)/g)].map((m) => [m[1], m[2]]);

    const texts = await queuedTexts(config);
    assert.equal(texts.length, 2);
    const messages: TaskMessage[] = [];
    for (const text of texts) {
      assert.ok(queueTextBytes(text) <= QUEUE_MESSAGE_LIMIT_BYTES, `a message of ${queueTextBytes(text)} bytes`);
      const decoded = decodeMessage(text);
      assert.equal(decoded.kind, "task");
      messages.push((decoded as { message: TaskMessage }).message);
    }
    // Queue order is not guaranteed: put them back in the printed order, then check every item arrived whole.
    messages.sort((a, b) =>
      printedTasks.findIndex(([t]) => t === a.payload.task_id) -
      printedTasks.findIndex(([t]) => t === b.payload.task_id)
    );
    assert.deepEqual(messages.map((m) => [m.payload.task_id, m.payload.execution_id]), printedTasks);
    assert.deepEqual(
      messages.flatMap((m) => m.payload.content),
      items.map((i) => ({ ...i, summary_data: {}, executor_logs: [] })),
    );
    for (const m of messages) {
      assert.equal(m.payload.pipeline_id, PIPELINE.id);
      const rec = await execution(m.payload.execution_id);
      assert.equal(rec.status, "pending");
      assert.equal(rec.created_by, "cli");
      assert.equal(rec.task_id, m.payload.task_id);
      assert.equal(rec.number_of_items, m.payload.content.length);
      assert.deepEqual(rec.content, m.payload.content.map((c) => c.id));
    }
  });

  test("an item too large for one message on its own is stored as a claim-check blob; the task decodes whole", async () => {
    const config = await freshConfig();
    const big = { ...item(90), data: { text: "z".repeat(100_000), note: "a < b & c > d" } };
    const r = await run(["--pipeline", PIPELINE.id, "--vault", VAULT.id, "--json", JSON.stringify(big)], config);
    assert.equal(r.code, 0, r.err);
    const blobName =
      /stored as claim-check blob contentflow-claim-checks\/(tasks\/task_[0-9a-f]{12}\.json); the queue message points to it\n/
        .exec(r.out)?.[1];
    assert.ok(blobName, r.out);
    assert.match(r.out, /the task message is \d+ bytes, over the 65536-byte queue limit: /);
    const taskId = /task_id: (task_[0-9a-f]{12})/.exec(r.out)![1];
    const execId = /execution_id: (exec_[0-9a-f]{12})/.exec(r.out)![1];
    assert.equal(blobName, `tasks/${taskId}.json`);

    const texts = await queuedTexts(config);
    assert.equal(texts.length, 1);
    const pointer = decodeMessage(texts[0]);
    assert.equal(pointer.kind, "claim-check");
    assert.deepEqual((pointer as { message: unknown }).message, {
      task_type: "content_processing",
      claim_check: {
        container: config.CLAIM_CHECK_CONTAINER_NAME,
        blob: blobName,
        task_id: taskId,
        execution_id: execId,
      },
    });
    const body = await BlobServiceClient.fromConnectionString(emu.blobConnectionString)
      .getContainerClient(config.CLAIM_CHECK_CONTAINER_NAME)
      .getBlobClient(blobName)
      .downloadToBuffer();
    const decoded = decodeMessage(body.toString("utf8"));
    assert.equal(decoded.kind, "task");
    const task = (decoded as { message: TaskMessage }).message.payload;
    assert.equal(task.task_id, taskId);
    assert.equal(task.execution_id, execId);
    assert.equal(task.vault_id, VAULT.id);
    assert.deepEqual(task.content, [{ ...big, summary_data: {}, executor_logs: [] }]);

    const rec = await execution(execId);
    assert.equal(rec.status, "pending");
    assert.equal(rec.task_id, taskId);
    assert.deepEqual(rec.claim_check, { container: config.CLAIM_CHECK_CONTAINER_NAME, blob: blobName });
    assert.deepEqual(rec.content, [big.id]);
  });

  test("--output json lists each task; a claim-check without blob storage settings fails before anything is written", async () => {
    const config = await freshConfig();
    const huge = { ...item(91), data: { text: "w".repeat(70_000) } };
    const items = [item(92), huge, item(93)];
    const r = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(items), "--output", "json"], config);
    assert.equal(r.code, 0, r.err);
    const summary = JSON.parse(r.out);
    assert.equal(summary.items, 3);
    assert.equal(summary.limit_bytes, QUEUE_MESSAGE_LIMIT_BYTES);
    assert.ok(summary.message_bytes > QUEUE_MESSAGE_LIMIT_BYTES);
    assert.deepEqual(summary.tasks.map((t: { items: number }) => t.items), [1, 1, 1]);
    assert.deepEqual(summary.tasks.map((t: { claim_check?: unknown }) => !!t.claim_check), [false, true, false]);
    assert.equal(summary.task_id, summary.tasks[0].task_id);
    for (const t of summary.tasks) {
      assert.match(t.message_id, /\S/);
      assert.equal(t.message, undefined);
      assert.equal((await execution(t.execution_id)).status, "pending");
    }
    const kinds = (await queuedTexts(config)).map((t) => decodeMessage(t).kind).sort();
    assert.deepEqual(kinds, ["claim-check", "task", "task"]);

    const noBlob = (await loadConfig({
      env: {
        ...emu.env,
        STORAGE_WORKER_QUEUE_NAME: `enqueue-test-${process.pid}-${++queueCounter}`,
        BLOB_STORAGE_CONNECTION_STRING: "",
        BLOB_STORAGE_ACCOUNT_NAME: "",
      },
      dotenvPath: false,
    })).config;
    const marker = {
      ...huge,
      id: { canonical_id: "https://acct/docs/noblob.pdf", unique_id: `noblob-${process.pid}` },
    };
    const failed = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify([item(94), marker])], noBlob);
    assert.equal(failed.code, 1);
    assert.match(
      failed.err,
      /^contentflow-worker enqueue: an item is too large for a queue message on its own and must go to a claim-check blob, but blob storage is not configured: .*\(set BLOB_STORAGE_CONNECTION_STRING or BLOB_STORAGE_ACCOUNT_NAME\)\n$/,
    );
    assert.deepEqual(await queuedMessages(noBlob), []);
    const { resources } = await store.executions.items
      .query({ query: "SELECT c.id, c.content FROM c WHERE c.created_by = 'cli'" })
      .fetchAll();
    const written = resources.filter((r) => JSON.stringify(r.content ?? []).includes(marker.id.unique_id));
    assert.deepEqual(written, [], "no execution record for the refused run");
  });
});

describe("enqueue: the real CLI", () => {
  function cli(args: string[], env: Record<string, string>): Promise<Captured> {
    const isDeno = typeof (globalThis as { Deno?: unknown }).Deno !== "undefined";
    const argv = isDeno ? ["run", "-A", "src/main.ts", ...args] : ["src/main.ts", ...args];
    return new Promise((res) => {
      const child = spawn(process.execPath, argv, {
        cwd: ROOT,
        env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
        stdio: ["ignore", "pipe", "pipe"],
      });
      let out = "";
      let err = "";
      child.stdout!.on("data", (d) => (out += d));
      child.stderr!.on("data", (d) => (err += d));
      child.once("exit", (code) => res({ code: code ?? -1, out, err }));
    });
  }

  test("exit 0 with ids, 2 for bad JSON, 1 for a missing pipeline", async () => {
    const config = await freshConfig();
    const env = { ...emu.env, STORAGE_WORKER_QUEUE_NAME: config.STORAGE_WORKER_QUEUE_NAME };
    const ok = await cli(["enqueue", "--pipeline", PIPELINE.id, "--json", JSON.stringify(item(10))], env);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /task_id: task_[0-9a-f]{12}\nexecution_id: exec_[0-9a-f]{12}/);
    assert.equal((await queuedMessages(config)).length, 1);

    const usage = await cli(["enqueue", "--pipeline", PIPELINE.id, "--json", "{nope"], env);
    assert.equal(usage.code, 2);
    assert.match(usage.err, /--json: invalid JSON at line 1, column 2: expected a property name in double quotes/);

    const missing = await cli(["enqueue", "--pipeline", "nope", "--json", JSON.stringify(item(11))], env);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /pipeline 'nope' not found/);
  });
});

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
import { type Emulators, startEmulators } from "../../scripts/lib/emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { type CosmosStore, openCosmosStore } from "../../src/store/cosmos.ts";
import { taskQueues } from "../../src/queue/clients.ts";
import { TaskMessageSchema } from "../../src/queue/envelope.ts";
import { ExecutionDocSchema } from "../../src/store/documents.ts";
import { type EnqueueIO, enqueueTask, runEnqueue } from "../../src/cli/enqueue-command.ts";
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
  emu = await startEmulators({ blob: false });
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

async function queuedMessages(config: Config): Promise<unknown[]> {
  const queue = taskQueues(config).tasks;
  if (!(await queue.exists())) return [];
  const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 30 });
  return receivedMessageItems.map((m) => JSON.parse(m.messageText));
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
    assert.deepEqual(rec.content, p.content);
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

  test("a message over the 64 KiB queue limit is refused before anything is written", async () => {
    const config = await freshConfig();
    const items = Array.from({ length: 80 }, (_, i) => ({ ...item(i), data: { text: "x".repeat(1000) } }));
    const r = await run(["--pipeline", PIPELINE.id, "--json", JSON.stringify(items), "--output", "json"], config);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      /the task message is \d+ bytes, over the 65536-byte queue limit: enqueue the 80 items in smaller batches/,
    );
    assert.deepEqual(await queuedMessages(config), []);
    const { resources } = await store.executions.items
      .query({ query: "SELECT c.id FROM c WHERE c.number_of_items = 80" })
      .fetchAll();
    assert.deepEqual(resources, []);
  });

  test("when the queue cannot be reached the execution record is marked failed", async () => {
    const config = await freshConfig();
    const deadQueue = new QueueClient(`http://127.0.0.1:9/devstoreaccount1/dead`, undefined, {
      retryOptions: { maxTries: 1 },
    });
    await assert.rejects(
      enqueueTask(config, { pipelineId: PIPELINE.id, items: [item(9) as any], priority: "normal", dryRun: false }, {
        store,
        queue: deadQueue,
      }),
      (err: Error) => {
        assert.match(
          err.message,
          /cannot send the task to queue 'dead': .*\(execution (exec_[0-9a-f]{12}) marked failed\)/,
        );
        return true;
      },
    );
    const { resources } = await store.executions.items
      .query({ query: "SELECT * FROM c WHERE c.status = 'failed' AND c.created_by = 'cli'" })
      .fetchAll();
    assert.equal(resources.length, 1);
    assert.match(resources[0].error, /failed to send the task to queue 'dead'/);
    assert.ok(resources[0].completed_at);
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

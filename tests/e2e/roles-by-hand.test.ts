// The compiled binary run one role by hand, as an operator does: `worker --role=source --once` crawls and prints
// its summary (a second run finds nothing new; an unknown vault exits 1 with the reason), then
// `worker --role=processing` processes what was queued and exits 0 on SIGTERM.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CosmosClient, type Database } from "@azure/cosmos";
import { type Emulators, startEmulators } from "../../scripts/lib/emulators.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { uploadBlobs } from "../integration/source-test-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";

quietLogs();

interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
}

const PIPELINE = `pipeline:
  name: by-hand
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings:
        blob_storage_account: devstoreaccount1
        blob_container_name: by-hand
        file_extensions: ".txt"
        batch_size: 2
    - {id: keep, type: pass_through}
  execution_sequence: [discover, keep]
`;

describe("compiled binary: one role by hand", () => {
  let emu: Emulators;
  let binary: string;
  let config: Config;
  let db: Database;
  let env: Record<string, string>;
  const cwd = mkdtempSync(join(tmpdir(), "cfw-by-hand-"));

  before(async () => {
    binary = ensureBinary();
    emu = await startEmulators();
    env = {
      PATH: process.env.PATH ?? "",
      ...emu.env,
      STORAGE_WORKER_QUEUE_NAME: "by-hand-tasks",
      LOG_LEVEL: "warning",
    };
    config = (await loadConfig({ env, dotenvPath: false })).config;
    const cosmos = new CosmosClient({
      endpoint: emu.cosmosEndpoint,
      key: emu.env.COSMOS_DB_KEY,
      connectionPolicy: { enableEndpointDiscovery: false },
    });
    await ensureCosmosContainers(cosmos, config);
    db = cosmos.database(config.COSMOS_DB_NAME);
    await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
      id: "pipe-by-hand",
      name: "by-hand",
      yaml: PIPELINE,
    });
    await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.upsert({
      id: "vault-by-hand",
      name: "v",
      pipeline_id: "pipe-by-hand",
      enabled: true,
    });
    await uploadBlobs(emu, "by-hand", [
      { name: "a.txt", body: "alpha" },
      { name: "b.txt", body: "beta" },
      { name: "c.txt", body: "gamma" },
      { name: "skip.pdf", body: "not matched" },
    ]);
  });

  after(async () => {
    await emu?.stop();
  });

  /** Starts the binary with `args`; `finished` resolves on exit (SIGKILL after `timeoutMs`). */
  function start(args: string[], timeoutMs = 60_000): { pid: number; finished: Promise<Finished> } {
    const child = spawn(binary, args, { cwd, env, stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.on("data", (d) => (stdout += d));
    child.stderr!.on("data", (d) => (stderr += d));
    const finished = new Promise<Finished>((resolve, reject) => {
      const timer = setTimeout(() => {
        process.kill(child.pid!, "SIGKILL");
        reject(new Error(`${args.join(" ")} did not finish in ${timeoutMs} ms:\n${stdout}\n${stderr}`));
      }, timeoutMs);
      child.once("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stdout, stderr });
      });
    });
    return { pid: child.pid!, finished };
  }
  const run = (args: string[]) => start(args).finished;

  const executions = async () =>
    (await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query({
      query: "SELECT * FROM c WHERE c.vault_id = @v",
      parameters: [{ name: "@v", value: "vault-by-hand" }],
    }).fetchAll()).resources;

  test("source --once prints its summary; a second run finds nothing new; processing by hand completes the tasks", async () => {
    const first = await run(["worker", "--role=source", "--once"]);
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /^vaults crawled: 1$/m);
    assert.match(first.stdout, /^items discovered: 3$/m);
    assert.match(first.stdout, /^tasks queued: 2$/m, "three items in batches of two");
    assert.match(first.stdout, /^errors: 0$/m);
    const summary = JSON.parse(first.stdout.trim().split("\n").at(-1)!);
    assert.equal(summary.tasks_queued, 2);
    const pending = await executions();
    assert.equal(pending.length, 2);
    assert.ok(pending.every((e) => e.status === "pending"));

    const second = await run(["worker", "--role=source", "--once"]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /^items discovered: 0$/m, "the checkpoint remembers what was queued");

    // The processing role by hand runs until SIGTERM, sent once both executions completed.
    const processing = start(["worker", "--role=processing"], 90_000);
    let completed = false;
    for (let i = 0; i < 300 && !completed; i++) {
      const docs = await executions();
      completed = docs.length === 2 && docs.every((e) => e.status === "completed");
      if (!completed) await new Promise((r) => setTimeout(r, 200));
    }
    assert.ok(completed, "both executions completed");
    process.kill(processing.pid, "SIGTERM");
    const result = await processing.finished;
    assert.equal(result.code, 0, `exit code on SIGTERM\n${result.stderr}`);
    const docs = await executions();
    assert.deepEqual(docs.map((d) => d.number_of_items).sort(), [1, 2]);
    assert.ok(docs.every((d) => d.processing_worker_id), "recorded which worker ran it");
  });

  test("source --once for an unknown vault exits 1 and names the problem", async () => {
    const r = await run(["worker", "--role=source", "--once", "--vault", "no-such-vault"]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, /^errors: 1$/m);
    assert.match(r.stdout, /no-such-vault/);
  });
});

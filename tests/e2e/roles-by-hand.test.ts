// The compiled binary run one role by hand, as an operator does: `worker --role=source --once` crawls and prints
// its summary (a second run finds nothing new; an unknown vault exits 1 with the reason), then
// `worker --role=processing` processes what was queued and exits 0 on SIGTERM.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createVault, executionRecordsOfVault, upsertPipeline } from "../helpers/seeded-store.ts";
import { uploadBlobs } from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";
import { type E2eEnv, e2eEnv, until } from "../helpers/e2e-kit.ts";

quietLogs();

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
  let e: E2eEnv;

  before(async () => {
    e = await e2eEnv({ STORAGE_WORKER_QUEUE_NAME: "by-hand-tasks" });
    await upsertPipeline(e.store, "pipe-by-hand", PIPELINE);
    await createVault(e.store, "vault-by-hand", { pipelineId: "pipe-by-hand" });
    await uploadBlobs(e.emu, "by-hand", [
      { name: "a.txt", body: "alpha" },
      { name: "b.txt", body: "beta" },
      { name: "c.txt", body: "gamma" },
      { name: "skip.pdf", body: "not matched" },
    ]);
  });

  after(async () => {
    await e?.stop();
  });

  const run = (args: string[]) => e.run(args, { timeoutMs: 60_000 });
  const executions = () => executionRecordsOfVault(e.store, "vault-by-hand");

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
    assert.ok(pending.every((d) => d.status === "pending"));

    const second = await run(["worker", "--role=source", "--once"]);
    assert.equal(second.code, 0, second.stdout + second.stderr);
    assert.match(second.stdout, /^items discovered: 0$/m, "the checkpoint remembers what was queued");

    // The processing role by hand runs until SIGTERM, sent once both executions completed.
    const processing = e.start(["worker", "--role=processing"], { timeoutMs: 90_000 });
    const completed = await until("both executions completed", async () => {
      const docs = await executions();
      return docs.length === 2 && docs.every((d) => d.status === "completed");
    }, 60_000).catch(() => false);
    process.kill(processing.pid, "SIGTERM");
    const result = await processing.finished;
    assert.ok(completed, `both executions completed\n${result.output}`);
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

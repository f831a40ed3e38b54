// `contentflow-worker executions retry` through the compiled binary against the emulators: failed executions whose
// tasks are in the poison queue are re-driven from there; failed executions of a pipeline that reads its content
// from blob storage are rebuilt from the execution record (item identifiers only) and run to completion; others are
// reported as not retryable with the reason. Running the same retry again sends nothing twice.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { BlobServiceClient } from "@azure/storage-blob";
import type { QueueClient } from "@azure/storage-queue";
import {
  createVault,
  namedQueue,
  passThroughTask,
  preloadTasks,
  queueLength,
  upsertPipeline,
} from "../helpers/seeded-store.ts";
import { buildTaskMessage } from "../../src/model/task-envelope.ts";
import { pendingExecutionDoc } from "../../src/store/execution-records.ts";
import {
  type E2eFleetEnv,
  e2eFleetEnv,
  type Finished,
  finishedExecutions,
  pipelineYaml,
  uniqueName,
  until,
} from "../helpers/e2e-kit.ts";

interface RetryOutcome {
  execution_id: string;
  result: string;
  detail?: string;
}

describe("executions retry (compiled binary)", () => {
  let e: E2eFleetEnv;

  before(async () => {
    e = await e2eFleetEnv();
  });

  after(async () => {
    await e?.stop();
  });

  /** The binary as a command on `queue` (its poison queue is `<queue>-poison`). */
  function cli(args: string[], queue: string): Promise<Finished> {
    return e.run(args, { env: { STORAGE_WORKER_QUEUE_NAME: queue } });
  }

  async function retry(args: string[], queue: string): Promise<{ code: number | null; outcomes: RetryOutcome[] }> {
    const r = await cli(["executions", "retry", ...args, "--json"], queue);
    assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${r.stderr}`);
    return { code: r.code, outcomes: JSON.parse(r.stdout).outcomes };
  }

  async function pipelineOf(id: string, steps: string[]): Promise<void> {
    await upsertPipeline(e.store, id, pipelineYaml(id, steps));
  }

  const httpStep = () =>
    `{id: call, type: http, settings: {url: "http://127.0.0.1:${e.slow.port}/slow?ms=5", max_retries: 0}}`;

  async function execution(id: string): Promise<Record<string, unknown>> {
    const { resource } = await e.store.db.container(e.store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).item(id, id)
      .read();
    return resource;
  }

  test("failed executions with poison records are re-driven from there, once", { timeout: 240_000 }, async () => {
    const queue = namedQueue(e.emu, uniqueName("retry-q"));
    await queue.create();
    const poison: QueueClient = namedQueue(e.emu, `${queue.name}-poison`);
    const vault = uniqueName("retry-v");
    await createVault(e.store, vault);
    const pipeline = uniqueName("later-pipeline");
    await preloadTasks(e.store, queue, [0, 1].map((i) => passThroughTask(vault, i, pipeline)));
    const first = await e.fleet.start(queue.name, { NUM_PROCESSING_WORKERS: "1" });
    await until("2 poison records", async () => (await poison.exists()) && (await queueLength(poison)) === 2, 60_000);
    await first.stop();
    const ids = [`exec_${vault}-0`, `exec_${vault}-1`];
    for (const id of ids) assert.equal((await execution(id)).status, "failed", `${id} is recorded as failed`);

    const dry = await retry(["--execution", ids[0], "--dry-run"], queue.name);
    assert.deepEqual(dry.outcomes.map((o) => o.result), ["would-requeue-from-poison"]);
    assert.equal(await queueLength(poison), 2, "a dry run changes nothing");
    assert.equal(await queueLength(queue), 0);

    await pipelineOf(pipeline, [httpStep()]);
    const done = await retry(["--status", "failed", "--pipeline", pipeline, "--since", "1h"], queue.name);
    assert.equal(done.code, 0);
    assert.deepEqual(done.outcomes.map((o) => o.result).sort(), ["requeued-from-poison", "requeued-from-poison"]);
    assert.equal(await queueLength(poison), 0, "the poison records are settled");
    assert.equal(await queueLength(queue), 2);
    const record = await execution(ids[0]);
    assert.equal(record.status, "pending");
    assert.equal((record.redrive as { state: string }).state, "queued");

    const again = await retry(["--execution", ids.join(",")], queue.name);
    assert.deepEqual(again.outcomes.map((o) => o.result), ["already-queued", "already-queued"]);
    assert.equal(await queueLength(queue), 2, "nothing sent twice");

    const before = e.slow.requests();
    const run = await e.fleet.start(queue.name, { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1" });
    const docs = await finishedExecutions(e.store, vault, 2);
    assert.deepEqual(docs.filter((d) => d.status !== "completed").map((d) => `${d.id}: ${d.error}`), []);
    assert.equal(e.slow.requests() - before, 2);
    await run.stop();
  });

  test("rebuilt from the record when the pipeline reads the content; otherwise not retryable, with the reason", {
    timeout: 240_000,
  }, async () => {
    const queue = namedQueue(e.emu, uniqueName("rebuild-q"));
    await queue.create();
    const vault = uniqueName("rebuild-v");
    await createVault(e.store, vault);
    // The items' content lives in blob storage; the execution records keep only the items' identifiers.
    const blobs = BlobServiceClient.fromConnectionString(e.emu.env.BLOB_STORAGE_CONNECTION_STRING);
    const container = blobs.getContainerClient(uniqueName("docs"));
    await container.create();
    const account = e.emu.env.BLOB_STORAGE_ACCOUNT_NAME;
    const reader = uniqueName("reads-content");
    await pipelineOf(reader, [
      `{id: get, type: azure_blob_content_retriever, settings: {include_content_bytes_as_field: true, use_temp_file_for_content: false}}`,
      httpStep(),
    ]);
    const noReader = uniqueName("needs-data");
    await pipelineOf(noReader, [httpStep()]);
    const executions = e.store.db.container(e.store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
    const failed = async (n: number, pipelineId: string): Promise<string> => {
      const key = `${vault}-${n}`;
      await container.getBlockBlobClient(`${key}.txt`).upload(`text of ${key}`, `text of ${key}`.length);
      const message = buildTaskMessage({
        taskId: `task_${key}`,
        executionId: `exec_${key}`,
        pipelineId,
        pipelineName: pipelineId,
        vaultId: vault,
        items: [{
          id: {
            canonical_id: `https://${account}.blob.core.windows.net/${container.containerName}/${key}.txt`,
            unique_id: key,
            source_name: account,
            source_type: "azure_blob",
            container: container.containerName,
            path: `${key}.txt`,
            filename: `${key}.txt`,
          },
          data: {},
          summary_data: {},
          executor_logs: [],
        }],
        executedInputExecutor: "discover",
        maxRetries: 3,
      });
      const doc = pendingExecutionDoc(message, { workerId: "test" });
      const at = new Date().toISOString();
      await executions.items.create({ ...doc, status: "failed", error: "the service was down", completed_at: at });
      return doc.id;
    };
    const a = await failed(0, reader);
    const b = await failed(1, reader);
    const c = await failed(2, noReader);

    const dry = await retry(["--execution", `${a},${b},${c}`, "--dry-run"], queue.name);
    assert.deepEqual(dry.outcomes.map((o) => o.result), [
      "would-rebuild-from-record",
      "would-rebuild-from-record",
      "not-retryable",
    ]);
    assert.equal(await queueLength(queue), 0);

    const done = await retry(["--execution", a, b, c], queue.name);
    assert.equal(done.code, 1, "one execution could not be retried");
    assert.deepEqual(done.outcomes.map((o) => o.result), [
      "rebuilt-from-record",
      "rebuilt-from-record",
      "not-retryable",
    ]);
    assert.match(done.outcomes[2].detail ?? "", new RegExp(`only the items' identifiers.*pipeline ${noReader}`));
    assert.equal((await execution(c)).status, "failed", "the one not retried is left as it was");
    assert.equal(await queueLength(queue), 2);

    const text = await cli(["executions", "retry", "--execution", a, b], queue.name);
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /already-queued +exec_/);
    assert.equal(await queueLength(queue), 2, "a second retry sends nothing");

    const run = await e.fleet.start(queue.name, { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1" });
    await until("the 2 retried executions completed", async () => {
      const [x, y] = [await execution(a), await execution(b)];
      return x.status === "completed" && y.status === "completed" ? true : undefined;
    }, 90_000);
    const calls = e.slow.callsOf(vault);
    assert.equal(calls.get(`${vault}-0`), 1);
    assert.equal(calls.get(`${vault}-1`), 1);
    assert.equal(calls.get(`${vault}-2`), undefined, "the one not retried did not run");
    await run.stop();
  });

  test("usage errors", async () => {
    const none = await cli(["executions", "retry"], "q");
    assert.equal(none.code, 2);
    assert.match(none.stderr, /--execution ID or --status failed/);
    const noPipeline = await cli(["executions", "retry", "--status", "failed"], "q");
    assert.equal(noPipeline.code, 2);
    const badSince = await cli(
      ["executions", "retry", "--status", "failed", "--pipeline", "p", "--since", "soon"],
      "q",
    );
    assert.equal(badSince.code, 2);
    assert.match(badSince.stderr, /--since 'soon'/);
  });
});

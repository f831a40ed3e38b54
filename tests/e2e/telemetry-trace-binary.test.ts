// One trace across processes through the compiled binary (issue 25): `worker --role=source --once` crawls a vault
// inside a contentflow.crawl span and puts its traceparent in every task message; `worker --role=processing`
// runs each task in a contentflow.task span whose parent is that crawl span, with a contentflow.executor span per
// executor under it (items in and out). Both export to a local OTLP/HTTP receiver; the source process also exports
// its counters (tasks enqueued) with the /metrics names.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { attributesOf, type OtlpAttribute, OtlpReceiver } from "../helpers/otlp-receiver.ts";
import { createVault, executionRecordsOfVault, upsertPipeline } from "../helpers/seeded-store.ts";
import { uploadBlobs } from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";
import { type E2eEnv, e2eEnv } from "../helpers/e2e-kit.ts";
import { until } from "../helpers/wait.ts";

quietLogs();

const PIPELINE = `pipeline:
  name: traced
  executors:
    - id: discover
      type: azure_blob_input_discovery
      settings:
        blob_storage_account: devstoreaccount1
        blob_container_name: traced
        file_extensions: ".txt"
        batch_size: 1
    - {id: keep, type: pass_through}
  execution_sequence: [discover, keep]
`;

describe("compiled binary: one trace from the crawl to the tasks", () => {
  let e: E2eEnv;
  let otlp: OtlpReceiver;

  before(async () => {
    otlp = await OtlpReceiver.start();
    e = await e2eEnv({
      STORAGE_WORKER_QUEUE_NAME: "traced-tasks",
      OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
      OTEL_TRACES_SAMPLER_ARG: "1",
    });
    await upsertPipeline(e.store, "pipe-traced", PIPELINE);
    await createVault(e.store, "vault-traced", { pipelineId: "pipe-traced" });
    await uploadBlobs(e.emu, "traced", [{ name: "a.txt", body: "alpha" }, { name: "b.txt", body: "beta" }]);
  });

  after(async () => {
    otlp?.close();
    await e?.stop();
  });

  const spans = () => otlp.spans();
  const attrs = (a: OtlpAttribute[]) => attributesOf(a);

  test("the task spans of the processing process are children of the source process's crawl span", async () => {
    const source = await e.run(["worker", "--role=source", "--once"], { timeoutMs: 60_000 });
    assert.equal(source.code, 0, source.stdout + source.stderr);
    assert.match(source.stdout, /^tasks queued: 2$/m);
    const crawl = spans().find((s) => s.name === "contentflow.crawl");
    assert.ok(crawl, `the crawl span was exported by the source process\n${source.output}`);
    const enqueued = otlp.points().filter((p) => p.metric === "contentflow_worker_tasks_enqueued_total");
    assert.deepEqual(
      enqueued.map((p) => [p.attributes.role, p.value]),
      [["source", 2]],
      `the source process's counter arrived with the /metrics name and labels: ${JSON.stringify(otlp.points())}`,
    );

    const processing = e.start(["worker", "--role=processing"], { timeoutMs: 90_000 });
    const completed = await until("both executions completed", async () => {
      const docs = await executionRecordsOfVault(e.store, "vault-traced");
      return docs.length === 2 && docs.every((d) => d.status === "completed");
    }, 60_000).catch(() => false);
    process.kill(processing.pid, "SIGTERM");
    const result = await processing.finished;
    assert.ok(completed, result.output);
    const tasks = spans().filter((s) => s.name === "contentflow.task");
    assert.equal(tasks.length, 2, `two task spans\n${JSON.stringify(spans())}\n${result.output}`);
    for (const task of tasks) {
      assert.equal(task.traceId, crawl.traceId, "the task continues the crawl's trace");
      assert.equal(task.parentSpanId, crawl.spanId, "the crawl span is the task span's parent");
      const a = attrs(task.attributes);
      assert.equal(a["contentflow.pipeline_id"], "pipe-traced");
      assert.equal(a["contentflow.vault_id"], "vault-traced");
      assert.equal(a["contentflow.outcome"], "completed");
      // The processing worker leaves out the input executor the source ran: one executor span, keep.
      const executors = spans().filter((s) => s.name === "contentflow.executor" && s.parentSpanId === task.spanId);
      assert.equal(executors.length, 1, `one executor span under the task span\n${JSON.stringify(spans())}`);
      const keep = attrs(executors[0].attributes);
      assert.equal(keep["contentflow.executor.id"], "keep");
      assert.equal(keep["contentflow.executor.type"], "pass_through");
      assert.equal(Number(keep["contentflow.items_in"]), 1);
      assert.equal(Number(keep["contentflow.items_out"]), 1);
    }
  });
});

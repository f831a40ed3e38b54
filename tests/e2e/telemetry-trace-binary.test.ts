// One trace across processes through the compiled binary (issue 25): `worker --role=source --once` crawls a vault
// inside a contentflow.crawl span and puts its traceparent in every task message; `worker --role=processing`
// runs each task in a contentflow.task span whose parent is that crawl span, with a contentflow.executor span per
// executor under it (items in and out). Both export to a local OTLP/HTTP receiver; the source process also exports
// its counters (tasks enqueued) with the /metrics names. The outbound calls are dependency (client) spans in the same
// trace: the crawl's blob listing, queue sends and Cosmos calls under the crawl span, each task's Cosmos and queue
// calls under its task span; none of the emulators' keys is in any exported byte.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { attributesOf, type OtlpAttribute, OtlpReceiver } from "../helpers/otlp-receiver.ts";
import { createVault, executionRecordsOfVault, upsertPipeline } from "../helpers/seeded-store.ts";
import { uploadBlobs } from "../helpers/source-kit.ts";
import { quietLogs } from "../helpers/test-logging.ts";
import { type E2eEnv, e2eEnv } from "../helpers/e2e-kit.ts";
import { AZURITE_KEY } from "../helpers/emulators.ts";
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
      const calls = dependenciesUnder(task.spanId);
      assert.ok(calls.has("Microsoft.DocumentDB"), `the task's Cosmos calls are its dependencies: ${[...calls]}`);
      assert.ok(calls.has("Microsoft.Storage"), `and its queue calls: ${[...calls]}`);
    }
  });

  test("the outbound calls are client spans in the trace, with their URLs but no query and no key", () => {
    const crawl = spans().find((s) => s.name === "contentflow.crawl")!;
    const underCrawl = descendants(crawl.spanId).filter((s) => s.kind === SPAN_KIND_CLIENT);
    const urls = underCrawl.map((s) => String(attrs(s.attributes)["url.full"]));
    assert.ok(
      urls.some((u) => u.endsWith("/devstoreaccount1/traced")),
      `the blob listing of the crawl: ${urls.join(" ")}`,
    );
    assert.ok(urls.some((u) => u.endsWith("/devstoreaccount1/traced-tasks/messages")), "the tasks sent");
    assert.ok(
      underCrawl.some((s) => attrs(s.attributes)["az.namespace"] === "Microsoft.DocumentDB"),
      "the crawl's Cosmos calls (lock, checkpoint, execution records)",
    );
    for (const s of spans().filter((s) => s.kind === SPAN_KIND_CLIENT)) {
      const a = attrs(s.attributes);
      assert.match(String(a["http.request.method"]), /^[A-Z]+$/);
      assert.equal(a["server.address"], "127.0.0.1");
      assert.ok(!String(a["url.full"]).includes("?"), `no query string: ${a["url.full"]}`);
      assert.ok(Number(a["http.response.status_code"]) > 0, JSON.stringify(a));
    }
    const exported = [...otlp.bodies.traces, ...otlp.bodies.logs, ...otlp.bodies.metrics].join("\n");
    for (const secret of [AZURITE_KEY, e.env.COSMOS_DB_KEY, "sig="]) {
      assert.ok(secret && !exported.includes(secret), "no key or signature in any exported byte");
    }
  });

  const SPAN_KIND_CLIENT = 3;
  /** Spans below `spanId` (children, their children, …). */
  const descendants = (spanId: string) => {
    const out: ReturnType<typeof spans> = [];
    const all = spans();
    for (let frontier = [spanId]; frontier.length > 0;) {
      const next = all.filter((s) => s.parentSpanId !== undefined && frontier.includes(s.parentSpanId));
      out.push(...next);
      frontier = next.map((s) => s.spanId);
    }
    return out;
  };
  /** The az.namespace of every client span below `spanId`. */
  const dependenciesUnder = (spanId: string) =>
    new Set(
      descendants(spanId).filter((s) => s.kind === SPAN_KIND_CLIENT).map((s) => attrs(s.attributes)["az.namespace"]),
    );
});

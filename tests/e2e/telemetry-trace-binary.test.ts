// One trace across processes through the compiled binary (issue 25): `worker --role=source --once` crawls a vault
// inside a contentflow.crawl span and puts its traceparent in every task message; `worker --role=processing`
// runs each task in a contentflow.task span whose parent is that crawl span. Both export to a local OTLP/HTTP
// receiver.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { createServer, type Server } from "node:http";
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

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
}

describe("compiled binary: one trace from the crawl to the tasks", () => {
  let e: E2eEnv;
  let otlp: Server;
  const bodies: string[] = [];

  before(async () => {
    otlp = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        if (req.url === "/v1/traces") bodies.push(body);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((r) => otlp.listen(0, "127.0.0.1", () => r()));
    e = await e2eEnv({
      STORAGE_WORKER_QUEUE_NAME: "traced-tasks",
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.address() as { port: number }).port}`,
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

  const spans = (): OtlpSpan[] =>
    bodies.flatMap((b) =>
      // deno-lint-ignore no-explicit-any
      JSON.parse(b).resourceSpans.flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans))
    );

  test("the task spans of the processing process are children of the source process's crawl span", async () => {
    const source = await e.run(["worker", "--role=source", "--once"], { timeoutMs: 60_000 });
    assert.equal(source.code, 0, source.stdout + source.stderr);
    assert.match(source.stdout, /^tasks queued: 2$/m);
    const crawl = spans().find((s) => s.name === "contentflow.crawl");
    assert.ok(crawl, `the crawl span was exported by the source process\n${source.output}`);

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
    }
  });
});

// src/telemetry: off is a no-op; on with an OTLP/HTTP endpoint, task spans arrive with their attributes, a parent
// taken from a W3C traceparent (the trace goes on across processes), errors recorded and rethrown; a collector
// that is down or never answers changes no result and shutdown returns within its budget.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import { noTelemetry, startTelemetry } from "../../src/telemetry/index.ts";
import { telemetryPlan } from "../../src/telemetry/plan.ts";
import { formatTraceparent, parseTraceparent } from "../../src/telemetry/traceparent.ts";
import { taskSpanAttributes } from "../../src/telemetry/task-span.ts";
import { configureLogging, Logger, registerSecret } from "../../src/log/logger.ts";
import { activeTraceparent } from "../../src/telemetry/index.ts";
import { planTaskMessages, TaskSender, withTraceparent } from "../../src/queue/sender.ts";
import { buildTaskMessage } from "../../src/model/task-envelope.ts";
import { decodeMessage } from "../../src/queue/decode.ts";
import { messageTraceparent } from "../../src/workers/processing/trace-context.ts";
import type { Config } from "../../src/config/schema.ts";
import type { QueueClient } from "@azure/storage-queue";
import { labelledCounter, MemoryReporter } from "../../src/model/worker-context.ts";

const logger = new Logger({});
const who = { role: "processing", workerId: "w-test", version: "0.0.0-test", logger };
const plan = (endpoint: string, ratio = 1) =>
  telemetryPlan({
    APPLICATIONINSIGHTS_CONNECTION_STRING: "",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER_ARG: ratio,
  });

interface OtlpSpan {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  attributes: Array<{ key: string; value: Record<string, unknown> }>;
  status?: { code?: number };
}

function spansOf(bodies: string[]): OtlpSpan[] {
  return bodies.flatMap((b) =>
    // deno-lint-ignore no-explicit-any
    (JSON.parse(b).resourceSpans ?? []).flatMap((r: any) => r.scopeSpans.flatMap((s: any) => s.spans))
  );
}

describe("telemetry", () => {
  const bodies: string[] = [];
  const logBodies: string[] = [];
  const metricBodies: string[] = [];
  let collector: Server;
  let hung: Server;
  const base = (s: Server) => `http://127.0.0.1:${(s.address() as { port: number }).port}`;
  before(async () => {
    collector = createServer((req, res) => {
      let body = "";
      req.on("data", (d) => (body += d));
      req.on("end", () => {
        if (req.url === "/v1/traces") bodies.push(body);
        if (req.url === "/v1/logs") logBodies.push(body);
        if (req.url === "/v1/metrics") metricBodies.push(body);
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    hung = createServer(() => {/* never answers */});
    await new Promise<void>((r) => collector.listen(0, "127.0.0.1", () => r()));
    await new Promise<void>((r) => hung.listen(0, "127.0.0.1", () => r()));
  });
  after(() => {
    collector.close();
    hung.closeAllConnections?.();
    hung.close();
  });

  test("traceparent: parsed and written back; malformed or all-zero ids are ignored", () => {
    const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    assert.deepEqual(parseTraceparent(tp), {
      traceId: "0af7651916cd43dd8448eb211c80319c",
      spanId: "b7ad6b7169203331",
      flags: 1,
    });
    assert.equal(formatTraceparent("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331", 1), tp);
    for (const bad of [undefined, 7, "", tp.toUpperCase(), tp + "-x", `00-${"0".repeat(32)}-b7ad6b7169203331-01`]) {
      assert.equal(parseTraceparent(bad), undefined, String(bad));
    }
  });

  test("task span attributes: attempt and queue wait from the message", () => {
    const attrs = taskSpanAttributes({ id: "m1", dequeueCount: 2, insertedOn: new Date(1000) }, 4500);
    assert.equal(attrs["contentflow.attempt"], 2);
    assert.equal(attrs["contentflow.queue_wait_ms"], 3500);
    assert.equal(taskSpanAttributes({ id: "m1", dequeueCount: 1 }, 4500)["contentflow.queue_wait_ms"], undefined);
  });

  test("off: the no-op runs the work and hands out no traceparent", async () => {
    const t = await startTelemetry(plan(""), who);
    assert.equal(t, noTelemetry);
    assert.equal(await t.span("x", {}, (s) => Promise.resolve(s.traceparent() ?? "none")), "none");
  });

  test("on: spans arrive over OTLP/HTTP JSON with attributes, the remote parent and the error status", async () => {
    const t = await startTelemetry(plan(base(collector)), who);
    assert.equal(t.enabled, true);
    const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
    const seen = await t.span("contentflow.task", { "contentflow.attempt": 1, skipped: undefined }, (s) => {
      s.setAttributes({ "contentflow.pipeline_id": "p1" });
      return Promise.resolve(s.traceparent());
    }, parent);
    assert.match(seen ?? "", /^00-0af7651916cd43dd8448eb211c80319c-[0-9a-f]{16}-01$/);
    await assert.rejects(
      t.span("contentflow.task", {}, () => Promise.reject(new Error("executor failed"))),
      /executor failed/,
    );
    await t.shutdown(10_000);
    const spans = spansOf(bodies);
    const task = spans.find((s) => s.traceId === "0af7651916cd43dd8448eb211c80319c");
    assert.ok(task, JSON.stringify(spans));
    assert.equal(task.parentSpanId, "b7ad6b7169203331");
    assert.equal(task.name, "contentflow.task");
    const keys = task.attributes.map((a) => a.key).sort();
    assert.deepEqual(keys, ["contentflow.attempt", "contentflow.pipeline_id"]);
    const failed = spans.find((s) => s.traceId !== "0af7651916cd43dd8448eb211c80319c");
    assert.equal(failed?.status?.code, 2, "ERROR status on the failed span");
  });

  test("a collector that is down or never answers changes no result, and shutdown returns", async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, "127.0.0.1", () => r()));
    const down = base(closed);
    await new Promise<void>((r) => closed.close(() => r()));
    for (const endpoint of [down, base(hung)]) {
      const t = await startTelemetry(plan(endpoint), who);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => t.span("contentflow.task", {}, () => Promise.resolve(i))),
      );
      assert.deepEqual(results, Array.from({ length: 50 }, (_, i) => i));
      await t.shutdown(300);
    }
  });

  test("a message sent inside a span carries its traceparent; the processing side reads it as the parent", async () => {
    const sent: string[] = [];
    const queue = {
      name: "q",
      sendMessage: (text: string) => {
        sent.push(text);
        return Promise.resolve({ messageId: `m${sent.length}` });
      },
    } as unknown as QueueClient;
    const sender = new TaskSender({} as Config, { queue });
    const planned = () => planTaskMessages([item], (items) => buildTaskMessage({ ...spec, items }))[0];
    const t = await startTelemetry(plan(base(collector)), who);
    let inside: string | undefined;
    await t.span("contentflow.crawl", {}, async (s) => {
      inside = s.traceparent();
      assert.equal(activeTraceparent(), inside);
      await sender.send(planned());
    });
    await sender.send(planned()); // outside any span: no field
    const off = await startTelemetry(plan(""), who);
    await off.span("contentflow.crawl", {}, () => sender.send(planned()));
    await t.shutdown(10_000);
    assert.ok(inside);
    const first = decodeMessage(sent[0]);
    assert.equal(first.kind, "task");
    assert.equal(first.kind === "task" && first.message.traceparent, inside);
    assert.equal(messageTraceparent(sent[0]), inside);
    for (const text of sent.slice(1)) {
      assert.equal(JSON.parse(text).traceparent, undefined, text);
      assert.equal(messageTraceparent(text), undefined);
    }
    // A malformed traceparent from outside is dropped, the task is still read.
    const bad = decodeMessage(withTraceparent(sent[1], "x".repeat(80)));
    assert.equal(bad.kind, "task");
    assert.equal(messageTraceparent(withTraceparent(sent[1], "00-zz")), undefined);
  });

  test("log lines become OTLP log records with the active span's trace id, redacted as on stdout", async () => {
    const stdout: string[] = [];
    configureLogging({ level: "info", write: (l) => stdout.push(l) });
    const secret = "telemetry-test-secret-value-0123456789";
    registerSecret(secret);
    const t = await startTelemetry(plan(base(collector)), who);
    let traceId = "";
    await t.span("contentflow.task", {}, (s) => {
      traceId = s.traceparent()!.split("-")[1];
      logger.child({ task_id: "t-1" }).warn("task step done", { detail: `key=${secret}`, n: 3 });
      return Promise.resolve();
    });
    await t.shutdown(10_000);
    configureLogging({ level: "error", write: () => {} });
    const records = logBodies.flatMap((b) =>
      // deno-lint-ignore no-explicit-any
      JSON.parse(b).resourceLogs.flatMap((r: any) => r.scopeLogs.flatMap((s: any) => s.logRecords))
    );
    // deno-lint-ignore no-explicit-any
    const mine = records.find((r: any) => r.body?.stringValue === "task step done");
    assert.ok(mine, JSON.stringify(records).slice(0, 2000));
    assert.equal(mine.traceId, traceId);
    assert.equal(mine.severityText, "warn");
    // deno-lint-ignore no-explicit-any
    const attrs = Object.fromEntries(mine.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
    assert.equal(attrs.task_id, "t-1");
    assert.equal(attrs.detail, "key=***");
    assert.ok(!logBodies.join("").includes(secret), "the secret is in no exported byte");
    assert.ok(stdout.some((l) => l.includes("task step done")));
  });

  test("metered reporter: counters and in-flight as OTLP metrics with /metrics' names and labels", async () => {
    metricBodies.length = 0; // earlier tests' providers exported their (zero) gauges too
    const t = await startTelemetry(plan(base(collector)), who);
    const memory = new MemoryReporter();
    const report = t.metered(memory);
    report.count("tasks_processed_total", 2);
    report.count(labelledCounter("ai_tokens_total", { executor_type: "azure_openai_agent", kind: "prompt" }), 40);
    report.setInFlight(3);
    await t.shutdown(10_000);
    assert.equal(memory.counters.tasks_processed_total, 2, "the worker's own report still gets the count");
    // deno-lint-ignore no-explicit-any
    const metrics: any[] = metricBodies.flatMap((b) =>
      // deno-lint-ignore no-explicit-any
      JSON.parse(b).resourceMetrics.flatMap((r: any) => r.scopeMetrics.flatMap((s: any) => s.metrics))
    );
    // deno-lint-ignore no-explicit-any
    const point = (name: string) =>
      metrics.find((m) => m.name === name)?.[name.endsWith("in_flight") ? "gauge" : "sum"]
        ?.dataPoints[0];
    // deno-lint-ignore no-explicit-any
    const attrs = (p: any) => Object.fromEntries(p.attributes.map((a: any) => [a.key, Object.values(a.value)[0]]));
    const processed = point("contentflow_worker_tasks_processed_total");
    assert.ok(processed, JSON.stringify(metrics.map((m) => m.name)));
    assert.equal(Number(processed.asInt ?? processed.asDouble), 2);
    assert.deepEqual(attrs(processed), { role: "processing" });
    const tokens = point("contentflow_worker_ai_tokens_total");
    assert.deepEqual(attrs(tokens), { role: "processing", executor_type: "azure_openai_agent", kind: "prompt" });
    assert.equal(Number(tokens.asInt ?? tokens.asDouble), 40);
    const inFlight = point("contentflow_worker_in_flight");
    assert.equal(Number(inFlight.asInt ?? inFlight.asDouble), 3);
  });
});

const item = {
  id: { canonical_id: "c1", unique_id: "u1" },
  data: {},
  summary_data: {},
  executor_logs: [],
};
const spec = {
  pipelineId: "p1",
  pipelineName: "p",
  vaultId: "v1",
  items: [],
  executedInputExecutor: null,
  maxRetries: 3,
};

// src/telemetry, issue 25 remaining items: a contentflow.executor span per executor under the task span (items in
// and out, tokens, pages, errors), the task's outcome on its span from the counter that ends it, the supervisor's
// metric families exported with their names and labels, and drops counted — queue full, or a collector that is
// down — without changing any result.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import * as v from "valibot";
import { childSpan, inSpan, noTelemetry, startTelemetry, telemetryDropped } from "../../src/telemetry/index.ts";
import { telemetryPlan } from "../../src/telemetry/plan.ts";
import { countedSpanPipeline, DropCounter } from "../../src/telemetry/drops.ts";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { perItemExecutor } from "../../src/executors/per-item.ts";
import type { ExecutorDefinition } from "../../src/executors/types.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { MemoryReporter } from "../../src/model/worker-context.ts";
import type { Content } from "../../src/model/content.ts";
import { attributesOf, closedPort, OtlpReceiver } from "../helpers/otlp-receiver.ts";
import type { ReadableSpan, SpanExporter } from "@opentelemetry/sdk-trace-base";

configureLogging({ level: "error", write: () => {} });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const logger = new Logger({});
const who = { role: "processing", workerId: "w-spans", version: "0.0.0-test", logger };
const plan = (endpoint: string) =>
  telemetryPlan({
    APPLICATIONINSIGHTS_CONNECTION_STRING: "",
    OTEL_EXPORTER_OTLP_ENDPOINT: endpoint,
    OTEL_TRACES_SAMPLER_ARG: 1,
  });

const item = (n: number): Content => ({
  id: { canonical_id: `c${n}`, unique_id: `u${n}` },
  data: {},
  summary_data: {},
  executor_logs: [],
});

/** `extract` reports tokens and pages per item and fails on c3 (passed through: fail_pipeline_on_error false). */
function registry() {
  const settings = v.object({ fail_on: v.optional(v.string(), "") });
  const extract: ExecutorDefinition<typeof settings> = {
    type: "fake_extract",
    category: "extract",
    description: "test: reports usage and pages",
    settings,
    create: (id, s) =>
      perItemExecutor(id, "fake_extract", (c, ctx) => {
        if (c.id.canonical_id === s.fail_on) throw new Error(`cannot read ${c.id.canonical_id}`);
        ctx.addUsage?.({ calls: 1, prompt_tokens: 10, completion_tokens: 4 });
        ctx.addLogDetails?.({ pages_analyzed: 3 });
        return Promise.resolve(c);
      }),
  };
  return defaultRegistry().register(extract as unknown as ExecutorDefinition);
}

const PIPELINE = `pipeline:
  name: spans
  executors:
    - {id: read, type: fake_extract, settings: {fail_on: c3, fail_pipeline_on_error: false}}
    - {id: keep, type: pass_through}
    - {id: refuse, type: fake_extract, settings: {fail_on: c1}}
  execution_sequence: [read, keep, refuse]
`;

describe("telemetry: executor spans, task outcome, supervisor metrics, drops", () => {
  let otlp: OtlpReceiver;
  before(async () => (otlp = await OtlpReceiver.start()));
  after(() => otlp.close());

  test("off: no span around, so executors run alone; childSpan makes none", async () => {
    assert.equal(inSpan(), false);
    await noTelemetry.span("contentflow.task", {}, () => {
      assert.equal(inSpan(), false, "the no-op sets no active span");
      return Promise.resolve();
    });
    const seen = await childSpan("x", {}, (s) => Promise.resolve(s.traceparent()));
    assert.equal(seen, undefined);
    assert.equal(telemetryDropped(), undefined, "nothing running, nothing to show on /metrics");
  });

  test("each executor is a child span of the task span: items, tokens, pages, item errors, a failure", async () => {
    otlp.clear();
    const t = await startTelemetry(plan(otlp.url), who);
    const p = compilePipeline(parsePipelineYaml(PIPELINE), { registry: registry(), deps: { config, logger } });
    const result = await t.span(
      "contentflow.task",
      {},
      () => runPipeline(p, [item(1), item(2), item(3)], { signal: new AbortController().signal, logger }),
    );
    await t.shutdown(10_000);
    assert.equal(result.status, "failed", "refuse fails the pipeline, as without telemetry");
    const spans = otlp.spans();
    const task = spans.find((s) => s.name === "contentflow.task");
    assert.ok(task, JSON.stringify(spans));
    const executors = spans.filter((s) => s.name === "contentflow.executor");
    const byId = new Map(executors.map((s) => [attributesOf(s.attributes)["contentflow.executor.id"], s]));
    assert.deepEqual([...byId.keys()].sort(), ["keep", "read", "refuse"]);
    for (const s of executors) {
      assert.equal(s.parentSpanId, task.spanId, "an executor span is a child of its task span");
      assert.equal(s.traceId, task.traceId);
    }
    const read = attributesOf(byId.get("read")!.attributes);
    assert.equal(read["contentflow.executor.type"], "fake_extract");
    assert.equal(Number(read["contentflow.items_in"]), 3);
    assert.equal(Number(read["contentflow.items_out"]), 3);
    assert.equal(Number(read["contentflow.items_failed"]), 1);
    assert.match(String(read["contentflow.error"]), /cannot read c3/);
    assert.equal(Number(read["contentflow.tokens.prompt"]), 20);
    assert.equal(Number(read["contentflow.tokens.completion"]), 8);
    assert.equal(Number(read["contentflow.ai_calls"]), 2);
    assert.equal(Number(read["contentflow.pages"]), 6);
    assert.notEqual(byId.get("read")!.status?.code, 2, "items passed through do not fail the executor");
    const refuse = byId.get("refuse")!;
    assert.equal(refuse.status?.code, 2, "a failed executor's span has the error status");
    assert.match(refuse.status?.message ?? "", /cannot read c1/);
    assert.ok(refuse.events?.some((e) => e.name === "exception"), "the error is recorded on the span");
  });

  test("the counter that ends a task sets its outcome on the task span; failed ones have the error status", async () => {
    otlp.clear();
    const t = await startTelemetry(plan(otlp.url), who);
    const report = t.metered(new MemoryReporter());
    await t.span("contentflow.task", { "contentflow.attempt": 1 }, () => {
      report.count("tasks_processed_total");
      return Promise.resolve();
    });
    await t.span("contentflow.task", { "contentflow.attempt": 2 }, () => {
      report.count("tasks_failed_total");
      report.count("tasks_poisoned_total");
      return Promise.resolve();
    });
    await t.shutdown(10_000);
    const tasks = otlp.spans().filter((s) => s.name === "contentflow.task").map((s) => ({
      attempt: Number(attributesOf(s.attributes)["contentflow.attempt"]),
      outcome: attributesOf(s.attributes)["contentflow.outcome"],
      status: s.status?.code,
    })).sort((a, b) => a.attempt - b.attempt);
    assert.deepEqual(tasks, [
      { attempt: 1, outcome: "completed", status: 1 },
      { attempt: 2, outcome: "poisoned", status: 2 },
    ]);
  });

  test("observed families: gauges and counters with the /metrics names and labels", async () => {
    otlp.clear();
    const t = await startTelemetry(plan(otlp.url), { ...who, role: "supervisor" });
    let restarts = 2;
    t.observe(() => [
      {
        name: "contentflow_worker_workers_up",
        type: "gauge",
        help: "Worker processes running per role",
        samples: [{ labels: { role: "processing" }, value: 3 }, { labels: { role: "source" }, value: 1 }],
      },
      {
        name: "contentflow_worker_child_restarts_total",
        type: "counter",
        help: "Worker process restarts per role",
        samples: [{ labels: { role: "processing" }, value: restarts++ }],
      },
    ]);
    await t.shutdown(10_000);
    const points = otlp.points();
    const up = points.filter((p) => p.metric === "contentflow_worker_workers_up");
    assert.deepEqual(
      up.map((p) => [p.attributes.role, p.value]).sort(),
      [["processing", 3], ["source", 1]],
      JSON.stringify(points),
    );
    const restartPoints = points.filter((p) => p.metric === "contentflow_worker_child_restarts_total");
    assert.ok(restartPoints.length > 0 && restartPoints.every((p) => p.attributes.role === "processing"));
    assert.ok(restartPoints.every((p) => p.value >= 2));
    assert.ok(!points.some((p) => p.metric === "contentflow_worker_in_flight"), "no in-flight gauge never set");
  });

  test("a collector that is down: results unchanged, drops counted per signal and logged once", async () => {
    const lines: string[] = [];
    configureLogging({ level: "info", write: (l) => lines.push(l) });
    const memory = new MemoryReporter();
    const t = await startTelemetry(plan(`http://127.0.0.1:${await closedPort()}`), { ...who, dropsTo: memory });
    const report = t.metered(memory);
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        t.span("contentflow.task", {}, () => {
          report.count("tasks_processed_total");
          logger.info("task done", { i });
          return Promise.resolve(i);
        })),
    );
    assert.deepEqual(results, Array.from({ length: 20 }, (_, i) => i));
    assert.ok(telemetryDropped(), "running telemetry shows its drops");
    await t.shutdown(15_000);
    configureLogging({ level: "error", write: () => {} });
    const dropped = t.dropped();
    assert.ok(dropped.traces >= 20, JSON.stringify(dropped));
    assert.ok(dropped.logs >= 20, JSON.stringify(dropped));
    assert.ok(dropped.metrics >= 1, JSON.stringify(dropped));
    assert.equal(memory.counters['telemetry_dropped_total{signal="traces"}'], dropped.traces);
    assert.equal(memory.counters['telemetry_dropped_total{signal="logs"}'], dropped.logs);
    assert.equal(memory.counters.tasks_processed_total, 20);
    const summaries = lines.filter((l) => l.includes("telemetry dropped data"));
    assert.equal(summaries.length, 1, `one summary line, not one per drop:\n${summaries.join("\n")}`);
    assert.match(summaries[0], /"spans":\d+/);
  });

  test("a full span queue drops (and counts) what does not fit, and never waits", () => {
    const drops = new DropCounter({ logger }, 3_600_000);
    const stuck: SpanExporter = { export: () => {}, shutdown: () => Promise.resolve() };
    // A batch processor that never gets to export: every span it is given stays in its queue.
    const pipeline = countedSpanPipeline(
      stuck,
      () => ({
        onStart: () => {},
        onEnd: () => {},
        forceFlush: () => Promise.resolve(),
        shutdown: () => Promise.resolve(),
      }),
      3,
      drops,
    );
    const span = (sampled: boolean) => ({ spanContext: () => ({ traceFlags: sampled ? 1 : 0 }) }) as ReadableSpan;
    for (let i = 0; i < 5; i++) pipeline.onEnd(span(true));
    pipeline.onEnd(span(false));
    drops.stop();
    assert.deepEqual(drops.totals(), { traces: 2, logs: 0, metrics: 0 }, "3 queued, 2 dropped, unsampled ignored");
  });
});

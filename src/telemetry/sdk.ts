// The OpenTelemetry side of src/telemetry (imported only when telemetry is on): a tracer provider with a
// parent-based ratio sampler and a bounded BatchSpanProcessor per destination (OTLP/HTTP, Application Insights),
// log records (sdk-logs.ts) and metrics (sdk-metrics.ts); what is dropped on the way is counted (drops.ts).
import process from "node:process";
import { ROOT_CONTEXT, type Span, SpanKind, SpanStatusCode, trace } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { AzureMonitorTraceExporter } from "@azure/monitor-opentelemetry-exporter";
import type { SpanAttributes, SpanHandle, Telemetry, TelemetryIdentity } from "./types.ts";
import { formatTraceparent } from "./traceparent.ts";
import { countedSpanPipeline, DropCounter } from "./drops.ts";
import { contextOfTraceparent, EXPORT_TIMEOUT_MS, exportLogLines, type OnPlan, QUEUE_SIZE } from "./sdk-logs.ts";
import { meters } from "./sdk-metrics.ts";

/** Spans waiting for export per destination; past this, new spans are dropped and counted (never a wait). */
export const SPAN_QUEUE_SIZE = QUEUE_SIZE;

function exporters(plan: OnPlan): SpanExporter[] {
  const out: SpanExporter[] = [];
  if (plan.otlp) {
    out.push(new OTLPTraceExporter({ url: plan.otlp.traces, timeoutMillis: EXPORT_TIMEOUT_MS }));
  }
  if (plan.appInsights) {
    // The exporter's own usage reports (statsbeat) go to Microsoft's endpoints, not the connection string's:
    // off unless the operator asked for them.
    process.env.APPLICATIONINSIGHTS_STATSBEAT_DISABLED ??= "true";
    process.env.APPLICATIONINSIGHTS_SDKSTATS_DISABLED ??= "true";
    out.push(
      new AzureMonitorTraceExporter({
        connectionString: plan.appInsights,
        // No retry files on disk: the image runs with a read-only root and no HOME.
        disableOfflineStorage: true,
      }),
    );
  }
  return out;
}

function spanProcessors(plan: OnPlan, drops: DropCounter): SpanProcessor[] {
  return exporters(plan).map((e) =>
    countedSpanPipeline(
      e,
      (counted) =>
        new BatchSpanProcessor(counted, {
          maxQueueSize: SPAN_QUEUE_SIZE,
          maxExportBatchSize: 512,
          scheduledDelayMillis: 2000,
          exportTimeoutMillis: EXPORT_TIMEOUT_MS,
        }),
      SPAN_QUEUE_SIZE,
      drops,
    )
  );
}

function clean(attributes: SpanAttributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = v;
  return out;
}

/** A span of this SDK as the call sites see it; the span itself stays reachable to start children under it. */
class SdkSpanHandle implements SpanHandle {
  failed = false;
  constructor(readonly span: Span) {}
  setAttributes(attributes: SpanAttributes): void {
    this.span.setAttributes(clean(attributes));
  }
  fail(message: string): void {
    this.failed = true;
    this.span.recordException({ name: "Error", message });
    this.span.setStatus({ code: SpanStatusCode.ERROR, message });
  }
  traceparent(): string | undefined {
    const sc = this.span.spanContext();
    return this.span.isRecording() ? formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags) : undefined;
  }
  recording(): boolean {
    return this.span.isRecording();
  }
}

export function startSdkTelemetry(
  plan: OnPlan,
  who: TelemetryIdentity,
  activeTraceparent: () => string | undefined,
): Telemetry {
  const resource = resourceFromAttributes({
    "service.name": "contentflow-worker",
    "service.version": who.version,
    "service.instance.id": who.workerId,
    "contentflow.role": who.role,
  });
  const drops = new DropCounter(who);
  const logs = exportLogLines(plan, resource, who.role, activeTraceparent, drops);
  const metrics = meters(plan, resource, who.role, drops);
  const provider = new BasicTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(plan.sampleRatio) }),
    spanProcessors: spanProcessors(plan, drops),
  });
  const tracer = provider.getTracer("contentflow-worker", who.version);
  return {
    enabled: true,
    async span(name, attributes, work, parent, kind) {
      // A child of a span of this process is a step inside it, or an outbound call (kind "client": a dependency
      // span); any other span is a unit of work the worker took on (a task from the queue, a scheduled crawl): a
      // consumer span, which Application Insights lists as a request (named by ai.operation.name) with its
      // children as dependencies.
      const local = parent instanceof SdkSpanHandle;
      const ctx = local
        ? trace.setSpan(ROOT_CONTEXT, parent.span)
        : contextOfTraceparent(typeof parent === "string" ? parent : undefined, true, ROOT_CONTEXT);
      const span = tracer.startSpan(name, {
        kind: !local ? SpanKind.CONSUMER : kind === "client" ? SpanKind.CLIENT : SpanKind.INTERNAL,
        attributes: clean(!local && plan.appInsights ? { ...attributes, "ai.operation.name": name } : attributes),
      }, ctx);
      const handle = new SdkSpanHandle(span);
      try {
        const result = await work(handle);
        // A span its work marked failed (SpanHandle.fail) keeps its error status.
        if (!handle.failed) span.setStatus({ code: SpanStatusCode.OK });
        return result;
      } catch (err) {
        span.recordException(err instanceof Error ? err : String(err));
        span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.message : String(err) });
        throw err;
      } finally {
        span.end();
      }
    },
    metered: metrics.metered,
    observe: metrics.observe,
    dropped: () => drops.totals(),
    async shutdown(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([provider.shutdown().catch(() => undefined), logs.stop(), metrics.stop()]),
        new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
      ]);
      clearTimeout(timer);
      drops.stop();
    },
  };
}

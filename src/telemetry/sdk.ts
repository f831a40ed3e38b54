// The OpenTelemetry side of src/telemetry (imported only when telemetry is on): a tracer provider with a
// parent-based ratio sampler, a bounded BatchSpanProcessor per destination (OTLP/HTTP, Application Insights).
import process from "node:process";
import { context, type Span, SpanStatusCode, trace, type TraceFlags } from "@opentelemetry/api";
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  ParentBasedSampler,
  type SpanExporter,
  TraceIdRatioBasedSampler,
} from "@opentelemetry/sdk-trace-base";
import { resourceFromAttributes } from "@opentelemetry/resources";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  AzureMonitorLogExporter,
  AzureMonitorMetricExporter,
  AzureMonitorTraceExporter,
} from "@azure/monitor-opentelemetry-exporter";
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import type { Counter } from "@opentelemetry/api";
import { splitLabelledCounter, type WorkerReporter } from "../model/worker-context.ts";
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from "@opentelemetry/sdk-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { onLogLine } from "../log/logger.ts";
import type { TelemetryPlan } from "./plan.ts";
import type { SpanAttributes, SpanHandle, Telemetry, TelemetryIdentity } from "./types.ts";
import type { Resource } from "@opentelemetry/resources";
import { formatTraceparent, parseTraceparent } from "./traceparent.ts";

/** Spans waiting for export per destination; past this, new spans are dropped (never a wait in a task). */
export const SPAN_QUEUE_SIZE = 2048;
const EXPORT_TIMEOUT_MS = 10_000;

function exporters(plan: Extract<TelemetryPlan, { enabled: true }>): SpanExporter[] {
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

function logExporters(plan: Extract<TelemetryPlan, { enabled: true }>): LogRecordExporter[] {
  const out: LogRecordExporter[] = [];
  if (plan.otlp) out.push(new OTLPLogExporter({ url: plan.otlp.logs, timeoutMillis: EXPORT_TIMEOUT_MS }));
  if (plan.appInsights) {
    out.push(new AzureMonitorLogExporter({ connectionString: plan.appInsights, disableOfflineStorage: true }));
  }
  return out;
}

const SEVERITY: Record<string, SeverityNumber> = {
  debug: SeverityNumber.DEBUG,
  info: SeverityNumber.INFO,
  warn: SeverityNumber.WARN,
  error: SeverityNumber.ERROR,
};

/**
 * Our JSON log lines (already redacted, as on stdout) as OpenTelemetry log records: `msg` the body, `level` the
 * severity, the other fields attributes (objects as JSON text), in the trace of the span active when the line was
 * written. Bounded like the spans; returns the stop function.
 */
function exportLogLines(
  plan: Extract<TelemetryPlan, { enabled: true }>,
  resource: Resource,
  activeTraceparent: () => string | undefined,
): { stop(): Promise<void> } {
  const provider = new LoggerProvider({
    resource,
    processors: logExporters(plan).map((e) =>
      new BatchLogRecordProcessor({
        exporter: e,
        maxQueueSize: SPAN_QUEUE_SIZE,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 2000,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      })
    ),
  });
  const otelLogger = provider.getLogger("contentflow-worker");
  const off = onLogLine((line) => {
    if (line.length > 64 * 1024) return;
    let record: Record<string, unknown>;
    try {
      record = JSON.parse(line);
    } catch {
      return;
    }
    if (typeof record !== "object" || record === null || record.ipc !== undefined) return;
    const { msg, level, time, ...rest } = record;
    const attributes: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(rest)) {
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") attributes[k] = v;
      else if (v !== null && v !== undefined) attributes[k] = JSON.stringify(v);
    }
    const tp = parseTraceparent(activeTraceparent());
    const ctx = tp
      ? trace.setSpanContext(context.active(), {
        traceId: tp.traceId,
        spanId: tp.spanId,
        traceFlags: tp.flags as TraceFlags,
        isRemote: false,
      })
      : context.active();
    const at = typeof time === "string" ? Date.parse(time) : NaN;
    otelLogger.emit({
      body: String(msg ?? ""),
      severityNumber: SEVERITY[String(level)] ?? SeverityNumber.INFO,
      severityText: String(level ?? "info"),
      attributes,
      context: ctx,
      ...(Number.isFinite(at) ? { timestamp: at } : {}),
    });
  });
  return {
    async stop() {
      off();
      await provider.shutdown().catch(() => undefined);
    },
  };
}

/** How often metrics are pushed (also once on shutdown). */
const METRIC_INTERVAL_MS = 60_000;

function metricExporters(plan: Extract<TelemetryPlan, { enabled: true }>): PushMetricExporter[] {
  const out: PushMetricExporter[] = [];
  if (plan.otlp) out.push(new OTLPMetricExporter({ url: plan.otlp.metrics, timeoutMillis: EXPORT_TIMEOUT_MS }));
  if (plan.appInsights) {
    out.push(new AzureMonitorMetricExporter({ connectionString: plan.appInsights, disableOfflineStorage: true }));
  }
  return out;
}

/** `k="v",k2="v2"` (a labelled counter's label part) as attributes. */
export function labelAttributes(labels: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!labels) return out;
  for (const m of labels.matchAll(/([A-Za-z_][A-Za-z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
    out[m[1]] = m[2].replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
  }
  return out;
}

/** /metrics' name for a worker counter (src/api/app.ts metricName). */
function counterMetricName(base: string): string {
  const name = base.endsWith("_total") ? base : `${base}_total`;
  return `contentflow_worker_${name.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

function meters(plan: Extract<TelemetryPlan, { enabled: true }>, resource: Resource, role: string) {
  const provider = new MeterProvider({
    resource,
    readers: metricExporters(plan).map((exporter) =>
      new PeriodicExportingMetricReader({
        exporter,
        exportIntervalMillis: METRIC_INTERVAL_MS,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      })
    ),
  });
  const meter = provider.getMeter("contentflow-worker");
  const counters = new Map<string, Counter>();
  let inFlight = 0;
  meter.createObservableGauge("contentflow_worker_in_flight", {
    description: "Tasks (processing) or crawls (source) running now",
  }).addCallback((r) => r.observe(inFlight, { role }));
  const metered = (report: WorkerReporter): WorkerReporter => ({
    setReady: (ready, reason) => report.setReady(ready, reason),
    setInFlight: (count) => {
      inFlight = count;
      report.setInFlight(count);
    },
    count: (counter, by) => {
      report.count(counter, by);
      try {
        const { name: base, labels } = splitLabelledCounter(counter);
        const name = counterMetricName(base);
        let c = counters.get(name);
        if (!c) counters.set(name, c = meter.createCounter(name));
        c.add(by ?? 1, { role, ...labelAttributes(labels) });
      } catch {
        // Metrics must never fail the worker.
      }
    },
    gauge: (name, value) => report.gauge(name, value),
    info: (key, value) => report.info(key, value),
  });
  return { metered, stop: () => provider.shutdown().catch(() => undefined) };
}

function clean(attributes: SpanAttributes): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(attributes)) if (v !== undefined) out[k] = v;
  return out;
}

function handle(span: Span): SpanHandle {
  return {
    setAttributes: (attributes) => span.setAttributes(clean(attributes)),
    traceparent: () => {
      const sc = span.spanContext();
      return span.isRecording() ? formatTraceparent(sc.traceId, sc.spanId, sc.traceFlags) : undefined;
    },
  };
}

export function startSdkTelemetry(
  plan: Extract<TelemetryPlan, { enabled: true }>,
  who: TelemetryIdentity,
  activeTraceparent: () => string | undefined,
): Telemetry {
  const resource = resourceFromAttributes({
    "service.name": "contentflow-worker",
    "service.version": who.version,
    "service.instance.id": who.workerId,
    "contentflow.role": who.role,
  });
  const logs = exportLogLines(plan, resource, activeTraceparent);
  const metrics = meters(plan, resource, who.role);
  const provider = new BasicTracerProvider({
    resource,
    sampler: new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(plan.sampleRatio) }),
    spanProcessors: exporters(plan).map((e) =>
      new BatchSpanProcessor(e, {
        maxQueueSize: SPAN_QUEUE_SIZE,
        maxExportBatchSize: 512,
        scheduledDelayMillis: 2000,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      })
    ),
  });
  const tracer = provider.getTracer("contentflow-worker", who.version);
  return {
    enabled: true,
    async span(name, attributes, work, parent) {
      const remote = parent ? parseTraceparent(parent) : undefined;
      const ctx = remote
        ? trace.setSpanContext(context.active(), {
          traceId: remote.traceId,
          spanId: remote.spanId,
          traceFlags: remote.flags as TraceFlags,
          isRemote: true,
        })
        : context.active();
      const span = tracer.startSpan(name, { attributes: clean(attributes) }, ctx);
      try {
        const result = await work(handle(span));
        span.setStatus({ code: SpanStatusCode.OK });
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
    async shutdown(timeoutMs) {
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([provider.shutdown().catch(() => undefined), logs.stop(), metrics.stop()]),
        new Promise<void>((r) => (timer = setTimeout(r, timeoutMs))),
      ]);
      clearTimeout(timer);
    },
  };
}

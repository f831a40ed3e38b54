// Our JSON log lines as OpenTelemetry log records (imported only when telemetry is on), through bounded batch
// queues whose drops are counted (drops.ts).
import { type Context, context, ROOT_CONTEXT, trace, type TraceFlags } from "@opentelemetry/api";
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordExporter } from "@opentelemetry/sdk-logs";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { AzureMonitorLogExporter } from "@azure/monitor-opentelemetry-exporter";
import { SeverityNumber } from "@opentelemetry/api-logs";
import type { Resource } from "@opentelemetry/resources";
import { onLogLine } from "../log/logger.ts";
import type { TelemetryPlan } from "./plan.ts";
import { parseTraceparent } from "./traceparent.ts";
import { countedLogPipeline, type DropCounter } from "./drops.ts";

/** Items (spans, log records) waiting for export per destination; past this, new ones are dropped and counted. */
export const QUEUE_SIZE = 2048;
export const EXPORT_TIMEOUT_MS = 10_000;

export type OnPlan = Extract<TelemetryPlan, { enabled: true }>;

/**
 * The context of a span given by its W3C traceparent (a parent from another process when `remote`), or `base`
 * itself when there is none.
 */
export function contextOfTraceparent(traceparent: string | undefined, remote: boolean, base?: Context): Context {
  const from = base ?? context.active();
  const tp = parseTraceparent(traceparent);
  if (!tp) return from;
  return trace.setSpanContext(from, {
    traceId: tp.traceId,
    spanId: tp.spanId,
    traceFlags: tp.flags as TraceFlags,
    isRemote: remote,
  });
}

function logExporters(plan: OnPlan): LogRecordExporter[] {
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
 * Whether this process exports `record`: not a line the supervisor forwards from a worker process (its `role` names
 * another process, which exports its own lines), except a worker's raw stdout/stderr (`stream`), which only the
 * supervisor sees.
 */
export function exportsLine(record: Record<string, unknown>, role: string): boolean {
  if (record.ipc !== undefined) return false;
  return record.stream !== undefined || typeof record.role !== "string" || record.role === role;
}

/**
 * Our JSON log lines (already redacted, as on stdout) as OpenTelemetry log records: `msg` the body, `level` the
 * severity, the other fields attributes (objects as JSON text), in the trace of the span active when the line was
 * written. Bounded like the spans; returns the stop function.
 */
export function exportLogLines(
  plan: OnPlan,
  resource: Resource,
  role: string,
  activeTraceparent: () => string | undefined,
  drops: DropCounter,
): { stop(): Promise<void> } {
  const provider = new LoggerProvider({
    resource,
    processors: logExporters(plan).map((e) =>
      countedLogPipeline(
        e,
        (counted) =>
          new BatchLogRecordProcessor({
            exporter: counted,
            maxQueueSize: QUEUE_SIZE,
            maxExportBatchSize: 512,
            scheduledDelayMillis: 2000,
            exportTimeoutMillis: EXPORT_TIMEOUT_MS,
          }),
        QUEUE_SIZE,
        drops,
      )
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
    if (typeof record !== "object" || record === null || !exportsLine(record, role)) return;
    const { msg, level, time, ...rest } = record;
    const attributes: Record<string, string | number | boolean> = {};
    for (const [k, v] of Object.entries(rest)) {
      if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") attributes[k] = v;
      else if (v !== null && v !== undefined) attributes[k] = JSON.stringify(v);
    }
    const at = typeof time === "string" ? Date.parse(time) : NaN;
    otelLogger.emit({
      body: String(msg ?? ""),
      severityNumber: SEVERITY[String(level)] ?? SeverityNumber.INFO,
      severityText: String(level ?? "info"),
      attributes,
      context: contextOfTraceparent(activeTraceparent(), false, ROOT_CONTEXT),
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

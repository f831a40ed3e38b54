// Counting what telemetry drops (imported only when telemetry is on): spans and log records that found their
// bounded queue full, and spans, log records and metric points whose export failed (collector down, slow past the
// export timeout, or refusing them). Each drop is counted at once (telemetry_dropped_total{signal} on /metrics) and
// logged at most once per interval, as one line with the counts since the last one — never one line per drop.
import type { Context } from "@opentelemetry/api";
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from "@opentelemetry/sdk-trace-base";
import type { LogRecordExporter, LogRecordProcessor, ReadableLogRecord, SdkLogRecord } from "@opentelemetry/sdk-logs";
import type { PushMetricExporter, ResourceMetrics } from "@opentelemetry/sdk-metrics";
import { labelledCounter } from "../model/worker-context.ts";
import type { TelemetryIdentity, TelemetrySignal } from "./types.ts";

/** How often a drop summary may be logged. */
export const DROP_LOG_INTERVAL_MS = 60_000;

/** ExportResultCode.SUCCESS of @opentelemetry/core. */
const SUCCESS = 0;

interface ExportResult {
  code: number;
}

export class DropCounter {
  private readonly total: Record<TelemetrySignal, number> = { traces: 0, logs: 0, metrics: 0 };
  private readonly sinceLog: Record<TelemetrySignal, number> = { traces: 0, logs: 0, metrics: 0 };
  private readonly timer: ReturnType<typeof setInterval>;

  constructor(private readonly who: Pick<TelemetryIdentity, "logger" | "dropsTo">, intervalMs = DROP_LOG_INTERVAL_MS) {
    this.timer = setInterval(() => this.logSummary(), intervalMs);
    (this.timer as { unref?: () => void }).unref?.();
  }

  add(signal: TelemetrySignal, n: number): void {
    if (!(n > 0)) return;
    this.total[signal] += n;
    this.sinceLog[signal] += n;
    try {
      this.who.dropsTo?.count(labelledCounter("telemetry_dropped_total", { signal }), n);
    } catch {
      // Counting must never fail a worker.
    }
  }

  totals(): Record<TelemetrySignal, number> {
    return { ...this.total };
  }

  /** One warning with the drops since the last one, if there were any. */
  logSummary(): void {
    const { traces, logs, metrics } = this.sinceLog;
    if (traces + logs + metrics === 0) return;
    this.sinceLog.traces = this.sinceLog.logs = this.sinceLog.metrics = 0;
    this.who.logger.warn("telemetry dropped data (export failed or its queue was full); tasks are not affected", {
      spans: traces,
      log_records: logs,
      metric_points: metrics,
      dropped_total: this.total.traces + this.total.logs + this.total.metrics,
    });
  }

  stop(): void {
    clearInterval(this.timer);
    this.logSummary();
  }
}

/** `exporter` whose failed exports count their items as dropped; `handed` counts every item given to it. */
function countingExport<T>(
  exportOnce: (items: T, done: (result: ExportResult) => void) => void,
  size: (items: T) => number,
  onHanded: (n: number) => void,
  onFailed: (n: number) => void,
) {
  return (items: T, done: (result: ExportResult) => void) => {
    const n = size(items);
    onHanded(n);
    let settled = false;
    try {
      exportOnce(items, (result) => {
        if (!settled && result.code !== SUCCESS) onFailed(n);
        settled = true;
        done(result);
      });
    } catch (err) {
      if (!settled) onFailed(n);
      settled = true;
      done({ code: 1, error: err } as ExportResult);
    }
  };
}

/** What SpanExporter and LogRecordExporter have in common. */
interface BatchExporter<I> {
  export(items: I[], done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
  forceFlush?(): Promise<void>;
}

/**
 * How many items wait in a batch processor's queue (handed to the processor, not yet to its exporter), for one
 * signal: `admit` lets an item in or counts it as dropped when the queue is full; the processor exports through
 * `exporter`, which takes exported batches off the count and counts failed ones as dropped.
 */
class BatchQueue<I> {
  private queued = 0;

  constructor(
    private readonly maxQueueSize: number,
    private readonly signal: TelemetrySignal,
    private readonly drops: DropCounter,
  ) {}

  admit(): boolean {
    if (this.queued >= this.maxQueueSize) {
      this.drops.add(this.signal, 1);
      return false;
    }
    this.queued++;
    return true;
  }

  exporter(exporter: BatchExporter<I>): Required<BatchExporter<I>> {
    return {
      export: countingExport<I[]>(
        (items, done) => exporter.export(items, done),
        (items) => items.length,
        (n) => (this.queued = Math.max(0, this.queued - n)),
        (n) => this.drops.add(this.signal, n),
      ),
      shutdown: () => exporter.shutdown(),
      forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
    };
  }
}

/**
 * A span processor in front of a BatchSpanProcessor and its exporter: it knows how many spans wait in the batch
 * queue, so a span that would overflow it is counted and not passed on; a failed export counts its spans.
 */
export function countedSpanPipeline(
  exporter: SpanExporter,
  makeProcessor: (exporter: SpanExporter) => SpanProcessor,
  maxQueueSize: number,
  drops: DropCounter,
): SpanProcessor {
  const queue = new BatchQueue<ReadableSpan>(maxQueueSize, "traces", drops);
  const inner = makeProcessor(queue.exporter(exporter));
  return {
    onStart: (span: Span, parent: Context) => inner.onStart(span, parent),
    onEnd: (span: ReadableSpan) => {
      if ((span.spanContext().traceFlags & 1) === 0) return; // not sampled: never exported
      if (queue.admit()) inner.onEnd(span);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
}

/** The same for log records (BatchLogRecordProcessor). */
export function countedLogPipeline(
  exporter: LogRecordExporter,
  makeProcessor: (exporter: LogRecordExporter) => LogRecordProcessor,
  maxQueueSize: number,
  drops: DropCounter,
): LogRecordProcessor {
  const queue = new BatchQueue<ReadableLogRecord>(maxQueueSize, "logs", drops);
  const inner = makeProcessor(queue.exporter(exporter));
  return {
    onEmit: (record: SdkLogRecord, context?: Context) => {
      if (queue.admit()) inner.onEmit(record, context);
    },
    forceFlush: () => inner.forceFlush(),
    shutdown: () => inner.shutdown(),
  };
}

/** Data points in one metric export. */
function pointsOf(metrics: ResourceMetrics): number {
  let n = 0;
  for (const scope of metrics.scopeMetrics) for (const m of scope.metrics) n += m.dataPoints.length;
  return n;
}

/** `exporter` whose failed exports count their data points as dropped (metrics have no queue: one export a time). */
export function countedMetricExporter(exporter: PushMetricExporter, drops: DropCounter): PushMetricExporter {
  return {
    export: countingExport<ResourceMetrics>(
      (metrics, done) => exporter.export(metrics, done),
      pointsOf,
      () => {},
      (n) => drops.add("metrics", n),
    ),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    ...(exporter.selectAggregationTemporality
      ? { selectAggregationTemporality: (t) => exporter.selectAggregationTemporality!(t) }
      : {}),
    ...(exporter.selectAggregation ? { selectAggregation: (t) => exporter.selectAggregation!(t) } : {}),
  };
}

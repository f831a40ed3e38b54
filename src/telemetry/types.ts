// The telemetry interface the workers call (src/telemetry/index.ts picks the implementation).
import type { Logger } from "../log/logger.ts";
import type { WorkerReporter } from "../model/worker-context.ts";

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** What a call site may do with its span. */
export interface SpanHandle {
  setAttributes(attributes: SpanAttributes): void;
  /** Marks the span failed (error status and an exception event) without an exception thrown through it. */
  fail(message: string): void;
  /** The W3C `traceparent` of this span (to carry to the next process), or undefined when not recorded. */
  traceparent(): string | undefined;
  /** Whether the span is recorded (the sampler kept it); children of a span that is not are not made. */
  recording(): boolean;
}

/**
 * What a span stands for: a step inside the work around it (the default for a child of a span of this process),
 * or an outbound call to another service ("client": Application Insights shows it as a dependency).
 */
export type SpanKindName = "internal" | "client";

/** The telemetry data kinds whose dropped items are counted (telemetry_dropped_total{signal}). */
export type TelemetrySignal = "traces" | "logs" | "metrics";

/**
 * One metric as /metrics shows it: name, type and samples with their labels. The supervisor's gauges and counters
 * are described once this way and both rendered as Prometheus text and observed as OpenTelemetry metrics.
 */
export interface MetricFamily {
  name: string;
  type: "counter" | "gauge";
  help: string;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

export interface Telemetry {
  readonly enabled: boolean;
  /**
   * Runs `work` inside a span `name`, the child of `parent`: a W3C traceparent from another process, or the handle
   * of a span of this process. The span ends when `work` settles; an error is recorded on the span and rethrown.
   * `kind` "client" marks an outbound call (only for a child of a span of this process).
   */
  span<T>(
    name: string,
    attributes: SpanAttributes,
    work: (span: SpanHandle) => Promise<T>,
    parent?: string | SpanHandle,
    kind?: SpanKindName,
  ): Promise<T>;
  /**
   * `report` that also records its counters and the in-flight gauge as OpenTelemetry metrics, with the names and
   * labels of /metrics (contentflow_worker_<counter>_total{role,…}); `report` itself when telemetry is off.
   */
  metered(report: WorkerReporter): WorkerReporter;
  /** Exports the families `read` returns (read at each metric export) as OpenTelemetry gauges and counters. */
  observe(read: () => MetricFamily[]): void;
  /** Spans, log records and metric points dropped so far (queue full or export failed), per signal. */
  dropped(): Record<TelemetrySignal, number>;
  /** Flushes what is queued and stops, waiting at most `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface TelemetryIdentity {
  role: string;
  workerId: string;
  version: string;
  logger: Logger;
  /** Where dropped items are counted as telemetry_dropped_total{signal} (a worker's reporter, shown on /metrics). */
  dropsTo?: Pick<WorkerReporter, "count">;
}

// The telemetry interface the workers call (src/telemetry/index.ts picks the implementation).
import type { Logger } from "../log/logger.ts";
import type { WorkerReporter } from "../model/worker-context.ts";

export type SpanAttributes = Record<string, string | number | boolean | undefined>;

/** What a call site may do with its span. */
export interface SpanHandle {
  setAttributes(attributes: SpanAttributes): void;
  /** The W3C `traceparent` of this span (to carry to the next process), or undefined when not recorded. */
  traceparent(): string | undefined;
}

export interface Telemetry {
  readonly enabled: boolean;
  /**
   * Runs `work` inside a span `name` (a child of `parent`, a W3C traceparent, when given). The span ends when
   * `work` settles; an error is recorded on the span and rethrown unchanged.
   */
  span<T>(
    name: string,
    attributes: SpanAttributes,
    work: (span: SpanHandle) => Promise<T>,
    parent?: string,
  ): Promise<T>;
  /**
   * `report` that also records its counters and the in-flight gauge as OpenTelemetry metrics, with the names and
   * labels of /metrics (contentflow_worker_<counter>_total{role,…}); `report` itself when telemetry is off.
   */
  metered(report: WorkerReporter): WorkerReporter;
  /** Flushes what is queued and stops, waiting at most `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface TelemetryIdentity {
  role: string;
  workerId: string;
  version: string;
  logger: Logger;
}

// The telemetry interface the workers call (src/telemetry/index.ts picks the implementation).
import type { Logger } from "../log/logger.ts";

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
  /** Flushes what is queued and stops, waiting at most `timeoutMs`. */
  shutdown(timeoutMs: number): Promise<void>;
}

export interface TelemetryIdentity {
  role: string;
  workerId: string;
  version: string;
  logger: Logger;
}

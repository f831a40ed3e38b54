// Telemetry for the workers: one small interface whose call sites are a span around an existing step. Off (the
// plan says so: no APPLICATIONINSIGHTS_CONNECTION_STRING, no OTEL_EXPORTER_OTLP_ENDPOINT) it is a no-op and no
// OpenTelemetry module is loaded; on, src/telemetry/sdk.ts is imported on demand. Exporting never blocks or fails
// a task: spans go through bounded batch queues (what does not fit or fails to export is counted as dropped),
// export errors stay inside the SDK, and shutdown waits at most the time it is given.
//
// Code that runs inside a span (an executor in a task, a log line, a message sent) finds it through the async
// call chain (childSpan, annotateSpan, activeTraceparent), so nothing has to pass the telemetry down to it; with
// telemetry off there is no active span and those calls do nothing.
import { AsyncLocalStorage } from "node:async_hooks";
import { describePlan, type TelemetryPlan } from "./plan.ts";
import { TASK_OUTCOMES } from "./task-span.ts";
import type {
  SpanAttributes,
  SpanHandle,
  SpanKindName,
  Telemetry,
  TelemetryIdentity,
  TelemetrySignal,
} from "./types.ts";

export type {
  MetricFamily,
  SpanAttributes,
  SpanHandle,
  SpanKindName,
  Telemetry,
  TelemetryIdentity,
  TelemetrySignal,
} from "./types.ts";

const NO_SPAN: SpanHandle = {
  setAttributes: () => {},
  fail: () => {},
  traceparent: () => undefined,
  recording: () => false,
};

export const noTelemetry: Telemetry = {
  enabled: false,
  span: (_name, _attributes, work) => work(NO_SPAN),
  metered: (report) => report,
  observe: () => {},
  dropped: () => ({ traces: 0, logs: 0, metrics: 0 }),
  shutdown: () => Promise.resolve(),
};

/** The span the current async call chain runs in (set by `span`), its traceparent and its telemetry. */
interface Active {
  span: SpanHandle;
  traceparent: string | undefined;
  telemetry: Telemetry;
}

const current = new AsyncLocalStorage<Active>();

/** W3C traceparent of the innermost recorded span around this call, if any: what a message sent now carries. */
export function activeTraceparent(): string | undefined {
  return current.getStore()?.traceparent;
}

/**
 * The span around this call when it is recorded. A span the sampler left out (most tasks at the default ratio) has
 * no recorded children either, so nothing is prepared for them: the default ratio costs little per task.
 */
function recordedSpan(): Active | undefined {
  const active = current.getStore();
  return active?.span.recording() ? active : undefined;
}

/** Whether this call runs inside a recorded span (telemetry on): callers skip preparing span attributes otherwise. */
export function inSpan(): boolean {
  return recordedSpan() !== undefined;
}

/**
 * Runs `work` in a child span `name` of the span around this call (an executor inside its task's span); without
 * one (telemetry off, or no span around) it runs `work` alone and makes no span. `kind` "client": an outbound call.
 */
export function childSpan<T>(
  name: string,
  attributes: SpanAttributes,
  work: (span: SpanHandle) => Promise<T>,
  kind?: SpanKindName,
): Promise<T> {
  const active = recordedSpan();
  if (!active) return work(NO_SPAN);
  return active.telemetry.span(name, attributes, work, active.span, kind);
}

/** The recorded span around this call (telemetry on), to keep per-span counts by; undefined outside one. */
export function activeSpan(): SpanHandle | undefined {
  return recordedSpan()?.span;
}

/** Adds attributes to the span around this call (the task's ids once its message is read); none: nothing. */
export function annotateSpan(attributes: SpanAttributes): void {
  current.getStore()?.span.setAttributes(attributes);
}

/** `telemetry` whose spans make themselves the active span of the work they wrap (see activeTraceparent). */
function withActiveSpan(telemetry: Telemetry): Telemetry {
  const self: Telemetry = {
    enabled: telemetry.enabled,
    span: (name, attributes, work, parent, kind) =>
      telemetry.span(
        name,
        attributes,
        (span) => current.run({ span, traceparent: span.traceparent(), telemetry: self }, () => work(span)),
        parent,
        kind,
      ),
    metered: (report) => {
      const metered = telemetry.metered(report);
      return {
        ...metered,
        count: (counter, by) => {
          metered.count(counter, by);
          noteOutcome(counter);
        },
      };
    },
    observe: (read) => telemetry.observe(read),
    dropped: () => telemetry.dropped(),
    shutdown: (timeoutMs) => {
      running.delete(self);
      return telemetry.shutdown(timeoutMs);
    },
  };
  return self;
}

/** A counter that ends a task (TASK_OUTCOMES) sets the outcome on the span it was counted in. */
function noteOutcome(counter: string): void {
  const known = TASK_OUTCOMES[counter];
  const active = known && current.getStore();
  if (!active) return;
  active.span.setAttributes({ "contentflow.outcome": known.outcome });
  if (known.failed) active.span.fail(`task ${known.outcome}`);
}

/** The telemetry running in this process (started, not shut down). */
const running = new Set<Telemetry>();

/**
 * What the telemetry of this process dropped so far, per signal (the supervisor shows its own on /metrics; worker
 * processes count theirs into their counters, TelemetryIdentity.dropsTo); undefined when telemetry is off.
 */
export function telemetryDropped(): Record<TelemetrySignal, number> | undefined {
  if (running.size === 0) return undefined;
  const sum: Record<TelemetrySignal, number> = { traces: 0, logs: 0, metrics: 0 };
  for (const t of running) {
    const d = t.dropped();
    for (const k of Object.keys(sum) as TelemetrySignal[]) sum[k] += d[k];
  }
  return sum;
}

export async function startTelemetry(plan: TelemetryPlan, who: TelemetryIdentity): Promise<Telemetry> {
  if (!plan.enabled) return noTelemetry;
  try {
    const { startSdkTelemetry } = await import("./sdk.ts");
    const telemetry = withActiveSpan(startSdkTelemetry(plan, who, activeTraceparent));
    running.add(telemetry);
    who.logger.info("telemetry on", { to: describePlan(plan) });
    return telemetry;
  } catch (err) {
    who.logger.error("telemetry could not be started; running without it", {
      error: err instanceof Error ? err.message : String(err),
    });
    return noTelemetry;
  }
}

// Telemetry for the workers: one small interface whose call sites are a span around an existing step. Off (the
// plan says so: no APPLICATIONINSIGHTS_CONNECTION_STRING, no OTEL_EXPORTER_OTLP_ENDPOINT) it is a no-op and no
// OpenTelemetry module is loaded; on, src/telemetry/sdk.ts is imported on demand. Exporting never blocks or fails
// a task: spans go through bounded batch queues, export errors stay inside the SDK, and shutdown waits at most the
// time it is given.
import { AsyncLocalStorage } from "node:async_hooks";
import { describePlan, type TelemetryPlan } from "./plan.ts";
import type { SpanHandle, Telemetry, TelemetryIdentity } from "./types.ts";

export type { SpanAttributes, SpanHandle, Telemetry, TelemetryIdentity } from "./types.ts";

const NO_SPAN: SpanHandle = { setAttributes: () => {}, traceparent: () => undefined };

export const noTelemetry: Telemetry = {
  enabled: false,
  span: (_name, _attributes, work) => work(NO_SPAN),
  metered: (report) => report,
  shutdown: () => Promise.resolve(),
};

/**
 * The telemetry of one worker process: a no-op when the plan is off, or when the SDK cannot be started (logged;
 * the worker runs on without telemetry).
 */
/** The traceparent of the span the current async call chain runs in (set by `span`, read by the queue sender). */
const current = new AsyncLocalStorage<string | undefined>();

/** W3C traceparent of the innermost recorded span around this call, if any: what a message sent now carries. */
export function activeTraceparent(): string | undefined {
  return current.getStore();
}

/** `telemetry` whose spans make themselves the active span of the work they wrap (see activeTraceparent). */
function withActiveSpan(telemetry: Telemetry): Telemetry {
  return {
    enabled: telemetry.enabled,
    span: (name, attributes, work, parent) =>
      telemetry.span(name, attributes, (s) => current.run(s.traceparent(), () => work(s)), parent),
    metered: (report) => telemetry.metered(report),
    shutdown: (timeoutMs) => telemetry.shutdown(timeoutMs),
  };
}

export async function startTelemetry(plan: TelemetryPlan, who: TelemetryIdentity): Promise<Telemetry> {
  if (!plan.enabled) return noTelemetry;
  try {
    const { startSdkTelemetry } = await import("./sdk.ts");
    const telemetry = withActiveSpan(startSdkTelemetry(plan, who, activeTraceparent));
    who.logger.info("telemetry on", { to: describePlan(plan) });
    return telemetry;
  } catch (err) {
    who.logger.error("telemetry could not be started; running without it", {
      error: err instanceof Error ? err.message : String(err),
    });
    return noTelemetry;
  }
}

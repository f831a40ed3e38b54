// Whether telemetry is on and where it goes, from the configuration alone (no SDK loaded here): on when
// APPLICATIONINSIGHTS_CONNECTION_STRING or OTEL_EXPORTER_OTLP_ENDPOINT is set, off otherwise.

export interface TelemetrySettings {
  APPLICATIONINSIGHTS_CONNECTION_STRING: string;
  OTEL_EXPORTER_OTLP_ENDPOINT: string;
  OTEL_TRACES_SAMPLER_ARG: number;
}

export type TelemetryPlan =
  | { enabled: false }
  | {
    enabled: true;
    /** Application Insights connection string, when traces, metrics and logs go there. */
    appInsights?: string;
    /** OTLP/HTTP signal URLs, when they go to a collector. */
    otlp?: { traces: string; metrics: string; logs: string };
    /** Ratio of root traces kept (children follow their parent's decision). */
    sampleRatio: number;
  };

/** `base` + `/v1/<signal>`, as OTEL_EXPORTER_OTLP_ENDPOINT is defined (the base URL of a collector). */
export function otlpSignalUrl(base: string, signal: "traces" | "metrics" | "logs"): string {
  return `${base.replace(/\/+$/, "")}/v1/${signal}`;
}

export function telemetryPlan(settings: TelemetrySettings): TelemetryPlan {
  const appInsights = settings.APPLICATIONINSIGHTS_CONNECTION_STRING.trim();
  const base = settings.OTEL_EXPORTER_OTLP_ENDPOINT.trim();
  if (!appInsights && !base) return { enabled: false };
  const ratio = settings.OTEL_TRACES_SAMPLER_ARG;
  return {
    enabled: true,
    ...(appInsights ? { appInsights } : {}),
    ...(base
      ? {
        otlp: {
          traces: otlpSignalUrl(base, "traces"),
          metrics: otlpSignalUrl(base, "metrics"),
          logs: otlpSignalUrl(base, "logs"),
        },
      }
      : {}),
    sampleRatio: Number.isFinite(ratio) ? Math.min(Math.max(ratio, 0), 1) : 0.1,
  };
}

/** Where telemetry goes, for the start-up log line: never the connection string (a secret), only its host. */
export function describePlan(plan: TelemetryPlan): string {
  if (!plan.enabled) return "off";
  const parts: string[] = [];
  if (plan.appInsights) {
    const ingestion = /IngestionEndpoint\s*=\s*([^;\s]+)/i.exec(plan.appInsights)?.[1];
    let host = "the default ingestion endpoint";
    try {
      if (ingestion) host = new URL(ingestion).host;
    } catch {
      host = "an unreadable ingestion endpoint";
    }
    parts.push(`Application Insights (${host})`);
  }
  if (plan.otlp) {
    let origin = "an unreadable endpoint";
    try {
      origin = new URL(plan.otlp.traces).origin; // no user info, path or query
    } catch { /* keep the placeholder */ }
    parts.push(`OTLP/HTTP (${origin})`);
  }
  return `${parts.join(" and ")}, ${Math.round(plan.sampleRatio * 1000) / 10} % of traces`;
}

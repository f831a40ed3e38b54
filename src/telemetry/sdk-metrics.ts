// Metrics as OpenTelemetry metrics (imported only when telemetry is on), with the names and labels of /metrics:
// a worker's counters and in-flight gauge as it reports them (metered), and the supervisor's families read at each
// export (observe). Pushed every METRIC_INTERVAL_MS and once on shutdown; failed pushes count their points dropped.
import type { Counter } from "@opentelemetry/api";
import { MeterProvider, PeriodicExportingMetricReader, type PushMetricExporter } from "@opentelemetry/sdk-metrics";
import { OTLPMetricExporter } from "@opentelemetry/exporter-metrics-otlp-http";
import { AzureMonitorMetricExporter } from "@azure/monitor-opentelemetry-exporter";
import type { Resource } from "@opentelemetry/resources";
import { splitLabelledCounter, type WorkerReporter } from "../model/worker-context.ts";
import type { MetricFamily } from "./types.ts";
import { countedMetricExporter, type DropCounter } from "./drops.ts";
import { EXPORT_TIMEOUT_MS, type OnPlan } from "./sdk-logs.ts";

/** How often metrics are pushed (also once on shutdown). */
export const METRIC_INTERVAL_MS = 60_000;

function metricExporters(plan: OnPlan): PushMetricExporter[] {
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

export function meters(plan: OnPlan, resource: Resource, role: string, drops: DropCounter) {
  const provider = new MeterProvider({
    resource,
    readers: metricExporters(plan).map((exporter) =>
      new PeriodicExportingMetricReader({
        exporter: countedMetricExporter(exporter, drops),
        exportIntervalMillis: METRIC_INTERVAL_MS,
        exportTimeoutMillis: EXPORT_TIMEOUT_MS,
      })
    ),
  });
  const meter = provider.getMeter("contentflow-worker");
  const counters = new Map<string, Counter>();
  let inFlight: number | undefined;
  meter.createObservableGauge("contentflow_worker_in_flight", {
    description: "Tasks (processing) or crawls (source) running now",
  }).addCallback((r) => {
    if (inFlight !== undefined) r.observe(inFlight, { role });
  });
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
  const observe = (read: () => MetricFamily[]) => observeFamilies(meter, read);
  return { metered, observe, stop: () => provider.shutdown().catch(() => undefined) };
}

/**
 * The families `read` returns, as observable instruments created on first sight (a gauge per gauge family, a
 * monotonic cumulative counter per counter family). `read` runs at most once per export (its answer is reused by
 * every instrument for a second); a family that first appears at an export is observed from the next one on.
 */
function observeFamilies(meter: ReturnType<MeterProvider["getMeter"]>, read: () => MetricFamily[]): void {
  const known = new Set<string>();
  let families: MetricFamily[] = [];
  let readAt = -Infinity;
  const latest = (): MetricFamily[] => {
    if (Date.now() - readAt < 1000) return families;
    readAt = Date.now();
    try {
      families = read();
    } catch {
      families = [];
    }
    for (const f of families) if (!known.has(f.name)) instrument(f);
    return families;
  };
  const instrument = (f: MetricFamily) => {
    known.add(f.name);
    const options = { description: f.help };
    const observable = f.type === "counter"
      ? meter.createObservableCounter(f.name, options)
      : meter.createObservableGauge(f.name, options);
    observable.addCallback((result) => {
      for (const s of latest().find((x) => x.name === f.name)?.samples ?? []) result.observe(s.value, s.labels);
    });
  };
  latest();
}

// The supervisor's own metrics (worker processes per role, restarts, queue backlog, uptime) described once, as
// metric families: /metrics renders them as Prometheus text, and with telemetry on the supervisor exports the same
// families, names and labels as OpenTelemetry metrics (supervisorTelemetryFamilies).
import type { Supervisor } from "../supervisor/supervisor.ts";
import { labelValue, type WorkerRole } from "../model/worker-context.ts";
import type { BacklogSample } from "../supervisor/backlog-sampler.ts";
import type { MetricFamily, TelemetrySignal } from "../telemetry/types.ts";

const ROLES: WorkerRole[] = ["processing", "source"];

/** Prometheus text of `families` (labels in the order given, values escaped). */
export function renderFamilies(families: MetricFamily[]): string {
  const lines: string[] = [];
  for (const f of families) {
    lines.push(`# HELP ${f.name} ${f.help}`, `# TYPE ${f.name} ${f.type}`);
    for (const s of f.samples) {
      const labels = Object.entries(s.labels).map(([k, v]) => `${k}="${labelValue(v)}"`).join(",");
      lines.push(`${f.name}${labels ? `{${labels}}` : ""} ${s.value}`);
    }
  }
  return lines.length ? lines.join("\n") + "\n" : "";
}

/** Worker processes per role: configured, up, ready, in flight (per role and per process), restarts, kills. */
export function workerFamilies(supervisor: Supervisor): MetricFamily[] {
  const children = supervisor.snapshot();
  const byRole = (f: (role: WorkerRole) => number) => ROLES.map((role) => ({ labels: { role }, value: f(role) }));
  const mine = (r: WorkerRole) => children.filter((c) => c.role === r);
  return [
    {
      name: "contentflow_worker_workers_configured",
      type: "gauge",
      help: "Worker processes configured per role",
      samples: byRole((r) => supervisor.configured(r)),
    },
    {
      name: "contentflow_worker_workers_up",
      type: "gauge",
      help: "Worker processes running per role",
      samples: byRole((r) => mine(r).filter((c) => c.alive).length),
    },
    {
      name: "contentflow_worker_workers_ready",
      type: "gauge",
      help: "Worker processes reporting ready per role",
      samples: byRole((r) => mine(r).filter((c) => c.ready).length),
    },
    {
      name: "contentflow_worker_in_flight",
      type: "gauge",
      help: "Tasks (processing) or crawls (source) running now",
      samples: byRole((r) => mine(r).reduce((a, c) => a + c.in_flight, 0)),
    },
    {
      name: "contentflow_worker_worker_in_flight",
      type: "gauge",
      help: "Tasks (processing) or crawls (source) running now in each worker process",
      samples: children.map((c) => ({ labels: { role: c.role, index: String(c.index) }, value: c.in_flight })),
    },
    {
      name: "contentflow_worker_child_restarts_total",
      type: "counter",
      help: "Worker process restarts per role",
      samples: byRole((r) => mine(r).reduce((a, c) => a + c.restarts, 0)),
    },
    {
      name: "contentflow_worker_hung_worker_kills_total",
      type: "counter",
      help: "Worker processes killed and replaced because their heartbeats stopped (WORKER_HEARTBEAT_TIMEOUT_SECONDS)",
      samples: byRole((r) => mine(r).reduce((a, c) => a + c.heartbeat_kills, 0)),
    },
    {
      name: "contentflow_worker_role_degraded",
      type: "gauge",
      help: "1 when a role's workers are crash-looping",
      samples: byRole((r) => (mine(r).some((c) => c.degraded) ? 1 : 0)),
    },
  ];
}

export function uptimeFamily(supervisor: Supervisor): MetricFamily {
  return {
    name: "contentflow_worker_uptime_seconds",
    type: "gauge",
    help: "Supervisor uptime",
    samples: [{ labels: {}, value: Math.round((Date.now() - supervisor.startedAt) / 1000) }],
  };
}

/** Queue depth and age of the oldest task: the signal to scale VMs on (sampled, see BacklogSampler). */
export function backlogFamilies(sample: BacklogSample | undefined): MetricFamily[] {
  if (!sample) return [];
  const t = sample.taskQueue;
  return [
    {
      name: "contentflow_worker_queue_messages",
      type: "gauge",
      help: "Approximate messages in the task and poison queues (sampled)",
      samples: [
        { labels: { queue: t.name, kind: "tasks" }, value: t.messages },
        { labels: { queue: sample.poisonQueue.name, kind: "poison" }, value: sample.poisonQueue.messages },
      ],
    },
    {
      name: "contentflow_worker_queue_oldest_message_age_seconds",
      type: "gauge",
      help: "Age of the oldest visible task message (sampled)",
      samples: [{ labels: { queue: t.name }, value: t.oldestAgeSeconds ?? 0 }],
    },
    {
      name: "contentflow_worker_queue_sample_age_seconds",
      type: "gauge",
      help: "Seconds since the queue numbers above were read",
      samples: [{ labels: {}, value: Math.round((Date.now() - sample.at) / 1000) }],
    },
  ];
}

/** Families the worker processes export themselves (their own in-flight gauge), left out of the supervisor's. */
const EXPORTED_BY_WORKERS = new Set(["contentflow_worker_in_flight", "contentflow_worker_worker_in_flight"]);

/**
 * What the supervisor exports as OpenTelemetry metrics: its own families (worker processes, restarts, backlog,
 * uptime). The workers' counters are exported by the worker processes (role label and service.instance.id), so
 * they are not repeated here.
 */
export function supervisorTelemetryFamilies(
  supervisor: Supervisor,
  backlog: BacklogSample | undefined,
): MetricFamily[] {
  return [
    ...workerFamilies(supervisor).filter((f) => !EXPORTED_BY_WORKERS.has(f.name)),
    uptimeFamily(supervisor),
    ...backlogFamilies(backlog),
  ];
}

/** The supervisor's own telemetry drops, as samples of contentflow_worker_telemetry_dropped_total. */
export function supervisorDropSamples(dropped: Record<TelemetrySignal, number> | undefined) {
  if (!dropped) return [];
  return (Object.keys(dropped) as TelemetrySignal[]).map((signal) => ({
    labels: `role="supervisor",signal="${signal}"`,
    value: dropped[signal],
  }));
}

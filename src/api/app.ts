// The supervisor's HTTP API: /health (liveness), /ready, /status, /metrics (Prometheus text).
import { Hono } from "hono";
import type { Supervisor } from "../supervisor/supervisor.ts";
import { labelValue, splitLabelledCounter, type WorkerRole } from "../model/worker-context.ts";
import { bearerAuth, requestLimits } from "./auth.ts";
import type { ConnectionInfo } from "../runtime/index.ts";
import { ipInRanges, type IpRange } from "../util/ip-ranges.ts";
import type { BuildInfo } from "../runtime/build-info.ts";
import type { BacklogSample } from "../supervisor/backlog-sampler.ts";
import type { Activity } from "../supervisor/activity.ts";
import { renderStatusPage } from "./status-page.ts";
import {
  backlogFamilies,
  renderFamilies,
  supervisorDropSamples,
  uptimeFamily,
  workerFamilies,
} from "./metric-families.ts";
import type { TelemetrySignal } from "../telemetry/types.ts";
import { telemetryDropped } from "../telemetry/index.ts";

export interface ApiOptions {
  supervisor: Supervisor;
  workerName: string;
  version: string;
  /** Commit, build date, target and runtime of this executable (shown on /health and as a /metrics gauge). */
  build?: BuildInfo;
  apiToken?: string;
  /** Counter history and recent failures for the status page at `/`. */
  activity?: Activity;
  /** The newest queue backlog sample (BacklogSampler), for /status and /metrics; none when sampling is off. */
  backlog?: () => BacklogSample | undefined;
  /**
   * Client addresses (API_OPEN_STATUS_FROM) that may read /status without the token while `apiToken` is set; they
   * get `contentflowStatus` only, the part the ContentFlow API's health check reads.
   */
  openStatusFrom?: readonly IpRange[];
}

/** Hono `env` of a request: what the server knows about the connection (src/runtime serve()). */
type ApiEnv = { Bindings: ConnectionInfo };

/** One role in the Python worker's /status shape (contentflow-worker app/engine.py get_status). */
export interface PythonRoleStatus {
  configured: number;
  active: number;
  workers: Array<{ id: number; pid: number | null; alive: boolean }>;
}

/**
 * The fields of the Python worker's /status that the ContentFlow API reads (contentflow-api
 * app/services/health_service.py: running, worker_name, timestamp, processing_workers, source_workers).
 */
export function contentflowStatus(supervisor: Supervisor, workerName: string): {
  worker_name: string;
  running: boolean;
  timestamp: string;
  processing_workers: PythonRoleStatus;
  source_workers: PythonRoleStatus;
} {
  const children = supervisor.snapshot();
  const role = (r: WorkerRole): PythonRoleStatus => {
    const mine = children.filter((w) => w.role === r);
    return {
      configured: supervisor.configured(r),
      active: mine.filter((w) => w.alive).length,
      workers: mine.map((w) => ({ id: w.index, pid: w.pid, alive: w.alive })),
    };
  };
  return {
    worker_name: workerName,
    running: !supervisor.draining,
    timestamp: new Date().toISOString(),
    processing_workers: role("processing"),
    source_workers: role("source"),
  };
}

/** Queue depth and age of the oldest task: the signal to scale VMs on (sampled, see BacklogSampler). */
export function backlogMetrics(sample: BacklogSample | undefined): string {
  return renderFamilies(backlogFamilies(sample));
}

export function buildInfoMetric(build: BuildInfo): string {
  const labels = (["version", "commit", "target", "runtime"] as const)
    .map((k) => `${k}="${labelValue(build[k])}"`)
    .join(",");
  return "# HELP contentflow_worker_build_info Version, git commit, target and runtime of this executable.\n" +
    "# TYPE contentflow_worker_build_info gauge\n" +
    `contentflow_worker_build_info{${labels}} 1\n`;
}

const ROLES: WorkerRole[] = ["processing", "source"];

export function readiness(supervisor: Supervisor): { ready: boolean; reasons: string[]; degraded: WorkerRole[] } {
  const reasons: string[] = [];
  const degraded: WorkerRole[] = [];
  if (supervisor.draining) reasons.push("shutting down");
  const children = supervisor.snapshot();
  for (const role of ROLES) {
    const mine = children.filter((c) => c.role === role);
    if (mine.some((c) => c.degraded)) {
      degraded.push(role);
      reasons.push(`${role} workers are crash-looping`);
    }
    for (const c of mine) {
      if (!c.alive) reasons.push(`${role}-${c.index} is not running`);
      else if (!c.ready) reasons.push(`${role}-${c.index} is not ready${c.reason ? `: ${c.reason}` : ""}`);
    }
  }
  return { ready: reasons.length === 0, reasons, degraded };
}

/** Help texts of counters whose meaning is not plain from the name. */
const COUNTER_HELP: Record<string, string> = {
  contentflow_worker_ai_tokens_total:
    "Azure AI tokens used by executors, by executor type and kind (prompt, completion, embedding)",
  contentflow_worker_telemetry_dropped_total:
    "Spans (signal traces), log records (logs) and metric points (metrics) telemetry dropped: export failed or its " +
    "queue was full, per process role",
};

function metricName(counter: string): string {
  return `contentflow_worker_${counter.replace(/[^a-zA-Z0-9_]/g, "_")}`;
}

/**
 * /metrics' worker-process and counter families; `telemetryDropped` (this process's telemetry, when on) adds the
 * supervisor's drops to contentflow_worker_telemetry_dropped_total beside the workers'.
 */
export function prometheusText(
  supervisor: Supervisor,
  telemetryDropped?: Record<TelemetrySignal, number>,
): string {
  const lines: string[] = [renderFamilies(workerFamilies(supervisor)).trimEnd()];
  const family = (name: string, type: "counter" | "gauge", help: string, samples: Array<[string, number]>) => {
    lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) lines.push(`${name}${labels} ${value}`);
  };
  const totals = supervisor.counterTotals();
  // Counters may carry labels (labelledCounter); one family per name, the role label first.
  const families = new Map<string, Array<[string, number]>>();
  const baseNames = new Map<string, string>();
  for (const role of ROLES) {
    for (const [counter, value] of Object.entries(totals[role])) {
      const { name: base, labels } = splitLabelledCounter(counter);
      const name = metricName(base.endsWith("_total") ? base : `${base}_total`);
      baseNames.set(name, base);
      const samples = families.get(name) ?? [];
      samples.push([`{role="${role}"${labels ? `,${labels}` : ""}}`, value]);
      families.set(name, samples);
    }
  }
  for (const { labels, value } of supervisorDropSamples(telemetryDropped)) {
    const name = "contentflow_worker_telemetry_dropped_total";
    baseNames.set(name, "telemetry_dropped_total");
    families.set(name, [...(families.get(name) ?? []), [`{${labels}}`, value]]);
  }
  for (const name of [...families.keys()].sort()) {
    const samples = families.get(name)!.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    const help = COUNTER_HELP[name] ?? `Worker counter ${baseNames.get(name)}, summed over the role's processes`;
    family(name, "counter", help, samples);
  }
  lines.push(renderFamilies([uptimeFamily(supervisor)]).trimEnd());
  return lines.join("\n") + "\n";
}

/** The status page's numbers, from the same sources as /status and /metrics. */
function statusPage(opts: ApiOptions): string {
  const { supervisor } = opts;
  const r = readiness(supervisor);
  const children = supervisor.snapshot();
  return renderStatusPage({
    workerName: opts.workerName,
    version: opts.version,
    commit: opts.build?.commit,
    uptimeSeconds: (Date.now() - supervisor.startedAt) / 1000,
    state: supervisor.draining ? "stopping" : r.degraded.length ? "degraded" : "running",
    ready: r.ready,
    reasons: r.reasons,
    roles: ROLES.map((role) => {
      const workers = children.filter((w) => w.role === role);
      return { role, configured: supervisor.configured(role), degraded: workers.some((w) => w.degraded), workers };
    }),
    counters: supervisor.counterTotals(),
    backlog: opts.backlog?.(),
    history: opts.activity?.history() ?? [],
    failures: opts.activity?.recentFailures() ?? [],
    refreshSeconds: 5,
  });
}

function backlogStatus(sample: BacklogSample | undefined) {
  if (!sample) return null;
  return {
    sampled_at: new Date(sample.at).toISOString(),
    task_queue: {
      name: sample.taskQueue.name,
      messages: sample.taskQueue.messages,
      oldest_message_age_seconds: sample.taskQueue.oldestAgeSeconds,
    },
    poison_queue: { name: sample.poisonQueue.name, messages: sample.poisonQueue.messages },
  };
}

/**
 * Whether a request's Accept header prefers the HTML status page: `text/html` (or `text/*`) listed with a quality
 * above 0 and at least that of `application/json`. Probes, curl and the ContentFlow API send no Accept, `*\/*` or
 * `application/json` and get the service index; browsers list `text/html` first and get the page.
 */
export function wantsHtml(accept: string | undefined): boolean {
  if (!accept) return false;
  let html = 0;
  let json = 0;
  for (const part of accept.slice(0, 4096).split(",")) {
    const [type, ...params] = part.trim().toLowerCase().split(";");
    const qParam = params.map((p) => p.trim()).find((p) => p.startsWith("q="));
    const parsed = qParam === undefined ? 1 : Number(qParam.slice(2));
    const q = Number.isFinite(parsed) ? Math.min(Math.max(parsed, 0), 1) : 0;
    const t = type.trim();
    if (t === "text/html") html = Math.max(html, q);
    else if (t === "text/*") html = Math.max(html, q * 0.999);
    else if (t === "application/json") json = Math.max(json, q);
  }
  return html > 0 && html >= json;
}

/**
 * `/`'s JSON for clients that do not ask for HTML: the Python worker's open answer (`service`, `version`,
 * `worker_name`; contentflow-worker app/api.py), which the reference Container App's liveness probe reads, plus
 * the endpoint list.
 */
function serviceIndex(opts: { workerName: string; version: string }) {
  return {
    service: "contentflow-worker",
    worker_name: opts.workerName,
    version: opts.version,
    endpoints: ["/", "/health", "/ready", "/status", "/metrics"],
  };
}

/** /health's answer (liveness: the process is up), the same while starting and once the workers run. */
function healthBody(opts: { workerName: string; version: string; build?: BuildInfo }, startedAt: number) {
  return {
    status: "healthy",
    timestamp: new Date().toISOString(),
    worker_name: opts.workerName,
    version: opts.version,
    ...(opts.build ? { build: opts.build } : {}),
    uptime_seconds: Math.round((Date.now() - startedAt) / 1000),
  };
}

export interface StartingApiOptions {
  workerName: string;
  version: string;
  build?: BuildInfo;
  startedAt: number;
  /** Why the workers have not started yet (App Configuration cannot be read: which store, what failed). */
  reason: () => string;
}

/**
 * The API while the supervisor waits for its configuration (App Configuration unreachable at start): /health and
 * / answer 200 (the process is alive and retrying), /ready and /status answer 503 with the reason, /metrics 503.
 * Nothing here depends on settings the store may still change, so no token is involved: only the reason is shown,
 * as /ready always shows its reasons.
 */
export function createStartingApi(opts: StartingApiOptions): Hono<ApiEnv> {
  const app = new Hono<ApiEnv>();
  app.use("*", requestLimits({ maxBodyBytes: 64 * 1024, timeoutMs: 10_000 }));
  const uptime = () => Math.round((Date.now() - opts.startedAt) / 1000);
  // `/` is a liveness probe path too (the reference Container App's): 200 while the process waits and retries.
  app.get("/", (c) => c.json({ ...serviceIndex(opts), status: "starting", reasons: [opts.reason()] }));
  app.get("/health", (c) => c.json({ ...healthBody(opts, opts.startedAt), starting: true }));
  const notReady = { ready: false, status: "starting", degraded_roles: [] };
  app.get("/ready", (c) => c.json({ ...notReady, reasons: [opts.reason()] }, 503));
  app.get("/status", (c) =>
    c.json({
      running: false,
      worker_name: opts.workerName,
      timestamp: new Date().toISOString(),
      processing_workers: { configured: 0, active: 0, workers: [] },
      source_workers: { configured: 0, active: 0, workers: [] },
      status: "starting",
      version: opts.version,
      uptime_seconds: uptime(),
      ready: false,
      reasons: [opts.reason()],
    }, 503));
  app.get("/metrics", (c) => c.text(`# starting: ${opts.reason().replace(/\s+/g, " ")}\n`, 503));
  return app;
}

export function createApi(opts: ApiOptions): Hono<ApiEnv> {
  const { supervisor } = opts;
  const app = new Hono<ApiEnv>();
  app.use("*", requestLimits({ maxBodyBytes: 64 * 1024, timeoutMs: 10_000 }));
  if (opts.apiToken) {
    const tokenRequired = bearerAuth(opts.apiToken);
    const openFrom = opts.openStatusFrom ?? [];
    app.use("/status", async (c, next) => {
      // A request without credentials from an allowed address gets the ContentFlow API's summary; one that sends
      // a token is always checked (a wrong token is refused even from an allowed address).
      if (!c.req.header("authorization") && ipInRanges(c.env?.remoteAddress, openFrom)) {
        c.header("Cache-Control", "no-store");
        return c.json(contentflowStatus(supervisor, opts.workerName));
      }
      return await tokenRequired(c, next);
    });
    app.use("/metrics", tokenRequired);
  }
  // `/`: the status page for browsers (same auth as /status), the service index as JSON for everything else.
  app.get("/", async (c) => {
    if (!wantsHtml(c.req.header("accept"))) return c.json(serviceIndex(opts));
    const page = () => {
      c.header("Cache-Control", "no-store");
      return c.html(statusPage(opts));
    };
    if (!opts.apiToken) return page();
    // The token check alone: calling `next` here would hand the request on to no handler (a 404).
    let allowed = false;
    const denied = await bearerAuth(opts.apiToken)(c, () => {
      allowed = true;
      return Promise.resolve();
    });
    return allowed ? page() : denied;
  });
  app.get("/health", (c) => c.json(healthBody(opts, supervisor.startedAt)));
  app.get("/ready", (c) => {
    const r = readiness(supervisor);
    return c.json({
      ready: r.ready,
      status: r.ready ? "ready" : r.degraded.length ? "degraded" : "not_ready",
      reasons: r.reasons,
      degraded_roles: r.degraded,
    }, r.ready ? 200 : 503);
  });
  app.get("/status", (c) => {
    const children = supervisor.snapshot();
    const r = readiness(supervisor);
    const workers: Record<string, unknown> = {};
    for (const role of ROLES) {
      const mine = children.filter((w) => w.role === role);
      workers[role] = {
        configured: supervisor.configured(role),
        active: mine.filter((w) => w.alive).length,
        degraded: mine.some((w) => w.degraded),
        hung_worker_kills: mine.reduce((a, w) => a + w.heartbeat_kills, 0),
        workers: mine,
      };
    }
    return c.json({
      ...contentflowStatus(supervisor, opts.workerName),
      status: supervisor.draining ? "stopping" : r.degraded.length ? "degraded" : "running",
      version: opts.version,
      uptime_seconds: Math.round((Date.now() - supervisor.startedAt) / 1000),
      ready: r.ready,
      workers,
      counters: supervisor.counterTotals(),
      backlog: backlogStatus(opts.backlog?.()),
    });
  });
  app.get(
    "/metrics",
    (c) =>
      c.text(
        prometheusText(supervisor, telemetryDropped()) + backlogMetrics(opts.backlog?.()) +
          (opts.build ? buildInfoMetric(opts.build) : ""),
        200,
        {
          "content-type": "text/plain; version=0.0.4; charset=utf-8",
        },
      ),
  );
  return app;
}

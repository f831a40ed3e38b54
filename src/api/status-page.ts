// The status page at `/` of the API: plain server-rendered HTML, no script, no external assets, an inline SVG chart,
// refreshed by the browser every few seconds. Everything shown is escaped (worker messages may quote task data).
import type { ChildSnapshot } from "../supervisor/supervisor.ts";
import type { BacklogSample } from "../supervisor/backlog-sampler.ts";
import { type CounterPoint, ratesPerSecond, type RecentFailure } from "../supervisor/activity.ts";

export interface StatusPageInput {
  workerName: string;
  version: string;
  commit?: string;
  uptimeSeconds: number;
  state: "running" | "degraded" | "stopping";
  ready: boolean;
  reasons: string[];
  roles: Array<{ role: string; configured: number; degraded: boolean; workers: ChildSnapshot[] }>;
  counters: Record<string, Record<string, number>>;
  backlog?: BacklogSample;
  history: readonly CounterPoint[];
  failures: RecentFailure[];
  refreshSeconds: number;
  now?: number;
}

export function escapeHtml(value: unknown): string {
  return String(value ?? "").replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function duration(seconds: number): string {
  if (seconds < 120) return `${Math.round(seconds)} s`;
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} d`;
}

/** An SVG line chart of processed (and failed) tasks per second; the y axis starts at 0. */
export function throughputChart(history: readonly CounterPoint[], width = 640, height = 160): string {
  const rates = ratesPerSecond(history);
  if (rates.length < 2) {
    return `<p class="muted" id="chart-empty">The chart appears after the first samples (every few seconds).</p>`;
  }
  const max = Math.max(1, ...rates.map((r) => Math.max(r.processed, r.failed)));
  const t0 = rates[0].at;
  const span = Math.max(1, rates[rates.length - 1].at - t0);
  const pad = 30;
  const x = (at: number) => (pad + ((at - t0) / span) * (width - pad - 5)).toFixed(1);
  const y = (v: number) => (height - 20 - (v / max) * (height - 30)).toFixed(1);
  const line = (pick: (r: { processed: number; failed: number }) => number) =>
    rates.map((r, i) => `${i ? "L" : "M"}${x(r.at)},${y(pick(r))}`).join(" ");
  const minutes = Math.round(span / 60000);
  return `<svg id="throughput-chart" role="img" aria-label="tasks per second" width="${width}" height="${height}"
  viewBox="0 0 ${width} ${height}" xmlns="http://www.w3.org/2000/svg">
  <line x1="${pad}" y1="${height - 20}" x2="${width - 5}" y2="${height - 20}" stroke="#999"/>
  <line x1="${pad}" y1="10" x2="${pad}" y2="${height - 20}" stroke="#999"/>
  <text x="2" y="16" font-size="11">${escapeHtml(max.toFixed(max < 10 ? 1 : 0))}</text>
  <text x="2" y="${height - 22}" font-size="11">0</text>
  <text x="${pad}" y="${height - 4}" font-size="11">${minutes > 0 ? `last ${minutes} min` : "last minute"}</text>
  <path d="${line((r) => r.processed)}" fill="none" stroke="#2a7" stroke-width="2"/>
  <path d="${line((r) => r.failed)}" fill="none" stroke="#c33" stroke-width="1.5"/>
</svg>
<p class="muted"><span style="color:#2a7">■</span> completed/s <span style="color:#c33">■</span> failed attempts/s</p>`;
}

function workerRows(workers: ChildSnapshot[]): string {
  if (workers.length === 0) return `<tr><td colspan="8" class="muted">none configured</td></tr>`;
  return workers.map((w) => {
    const state = !w.alive ? "down" : w.ready ? "ready" : "not ready";
    const lastExit = w.last_exit
      ? `${w.last_exit.signal ?? `exit ${w.last_exit.code}`}${w.last_exit.reason ? ` (${w.last_exit.reason})` : ""}`
      : "";
    return `<tr class="worker ${state.replace(" ", "-")}" data-role="${escapeHtml(w.role)}" data-index="${w.index}">
  <td class="nowrap">${escapeHtml(w.role)}-${w.index}</td><td>${escapeHtml(w.pid ?? "-")}</td>
  <td class="state">${escapeHtml(state)}${w.reason ? `: ${escapeHtml(w.reason)}` : ""}</td>
  <td class="in-flight">${w.in_flight}</td><td class="restarts">${w.restarts}</td>
  <td class="nowrap">${w.alive ? escapeHtml(duration(w.uptime_seconds)) : "-"}</td><td>${escapeHtml(lastExit)}</td>
  <td>${w.next_restart_in_ms !== null ? `restart in ${Math.ceil(w.next_restart_in_ms / 1000)} s` : ""}</td></tr>`;
  }).join("\n");
}

export function renderStatusPage(input: StatusPageInput): string {
  const processed = input.counters.processing?.tasks_processed_total ?? 0;
  const failedAttempts = input.counters.processing?.tasks_failed_total ?? 0;
  const poisoned = input.counters.processing?.tasks_poisoned_total ?? 0;
  const rates = ratesPerSecond(input.history);
  const recent = rates.slice(-6);
  const perSecond = recent.length ? recent.reduce((a, r) => a + r.processed, 0) / recent.length : 0;
  const b = input.backlog;
  const roles = input.roles.map((r) => {
    const running = r.configured === 0 && r.workers.length === 0
      ? "not configured"
      : `${r.workers.filter((w) => w.alive).length} of ${r.configured} running`;
    return `<h3 class="role ${r.degraded ? "degraded" : ""}" data-role="${escapeHtml(r.role)}">${
      escapeHtml(r.role)
    }: ${running}${r.degraded ? ` <span class="badge bad">degraded: crash-looping</span>` : ""}</h3>`;
  }).join("\n");
  const failures = input.failures.length
    ? input.failures.map((f) =>
      `<tr class="failure"><td class="nowrap">${escapeHtml(f.time.replace("T", " ").replace(/\.\d+Z$/, "Z"))}</td>
  <td class="nowrap">${escapeHtml(f.role)}${f.index !== null ? `-${f.index}` : ""}</td><td class="message">${
        escapeHtml(f.message)
      }</td>
  <td>${escapeHtml(f.reason ?? "")}</td><td>${escapeHtml(f.pipeline_id ?? "")}</td><td>${
        escapeHtml(f.execution_id ?? "")
      }</td></tr>`
    ).join("\n")
    : `<tr><td colspan="6" class="muted">no failures since the supervisor started</td></tr>`;
  const stateClass = input.state === "running" && input.ready ? "good" : "bad";
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="refresh" content="${input.refreshSeconds}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(input.workerName)} — contentflow-worker</title>
<style>
body{font:14px/1.4 system-ui,sans-serif;margin:1.5em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border-bottom:1px solid #ddd;padding:.3em .6em;text-align:left}
.badge{padding:.1em .5em;border-radius:.6em;color:#fff;font-size:12px}.good{background:#2a7}.bad{background:#c33}
.muted{color:#777}.numbers td{font-size:18px}td.nowrap{white-space:nowrap}#failures td.message{max-width:40em}h3.degraded{color:#c33}tr.down td.state,tr.not-ready td.state{color:#c33}
</style></head>
<body>
<h1>${escapeHtml(input.workerName)} <span id="overall" class="badge ${stateClass}">${
    escapeHtml(input.state === "running" && !input.ready ? "not ready" : input.state)
  }</span></h1>
<p class="muted">contentflow-worker ${escapeHtml(input.version)}${
    input.commit ? ` (${escapeHtml(input.commit.slice(0, 12))})` : ""
  } · up ${escapeHtml(duration(input.uptimeSeconds))} · refreshes every ${input.refreshSeconds} s</p>
${input.reasons.length ? `<ul id="reasons">${input.reasons.map((r) => `<li>${escapeHtml(r)}</li>`).join("")}</ul>` : ""}
<table class="numbers"><tr><th>tasks/s (last minute)</th><th>completed</th><th>failed attempts</th><th>set aside (poison)</th>
<th>queued</th><th>oldest queued</th><th>poison queue</th></tr>
<tr><td id="tasks-per-second">${perSecond.toFixed(1)}</td><td id="tasks-processed">${processed}</td>
<td id="tasks-failed">${failedAttempts}</td><td id="tasks-poisoned">${poisoned}</td>
<td id="queue-depth">${b ? b.taskQueue.messages : "-"}</td>
<td id="queue-oldest">${
    b?.taskQueue.oldestAgeSeconds != null ? escapeHtml(duration(b.taskQueue.oldestAgeSeconds)) : "-"
  }</td>
<td id="poison-depth">${b ? b.poisonQueue.messages : "-"}</td></tr></table>
<h2>Throughput</h2>
${throughputChart(input.history)}
<h2>Workers</h2>
${roles}
<table id="workers"><tr><th>worker</th><th>pid</th><th>state</th><th>in flight</th><th>restarts</th><th>uptime</th>
<th>last exit</th><th></th></tr>
${workerRows(input.roles.flatMap((r) => r.workers))}
</table>
<h2>Recent failures</h2>
<table id="failures"><tr><th>time</th><th>worker</th><th>what</th><th>reason</th><th>pipeline</th><th>execution</th></tr>
${failures}
</table>
<p class="muted">Machine-readable: <a href="/status">/status</a> · <a href="/metrics">/metrics</a> · <a href="/ready">/ready</a></p>
</body></html>
`;
}

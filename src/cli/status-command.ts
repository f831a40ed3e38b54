// `contentflow-worker status`: asks a running supervisor's HTTP API for /status and prints a table per worker.
import process from "node:process";
import * as v from "valibot";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import type { Config } from "../config/schema.ts";

const HELP = `Usage: contentflow-worker status [--url URL] [--token TOKEN] [--json] [--env-file PATH]

Shows the workers of a running contentflow-worker: role, worker id, pid, alive, ready, restarts, uptime and
tasks in flight, with totals. Reads GET <url>/status from the supervisor's HTTP API.

Options:
  --url URL         API base URL (default: http://127.0.0.1:<API_PORT>, or API_HOST when it names one address)
  --token TOKEN     bearer token for the API (default: API_TOKEN from the configuration; prefer that or
                    --env-file, since command-line arguments are visible to other users in ps)
  --json            print the API's JSON as it is
  --timeout SEC     how long to wait for the API (default 5)
  --env-file PATH   read this env file instead of ./.env, as systemd's EnvironmentFile= reads it
                    (e.g. sudo ... --env-file /etc/contentflow-worker/env)
  -h, --help        show this help

Exit codes: 0 running and every worker alive and ready; 3 the status was read but the supervisor is degraded,
starting or stopping, or a worker is not alive or not ready (the reason goes to stderr); 1 the API is
unreachable, refused the token or answered something else.`;

/** Exit code of `status` when the answer says not every worker is up and ready (as `systemctl status`'s 3). */
export const EXIT_NOT_READY = 3;

// Tolerant on purpose: the API may add fields, and the Python worker's shape is accepted too.
const optionalNumber = v.optional(v.fallback(v.nullable(v.number()), null), null);
const optionalBoolean = v.optional(v.fallback(v.nullable(v.boolean()), null), null);

const WorkerSchema = v.looseObject({
  id: v.optional(v.fallback(v.nullable(v.union([v.string(), v.number()])), null), null),
  pid: optionalNumber,
  alive: optionalBoolean,
  ready: optionalBoolean,
  restarts: optionalNumber,
  uptime_seconds: optionalNumber,
  in_flight: optionalNumber,
});

const RoleSchema = v.looseObject({
  configured: optionalNumber,
  active: optionalNumber,
  workers: v.optional(v.fallback(v.array(v.unknown()), []), []),
});

export interface WorkerRow {
  role: string;
  id: string;
  pid: number | null;
  alive: boolean | null;
  ready: boolean | null;
  restarts: number | null;
  uptimeSeconds: number | null;
  inFlight: number | null;
}

export interface StatusSummary {
  status: string | null;
  workerName: string | null;
  timestamp: string | null;
  roles: Array<{ role: string; configured: number | null; active: number | null }>;
  workers: WorkerRow[];
}

function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

function firstNumber(...values: unknown[]): number | null {
  for (const x of values) if (typeof x === "number" && Number.isFinite(x)) return x;
  return null;
}

/**
 * Reads both shapes: ours `{status, workers: {<role>: {configured, active, workers: [...]}}}` and the Python
 * worker's `{running, processing_workers: {...}, source_workers: {...}}`.
 */
export function summarizeStatus(body: unknown): StatusSummary {
  const root = asRecord(body);
  if (!root) throw new Error("the /status response is not a JSON object");
  const groups = new Map<string, unknown>();
  const nested = asRecord(root.workers);
  if (nested) { for (const [role, group] of Object.entries(nested)) if (asRecord(group)) groups.set(role, group); }
  for (const [key, group] of Object.entries(root)) {
    const m = /^(.+)_workers$/.exec(key);
    if (m && asRecord(group) && !groups.has(m[1])) groups.set(m[1], group);
  }
  const roles: StatusSummary["roles"] = [];
  const workers: WorkerRow[] = [];
  for (const [role, rawGroup] of groups) {
    const group = v.parse(RoleSchema, rawGroup);
    roles.push({ role, configured: group.configured, active: group.active });
    group.workers.forEach((rawWorker, index) => {
      const parsed = v.safeParse(WorkerSchema, rawWorker);
      if (!parsed.success) return;
      const w = parsed.output as v.InferOutput<typeof WorkerSchema> & Record<string, unknown>;
      workers.push({
        role,
        id: w.id === null ? String(index) : String(w.id),
        pid: w.pid,
        alive: w.alive,
        ready: w.ready,
        restarts: w.restarts,
        uptimeSeconds: firstNumber(w.uptime_seconds, w.uptimeSeconds, w.uptime),
        inFlight: firstNumber(w.in_flight, w.inFlight),
      });
    });
  }
  const status = typeof root.status === "string"
    ? root.status
    : typeof root.running === "boolean"
    ? (root.running ? "running" : "stopped")
    : null;
  return {
    status,
    workerName: typeof root.worker_name === "string" ? root.worker_name : null,
    timestamp: typeof root.timestamp === "string" ? root.timestamp : null,
    roles,
    workers,
  };
}

/**
 * Why the status is not healthy: a supervisor state other than running (degraded, starting, stopping, stopped), a
 * worker not alive or not ready, or fewer workers reported than configured. Undefined when all is well. Workers of
 * the Python worker's shape have no `ready`: there only `alive` counts.
 */
export function unhealthyReason(summary: StatusSummary): string | undefined {
  const problems: string[] = [];
  if (summary.status !== null && summary.status !== "running" && summary.status !== "ready") {
    problems.push(`status ${summary.status}`);
  }
  const total = summary.workers.length;
  const up = summary.workers.filter((w) => w.alive !== false && w.ready !== false).length;
  if (up < total) problems.push(`${up} of ${total} worker(s) alive and ready`);
  const configured = summary.roles.reduce((a, r) => a + (r.configured ?? 0), 0);
  if (configured > total) problems.push(`${total} of ${configured} configured worker(s) reported`);
  return problems.length ? problems.join("; ") : undefined;
}

/** 75 → "1m15s", 3725 → "1h02m", 90000 → "1d01h". */
export function formatDuration(seconds: number | null): string {
  if (seconds === null || seconds < 0) return "-";
  const s = Math.floor(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, "0")}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, "0")}h`;
}

const yesNo = (b: boolean | null) => (b === null ? "-" : b ? "yes" : "no");
const num = (n: number | null) => (n === null ? "-" : String(n));

export function renderStatusTable(summary: StatusSummary, url: string): string {
  const head = [
    `status: ${summary.status ?? "unknown"}`,
    summary.workerName ? `worker ${summary.workerName}` : "",
    url,
    summary.timestamp ?? "",
  ].filter(Boolean).join("  ");
  const header = ["ROLE", "WORKER", "PID", "ALIVE", "READY", "RESTARTS", "UPTIME", "IN-FLIGHT"];
  const rows = summary.workers.map((w) => [
    w.role,
    w.id,
    num(w.pid),
    yesNo(w.alive),
    yesNo(w.ready),
    num(w.restarts),
    formatDuration(w.uptimeSeconds),
    num(w.inFlight),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i])).join("  ").trimEnd();
  const sum = (pick: (w: WorkerRow) => number | null) => summary.workers.reduce((acc, w) => acc + (pick(w) ?? 0), 0);
  const count = (pick: (w: WorkerRow) => boolean | null) => summary.workers.filter((w) => pick(w) === true).length;
  const perRole = summary.roles
    .map((r) =>
      `${r.role} ${r.active ?? summary.workers.filter((w) => w.role === r.role && w.alive).length}/${
        r.configured ?? "?"
      }`
    )
    .join(", ");
  const total =
    `total: ${summary.workers.length} worker(s), ${count((w) => w.alive)} alive, ${count((w) => w.ready)} ready, ` +
    `${sum((w) => w.restarts)} restart(s), ${sum((w) => w.inFlight)} in flight` +
    (perRole ? ` (active/configured: ${perRole})` : "");
  const table = rows.length ? [line(header), ...rows.map(line)] : ["(no workers reported)"];
  return [head, ...table, total].join("\n") + "\n";
}

const WILDCARD_HOSTS = new Set(["", "0.0.0.0", "::", "[::]", "*"]);

/** The API as reachable from this machine: loopback when it binds all interfaces. */
export function defaultStatusUrl(config: Pick<Config, "API_HOST" | "API_PORT">): string {
  const host = WILDCARD_HOSTS.has(config.API_HOST.trim()) ? "127.0.0.1" : config.API_HOST.trim();
  const shown = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return `http://${shown}:${config.API_PORT}`;
}

function reason(err: unknown): string {
  const e = err as { name?: string; message?: string; cause?: { code?: string; message?: string }; code?: string };
  if (e?.name === "TimeoutError" || e?.name === "AbortError") return "no answer in time";
  const code = e?.cause?.code ?? e?.code;
  const message = e?.cause?.message ?? e?.message ?? String(err);
  return code && !message.includes(code) ? `${message} (${code})` : message;
}

export interface StatusIO {
  loadConfig(envFile?: string): Promise<Config>;
  fetch(url: string, init: RequestInit): Promise<Response>;
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIO: StatusIO = {
  loadConfig: async (envFile) => (await loadEffectiveConfig(envFile)).config,
  fetch: (url, init) => fetch(url, init),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

export async function runStatus(argv: string[], io: StatusIO = processIO): Promise<number> {
  const { flags } = parseArgs(argv, {
    url: "string",
    token: "string",
    json: "boolean",
    timeout: "string",
    "env-file": "string",
  });
  const timeoutSeconds = flags.timeout === undefined ? 5 : Number(flags.timeout);
  if (!Number.isFinite(timeoutSeconds) || timeoutSeconds <= 0) {
    throw new UsageError("--timeout must be a positive number of seconds");
  }
  let base = flags.url as string | undefined;
  let token = flags.token as string | undefined;
  if (base === undefined || token === undefined) {
    const config = await io.loadConfig(flags["env-file"] as string | undefined);
    base ??= defaultStatusUrl(config);
    token ??= config.API_TOKEN || undefined;
  }
  if (!/^https?:\/\/[^\s/]+/i.test(base)) throw new UsageError(`--url must be an http(s) URL, got '${base}'`);
  const url = `${base.replace(/\/+$/, "")}/status`;
  const fail = (message: string) => {
    io.stderr(`contentflow-worker status: ${message}\n`);
    return EXIT_FAILURE;
  };

  let response: Response;
  try {
    response = await io.fetch(url, {
      headers: { Accept: "application/json", ...(token ? { Authorization: `Bearer ${token}` } : {}) },
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
  } catch (err) {
    return fail(
      `cannot reach the API at ${url}: ${reason(err)} (is the service running? check API_ENABLED, API_HOST, API_PORT)`,
    );
  }
  let text: string;
  try {
    text = await response.text();
  } catch (err) {
    return fail(`reading the answer from ${url} failed: ${reason(err)}`);
  }
  if (response.status === 401 || response.status === 403) {
    return fail(
      token
        ? `the API at ${url} rejected the token (HTTP ${response.status}); check --token or API_TOKEN`
        : `the API at ${url} requires a token (HTTP ${response.status}): pass --token or set API_TOKEN (e.g. --env-file /etc/contentflow-worker/env)`,
    );
  }
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return fail(
      `the API at ${url} answered HTTP ${response.status} with something that is not JSON: ${
        text.slice(0, 120).trim()
      }`,
    );
  }
  if (flags.json) {
    io.stdout(JSON.stringify(body, null, 2) + "\n");
    if (!response.ok) return EXIT_FAILURE;
    let unhealthy: string | undefined;
    try {
      unhealthy = unhealthyReason(summarizeStatus(body));
    } catch { /* printed as it is; not our shape */ }
    return unhealthy ? EXIT_NOT_READY : EXIT_OK;
  }
  let summary: StatusSummary;
  try {
    summary = summarizeStatus(body);
  } catch (err) {
    return fail(`unexpected /status answer (HTTP ${response.status}): ${(err as Error).message}`);
  }
  if (!response.ok && summary.workers.length === 0) {
    const error = asRecord(body)?.error;
    return fail(`the API at ${url} answered HTTP ${response.status}${typeof error === "string" ? `: ${error}` : ""}`);
  }
  io.stdout(renderStatusTable(summary, base));
  if (!response.ok) {
    io.stderr(`contentflow-worker status: the API answered HTTP ${response.status}\n`);
    return EXIT_FAILURE;
  }
  const unhealthy = unhealthyReason(summary);
  if (unhealthy) {
    io.stderr(`contentflow-worker status: not healthy: ${unhealthy}\n`);
    return EXIT_NOT_READY;
  }
  return EXIT_OK;
}

export const statusCommand: Command = {
  name: "status",
  summary: "Show the workers of a running contentflow-worker (from its HTTP API)",
  help: HELP,
  run: (argv) => runStatus(argv),
};

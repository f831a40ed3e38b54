import { afterEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { resolve } from "node:path";
import { Supervisor } from "../../src/supervisor/supervisor.ts";
import { createApi, readiness } from "../../src/api/app.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { classifyChildLine } from "../../src/supervisor/ipc.ts";
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { createInterface } from "node:readline";
import { sleep } from "../helpers/wait.ts";

declare const Deno: any;
const FIXTURE = resolve(import.meta.dirname ?? ".", "../fixtures/fake-worker.ts");
const FAKE_PARENT = resolve(import.meta.dirname ?? ".", "../fixtures/fake-parent.ts");
const forwarded: string[] = [];
configureLogging({ level: "error", write: (l) => forwarded.push(l) });

function fixtureCommand() {
  if (typeof Deno !== "undefined") return { command: Deno.execPath(), args: ["run", "-A", FIXTURE] };
  return { command: process.execPath, args: [FIXTURE] };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function until(what: string, check: () => boolean, ms = 15_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (check()) return;
    await sleep(50);
  }
  assert.fail(`timed out waiting for: ${what}`);
}

let current: Supervisor | undefined;
afterEach(async () => {
  if (current) {
    current.killAll("test cleanup");
    await current.waitForExit();
    current = undefined;
  }
});

function make(
  mode: string,
  roles = { processing: 2, source: 1 },
  drainTimeoutMs = 5000,
  heartbeatTimeoutMs?: number,
  config: Record<string, unknown> = {},
) {
  current = new Supervisor({
    roles,
    logger: new Logger({ role: "supervisor" }),
    command: () => fixtureCommand(),
    env: { ...(process.env as Record<string, string>), CFW_SUPERVISED: "1", FAKE_MODE: mode },
    initMessage: JSON.stringify({ cmd: "config", config, sources: {} }),
    drainTimeoutMs,
    backoffFloorMs: 200,
    backoffMaxMs: 2000,
    stableMs: 60_000,
    heartbeatTimeoutMs,
  });
  current.start();
  return current;
}

describe("supervisor", () => {
  test("starts every child, collects state, /ready and /status reflect it", async () => {
    const sup = make("ok");
    await until("all ready", () => readiness(sup).ready);
    const build = {
      version: "t",
      commit: "c0ffee",
      build_date: "2026-01-01T00:00:00Z",
      target: "linux-x64",
      runtime: "bun",
    };
    const api = createApi({ supervisor: sup, workerName: "w", version: "t", build });
    const ready = await api.request("/ready");
    assert.equal(ready.status, 200);
    const status = await (await api.request("/status")).json();
    assert.equal(status.workers.processing.configured, 2);
    assert.equal(status.workers.processing.active, 2);
    assert.equal(status.workers.source.workers.length, 1);
    assert.equal(status.workers.processing.workers[0].ready, true);
    const metrics = await (await api.request("/metrics")).text();
    assert.match(metrics, /contentflow_worker_tasks_processed_total\{role="processing"\} 6/);
    assert.match(metrics, /contentflow_worker_workers_up\{role="source"\} 1/);
    assert.match(metrics, /^# TYPE contentflow_worker_ai_tokens_total counter$/m);
    assert.match(
      metrics,
      /^contentflow_worker_ai_tokens_total\{role="processing",executor_type="text_summarizer",kind="prompt"\} 10$/m,
    );
    assert.match(
      metrics,
      /^contentflow_worker_ai_tokens_total\{role="processing",executor_type="text_summarizer",kind="completion"\} 4$/m,
    );
    assert.equal(metrics.match(/^# TYPE contentflow_worker_ai_tokens_total/gm)?.length, 1, "one family for all labels");
    assert.match(
      metrics,
      /^contentflow_worker_build_info\{version="t",commit="c0ffee",target="linux-x64",runtime="bun"\} 1$/m,
    );
    const health = await (await api.request("/health")).json();
    assert.equal(health.status, "healthy");
    assert.deepEqual(health.build, build);
    assert.ok(forwarded.some((l) => l.includes("fake worker up")), "child log lines are forwarded");
  });

  test("a killed child is replaced within 2 s and counters do not go backwards", async () => {
    const sup = make("ok", { processing: 1, source: 0 });
    await until("ready", () => readiness(sup).ready);
    const [pid] = sup.childPids();
    const killedAt = Date.now();
    process.kill(pid, "SIGKILL");
    await until(
      "replacement",
      () => sup.childPids().length === 1 && sup.childPids()[0] !== pid && readiness(sup).ready,
    );
    assert.ok(Date.now() - killedAt < 4000, "replaced quickly (child start included)");
    assert.equal(sup.snapshot()[0].restarts, 1);
    assert.equal(sup.counterTotals().processing.tasks_processed_total, 6, "old incarnation's counters kept");
  });

  test("a crash-looping role backs off and /ready reports it degraded", async () => {
    const sup = make("crash", { processing: 1, source: 0 });
    await until("three crashes", () => sup.snapshot()[0].consecutive_crashes >= 3, 20_000);
    const snap = sup.snapshot()[0];
    assert.equal(snap.degraded, true);
    const api = createApi({ supervisor: sup, workerName: "w", version: "t" });
    const res = await api.request("/ready");
    assert.equal(res.status, 503);
    const body = await res.json();
    assert.equal(body.status, "degraded");
    assert.deepEqual(body.degraded_roles, ["processing"]);
    assert.ok(forwarded.some((l) => l.includes("simulated crash") && l.includes('"stream":"stderr"')));
  });

  test("drain: children exit on request; the supervisor waits for them", async () => {
    const sup = make("ok");
    await until("ready", () => readiness(sup).ready);
    const pids = sup.childPids();
    await sup.shutdown("test");
    for (const pid of pids) assert.equal(alive(pid), false, `child ${pid} gone`);
    assert.equal(readiness(sup).ready, false);
  });

  test("drain: a hanging child is killed after the drain timeout", async () => {
    const sup = make("hang", { processing: 1, source: 0 }, 1000);
    await until("ready", () => readiness(sup).ready);
    const pids = sup.childPids();
    const t0 = Date.now();
    await sup.shutdown("test");
    assert.ok(Date.now() - t0 >= 900, "waited for the drain timeout");
    for (const pid of pids) assert.equal(alive(pid), false);
  });

  test("a child whose event loop blocks is killed after the heartbeat timeout and replaced; /status and /metrics say so", async () => {
    const sup = make("block", { processing: 1, source: 0 }, 5000, 3000);
    await until("ready", () => readiness(sup).ready);
    const [pid] = sup.childPids();
    await until("the blocked child killed and a new one started", () => {
      const pids = sup.childPids();
      return !alive(pid) && pids.length === 1 && pids[0] !== pid;
    }, 15_000);
    const snap = sup.snapshot()[0];
    assert.ok(snap.heartbeat_kills >= 1, `counted: ${JSON.stringify(snap)}`);
    assert.equal(snap.last_exit?.signal, "SIGKILL");
    assert.match(snap.last_exit?.reason ?? "", /no heartbeat for \d+ s \(WORKER_HEARTBEAT_TIMEOUT_SECONDS\)/);
    const api = createApi({ supervisor: sup, workerName: "w", version: "t" });
    const status = await (await api.request("/status")).json();
    assert.ok(status.workers.processing.hung_worker_kills >= 1);
    const metrics = await (await api.request("/metrics")).text();
    assert.match(metrics, /contentflow_worker_hung_worker_kills_total\{role="processing"\} [1-9]/);
    assert.ok(forwarded.some((l) => l.includes("worker stopped sending heartbeats")), "logged");
  });

  test("a child that keeps sending heartbeats is left alone", async () => {
    const sup = make("ok", { processing: 1, source: 0 }, 5000, 3000);
    await until("ready", () => readiness(sup).ready);
    const [pid] = sup.childPids();
    await sleep(7000); // two heartbeat timeouts, with a report every 2 s
    assert.deepEqual(sup.childPids(), [pid]);
    assert.equal(sup.snapshot()[0].heartbeat_kills, 0);
  });

  test("bearer token protects /status and /metrics, not /health", async () => {
    const sup = make("ok", { processing: 1, source: 0 });
    const api = createApi({ supervisor: sup, workerName: "w", version: "t", apiToken: "s3cret-token" });
    assert.equal((await api.request("/status")).status, 401);
    assert.equal((await api.request("/metrics")).status, 401);
    assert.equal((await api.request("/health")).status, 200);
    assert.equal((await api.request("/status", { headers: { authorization: "Bearer s3cret-token" } })).status, 200);
  });

  test("`/`: open service JSON for probes (no Accept: text/html), the status page behind the token for browsers", async () => {
    const sup = make("ok", { processing: 1, source: 0 });
    const api = createApi({ supervisor: sup, workerName: "w", version: "t", apiToken: "s3cret-token" });
    const probe = await api.request("/");
    assert.equal(probe.status, 200);
    const body = await probe.json();
    assert.deepEqual([body.service, body.version, body.worker_name], ["contentflow-worker", "t", "w"]);
    const html = { accept: "text/html,application/xhtml+xml" };
    assert.equal((await api.request("/", { headers: html })).status, 401);
    const page = await api.request("/", { headers: { ...html, authorization: "Bearer s3cret-token" } });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /<html/i);
  });
});

describe("ipc", () => {
  test("secrets are redacted in the child's own log lines and in forwarded stderr and text lines", async () => {
    // Only the child knows this key (it came over the pipe): the child's logger must redact it itself.
    const pipedKey = "piped-cosmos-key-known-only-to-the-child==";
    forwarded.length = 0;
    const sup = make("leak", { processing: 1, source: 0 }, 5000, undefined, { COSMOS_DB_KEY: pipedKey });
    await until("leak lines forwarded", () => forwarded.filter((l) => l.includes("leak")).length >= 3);
    await until("ready", () => readiness(sup).ready);
    const leaks = forwarded.filter((l) => l.includes("leak"));
    const all = leaks.join("\n");
    for (const secret of [pipedKey, "U3RkZXJyS2V5VmFsdWU=", "StdoutSigValue123", "abc.def.ghi"]) {
      assert.ok(!all.includes(secret), `${secret} leaked:\n${all}`);
    }
    assert.match(all, /"detail":"key=\*\*\*"/);
    assert.match(all, /AccountKey=\*\*\*;/);
    assert.match(all, /sig=\*\*\* Bearer \*\*\*/);
    for (const line of leaks) JSON.parse(line); // still valid JSON lines
  });

  test("classifies state, log and text lines", () => {
    const state = classifyChildLine(
      JSON.stringify({ ipc: "state", ready: true, in_flight: 1, worker_id: "x", counters: {}, gauges: {}, info: {} }),
    );
    assert.equal(state.kind, "state");
    assert.equal(classifyChildLine('{"level":"info","msg":"hi"}').kind, "log");
    assert.equal(classifyChildLine("plain text").kind, "text");
    assert.equal(classifyChildLine('{"ipc":"state"}').kind, "text", "a malformed report is not trusted");
  });
});

describe("a child dies with its supervisor", () => {
  /** Gone: no such process, or a zombie waiting to be reaped. */
  function gone(pid: number): boolean {
    if (!alive(pid)) return true;
    try {
      return /^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, "utf8"));
    } catch {
      return true;
    }
  }

  test("a child whose event loop is blocked is killed once its parent is SIGKILLed and the drain time has passed", {
    skip: process.platform !== "linux",
  }, async () => {
    const parentCommand = typeof Deno !== "undefined"
      ? { command: Deno.execPath(), args: ["run", "-A", FAKE_PARENT] }
      : { command: process.execPath, args: [FAKE_PARENT] };
    const parent = spawn(parentCommand.command, parentCommand.args, {
      env: { ...(process.env as Record<string, string>), FAKE_MODE: "block" },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let childPid = 0;
    let blocking = false;
    createInterface({ input: parent.stdout! }).on("line", (line) => {
      const pid = /"child_pid":(\d+)/.exec(line)?.[1];
      if (pid) childPid = Number(pid);
      if (line.includes("fake worker blocking its event loop")) blocking = true;
    });
    try {
      await until("the child blocks its event loop", () => blocking && childPid > 0);
      process.kill(parent.pid!, "SIGKILL");
      await until("the blocked child is gone", () => gone(childPid), 10_000);
    } finally {
      if (childPid && alive(childPid)) process.kill(childPid, "SIGKILL");
      if (parent.exitCode === null && parent.signalCode === null) parent.kill("SIGKILL");
    }
  });
});

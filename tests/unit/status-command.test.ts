// `contentflow-worker status` against a small Hono server serving /status (our shape and the Python worker's).
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { Hono } from "hono";
import { type RunningServer, serve } from "../../src/runtime/index.ts";
import { bearerAuth } from "../../src/api/auth.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { freePort } from "../helpers/emulators.ts";
import {
  defaultStatusUrl,
  formatDuration,
  runStatus,
  type StatusIO,
  summarizeStatus,
  unhealthyReason,
} from "../../src/cli/status-command.ts";
import { UsageError } from "../../src/cli/args.ts";
import { sleep } from "../helpers/wait.ts";

const TOKEN = "status-token-123456";

const OUR_STATUS = {
  status: "degraded",
  timestamp: "2026-11-22T10:00:00.000Z",
  worker_name: "vm-worker-1",
  workers: {
    processing: {
      configured: 2,
      active: 2,
      workers: [
        {
          id: "vm-worker-1-processing-0@vm1:101:ab12",
          role: "processing",
          pid: 101,
          alive: true,
          ready: true,
          restarts: 0,
          uptime_seconds: 3725,
          in_flight: 3,
        },
        {
          id: "vm-worker-1-processing-1@vm1:102:cd34",
          role: "processing",
          pid: 102,
          alive: true,
          ready: false,
          restarts: 2,
          uptime_seconds: 12.7,
          in_flight: 0,
          extra: { x: 1 },
        },
      ],
    },
    source: {
      configured: 1,
      active: 0,
      workers: [{
        id: "vm-worker-1-source-0@vm1:103:ef56",
        pid: null,
        alive: false,
        ready: false,
        restarts: 5,
        uptime_seconds: null,
        in_flight: 0,
      }],
    },
  },
};

const PYTHON_STATUS = {
  worker_name: "contentflow-worker",
  running: true,
  timestamp: "2026-11-22T10:00:00+00:00",
  processing_workers: { configured: 1, active: 1, workers: [{ id: 0, pid: 4242, alive: true }] },
  source_workers: { configured: 1, active: 1, workers: [{ id: 0, pid: 4243, alive: true }] },
};

/** Our shape, status "running", one processing worker per entry, alive, ready as given. */
function runningWith(ready: boolean[]) {
  return {
    status: "running",
    worker_name: "w",
    workers: {
      processing: {
        configured: ready.length,
        active: ready.length,
        workers: ready.map((r, i) => ({ id: `p-${i}`, pid: 100 + i, alive: true, ready: r })),
      },
    },
  };
}

let server: RunningServer;
let base: string;

before(async () => {
  const app = new Hono();
  app.get("/ours/status", (c) => c.json(OUR_STATUS));
  app.get("/python/status", (c) => c.json(PYTHON_STATUS));
  app.get("/notready/status", (c) => c.json(runningWith([false, false])));
  app.get("/allready/status", (c) => c.json(runningWith([true, true])));
  app.use("/secure/*", bearerAuth(TOKEN));
  app.get("/secure/status", (c) => c.json(OUR_STATUS));
  app.get("/html/status", (c) => c.html("<html>proxy error</html>", 502));
  app.get("/starting/status", (c) => c.json({ error: "Worker engine not initialized" }, 503));
  app.get("/slow/status", async (c) => {
    await sleep(1500);
    return c.json(OUR_STATUS);
  });
  server = await serve(app.fetch, { port: 0, hostname: "127.0.0.1" });
  base = `http://127.0.0.1:${server.port}`;
});

after(async () => {
  await server?.close();
});

async function configWith(env: Record<string, string> = {}): Promise<Config> {
  return (await loadConfig({ env, dotenvPath: false })).config;
}

async function run(argv: string[], env: Record<string, string> = {}) {
  let out = "";
  let err = "";
  let configLoads = 0;
  const io: StatusIO = {
    loadConfig: async () => (configLoads++, await configWith(env)),
    fetch: (url, init) => fetch(url, init),
    stdout: (t) => void (out += t),
    stderr: (t) => void (err += t),
  };
  const code = await runStatus(argv, io);
  return { code, out, err, configLoads };
}

describe("status: table", () => {
  test("our /status shape: one row per worker, then totals", async () => {
    const r = await run(["--url", `${base}/ours`, "--token", "unused"]);
    assert.equal(r.code, 3, "degraded, and not every worker ready");
    assert.equal(
      r.err,
      "contentflow-worker status: not healthy: status degraded; 1 of 3 worker(s) alive and ready\n",
    );
    assert.equal(r.configLoads, 0, "no configuration needed when --url and --token are given");
    const lines = r.out.trimEnd().split("\n");
    assert.match(
      lines[0],
      /^status: degraded {2}worker vm-worker-1 {2}http:\/\/127\.0\.0\.1:\d+\/ours {2}2026-11-22T10:00:00\.000Z$/,
    );
    assert.match(lines[1], /^ROLE\s+WORKER\s+PID\s+ALIVE\s+READY\s+RESTARTS\s+UPTIME\s+IN-FLIGHT$/);
    const cells = lines.slice(2, 5).map((l) => l.split(/\s{2,}/));
    assert.deepEqual(cells[0], [
      "processing",
      "vm-worker-1-processing-0@vm1:101:ab12",
      "101",
      "yes",
      "yes",
      "0",
      "1h02m",
      "3",
    ]);
    assert.deepEqual(cells[1], [
      "processing",
      "vm-worker-1-processing-1@vm1:102:cd34",
      "102",
      "yes",
      "no",
      "2",
      "12s",
      "0",
    ]);
    assert.deepEqual(cells[2], ["source", "vm-worker-1-source-0@vm1:103:ef56", "-", "no", "no", "5", "-", "0"]);
    assert.equal(
      lines[5],
      "total: 3 worker(s), 2 alive, 1 ready, 7 restart(s), 3 in flight (active/configured: processing 2/2, source 0/1)",
    );
    // Columns line up: every row starts its PID column at the same offset as the header.
    const pidAt = lines[1].indexOf("PID");
    assert.equal(lines[2].indexOf(" 101 ") + 1, pidAt);
  });

  test("the Python worker's /status shape", async () => {
    const r = await run(["--url", `${base}/python`, "--token", "x"]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^status: running {2}worker contentflow-worker/);
    assert.match(r.out, /\nprocessing\s+0\s+4242\s+yes\s+-\s+-\s+-\s+-\n/);
    assert.match(r.out, /\nsource\s+0\s+4243\s+yes/);
    assert.match(r.out, /total: 2 worker\(s\), 2 alive, 0 ready, 0 restart\(s\), 0 in flight/);
  });

  test("--json prints the API's JSON unchanged", async () => {
    const r = await run(["--url", `${base}/ours/`, "--json", "--token", "x"]);
    assert.equal(r.code, 3, "the same exit code as the table");
    assert.deepEqual(JSON.parse(r.out), OUR_STATUS);
  });
});

describe("status: exit code", () => {
  test("'running' with 0 of 2 workers ready exits 3 and says why; all ready exits 0", async () => {
    const r = await run(["--url", `${base}/notready`, "--token", "x"]);
    assert.equal(r.code, 3);
    assert.match(r.out, /^status: running/);
    assert.equal(r.err, "contentflow-worker status: not healthy: 0 of 2 worker(s) alive and ready\n");
    const json = await run(["--url", `${base}/notready`, "--token", "x", "--json"]);
    assert.equal(json.code, 3);
    const ok = await run(["--url", `${base}/allready`, "--token", "x"]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.err, "");
  });

  test("unhealthyReason", () => {
    const summary = (status: string | null, workers: Array<[boolean | null, boolean | null]>, configured?: number) => ({
      status,
      workerName: null,
      timestamp: null,
      roles: [{ role: "processing", configured: configured ?? workers.length, active: null }],
      workers: workers.map(([alive, ready], i) => ({
        role: "processing",
        id: String(i),
        pid: null,
        alive,
        ready,
        restarts: null,
        uptimeSeconds: null,
        inFlight: null,
      })),
    });
    assert.equal(unhealthyReason(summary("running", [[true, true]])), undefined);
    assert.equal(unhealthyReason(summary("running", [[true, null]])), undefined, "Python shape: no ready field");
    assert.equal(unhealthyReason(summary("stopping", [[true, true]])), "status stopping");
    assert.equal(unhealthyReason(summary("running", [[false, null]])), "0 of 1 worker(s) alive and ready");
    assert.equal(unhealthyReason(summary("running", [], 2)), "0 of 2 configured worker(s) reported");
  });
});

describe("status: token", () => {
  test("no token: exit 1 with a hint; wrong token: rejected; right token from --token or API_TOKEN: table", async () => {
    const none = await run(["--url", `${base}/secure`]);
    assert.equal(none.code, 1);
    assert.match(none.err, /requires a token \(HTTP 401\): pass --token or set API_TOKEN/);
    assert.equal(none.out, "");

    const wrong = await run(["--url", `${base}/secure`, "--token", "nope"]);
    assert.equal(wrong.code, 1);
    assert.match(wrong.err, /rejected the token \(HTTP 401\)/);
    assert.ok(!wrong.err.includes("nope"), "the token is never printed");

    const flag = await run(["--url", `${base}/secure`, "--token", TOKEN]);
    assert.equal(flag.code, 3, flag.err);
    assert.match(flag.out, /status: degraded/);

    const fromConfig = await run(["--url", `${base}/secure`], { API_TOKEN: TOKEN });
    assert.equal(fromConfig.code, 3, fromConfig.err);
    assert.equal(fromConfig.configLoads, 1);
    assert.ok(!fromConfig.out.includes(TOKEN) && !fromConfig.err.includes(TOKEN));
  });
});

describe("status: failures", () => {
  test("API unreachable: exit 1 with the URL and what to check", async () => {
    const port = await freePort();
    const r = await run(["--url", `http://127.0.0.1:${port}`, "--token", "x"]);
    assert.equal(r.code, 1);
    assert.match(
      r.err,
      new RegExp(
        `cannot reach the API at http://127\\.0\\.0\\.1:${port}/status: .+ \\(is the service running\\? check API_ENABLED, API_HOST, API_PORT\\)`,
      ),
    );
    assert.equal(r.err.trim().split("\n").length, 1);
  });

  test("a non-JSON answer, an error answer, and a timeout are reported, exit 1", async () => {
    const html = await run(["--url", `${base}/html`, "--token", "x"]);
    assert.equal(html.code, 1);
    assert.match(html.err, /answered HTTP 502 with something that is not JSON: <html>proxy error<\/html>/);

    const starting = await run(["--url", `${base}/starting`, "--token", "x"]);
    assert.equal(starting.code, 1);
    assert.match(starting.err, /answered HTTP 503: Worker engine not initialized/);

    const slow = await run(["--url", `${base}/slow`, "--token", "x", "--timeout", "0.3"]);
    assert.equal(slow.code, 1);
    assert.match(slow.err, /cannot reach the API at .*\/slow\/status: no answer in time/);
    await sleep(1300); // let the slow handler finish before the server closes
  });

  test("bad options are usage errors", async () => {
    await assert.rejects(
      run(["--url", "ftp://x", "--token", "x"]),
      (e: Error) => e instanceof UsageError && /--url must be an http/.test(e.message),
    );
    await assert.rejects(
      run(["--timeout", "0", "--url", base]),
      (e: Error) => e instanceof UsageError && /--timeout/.test(e.message),
    );
    await assert.rejects(
      run(["--verbose"]),
      (e: Error) => e instanceof UsageError && /unknown option --verbose/.test(e.message),
    );
  });
});

describe("status: defaults and helpers", () => {
  test("the default URL comes from API_HOST/API_PORT (loopback for wildcard binds)", async () => {
    assert.equal(defaultStatusUrl(await configWith()), "http://127.0.0.1:8099");
    assert.equal(
      defaultStatusUrl(await configWith({ API_HOST: "0.0.0.0", API_PORT: "9000" })),
      "http://127.0.0.1:9000",
    );
    assert.equal(
      defaultStatusUrl(await configWith({ API_HOST: "10.1.2.3", API_PORT: "9000" })),
      "http://10.1.2.3:9000",
    );
    assert.equal(defaultStatusUrl(await configWith({ API_HOST: "::1" })), "http://[::1]:8099");
    assert.equal(defaultStatusUrl(await configWith({ API_HOST: "::" })), "http://127.0.0.1:8099");

    const r = await run(["--token", "x"], { API_HOST: "0.0.0.0", API_PORT: String(server.port) });
    assert.equal(r.code, 1, "the test server has no /status at the root");
    assert.match(r.err, new RegExp(`http://127\\.0\\.0\\.1:${server.port}/status`));
  });

  test("formatDuration and a tolerant parser", () => {
    assert.equal(formatDuration(null), "-");
    assert.equal(formatDuration(0), "0s");
    assert.equal(formatDuration(75), "1m15s");
    assert.equal(formatDuration(3725), "1h02m");
    assert.equal(formatDuration(90000), "1d01h");
    const s = summarizeStatus({
      workers: {
        processing: { workers: [{ id: 1, pid: "not a number", alive: "yes", uptime: 5, inFlight: 2 }, "junk"] },
      },
    });
    assert.deepEqual(s.workers, [
      {
        role: "processing",
        id: "1",
        pid: null,
        alive: null,
        ready: null,
        restarts: null,
        uptimeSeconds: 5,
        inFlight: 2,
      },
    ]);
    assert.throws(() => summarizeStatus([1, 2]), /not a JSON object/);
    assert.deepEqual(summarizeStatus({ status: "ok" }).workers, []);
  });
});

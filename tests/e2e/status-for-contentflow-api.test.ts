// The ContentFlow API's health check (contentflow-api app/services/health_service.py) GETs the worker's /status
// without credentials and reads running, worker_name, timestamp, processing_workers and source_workers in the
// Python worker's shape. Through the compiled binary: the Python fields are served beside ours, and with API_TOKEN
// set an address listed in API_OPEN_STATUS_FROM still gets them (and only them) while /metrics and the detailed
// status stay protected.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { networkInterfaces } from "node:os";
import * as v from "valibot";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { BinaryRun } from "../helpers/binary-run.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { WorkerStatusResponseModel } from "../helpers/contentflow-api-models.ts";

const TOKEN = "e2e-status-token-0123456789";

/** An address of this machine that is not loopback, so a request to it does not come from 127.0.0.0/8. */
function externalIpv4(): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === "IPv4" && !a.internal) return a.address;
  }
  return undefined;
}

describe("compiled binary: /status for the ContentFlow API", () => {
  let emulators: Emulators;
  const runs: BinaryRun[] = [];

  before(async () => {
    ensureBinary();
    emulators = await startEmulators();
  });

  after(async () => {
    for (const r of runs) await r.stop("SIGTERM", 20_000).catch(() => undefined);
    await emulators?.stop();
  });

  const start = async (env: Record<string, string>) => {
    const run = await BinaryRun.start(ensureBinary(), {
      ...emulators.env,
      WORKER_NAME: "cfw-status-e2e",
      NUM_PROCESSING_WORKERS: "2",
      NUM_SOURCE_WORKERS: "1",
      ...env,
    });
    runs.push(run);
    await run.waitReady(60_000);
    return run;
  };

  test("without API_TOKEN: /status carries the Python worker's fields", async () => {
    const run = await start({});
    const body = await (await run.get("/status")).json();
    const parsed = v.parse(WorkerStatusResponseModel, body);
    assert.equal(parsed.worker_name, "cfw-status-e2e");
    assert.equal(parsed.running, true);
    assert.equal(parsed.processing_workers.configured, 2);
    assert.equal(parsed.processing_workers.active, 2);
    assert.deepEqual(parsed.processing_workers.workers.map((w) => w.id), [0, 1]);
    assert.equal(parsed.source_workers.configured, 1);
    assert.equal(parsed.source_workers.workers[0].alive, true);
    assert.ok(body.workers.processing.workers[0].restarts !== undefined, "our detailed status is still there");
    await run.stop();
  });

  test("with API_TOKEN and API_OPEN_STATUS_FROM: the summary is open to the listed addresses only", async () => {
    const run = await start({ API_HOST: "0.0.0.0", API_TOKEN: TOKEN, API_OPEN_STATUS_FROM: "127.0.0.0/8" });
    const open = await run.get("/status");
    assert.equal(open.status, 200);
    const body = await open.json();
    v.parse(WorkerStatusResponseModel, body);
    assert.deepEqual(Object.keys(body).sort(), [
      "processing_workers",
      "running",
      "source_workers",
      "timestamp",
      "worker_name",
    ], "only the summary, no counters or per-worker details");

    const metrics = await run.get("/metrics");
    await metrics.body?.cancel();
    assert.equal(metrics.status, 401, "/metrics stays protected from the open addresses");
    const wrongToken = await fetch(`http://127.0.0.1:${run.port}/status`, { headers: { authorization: "Bearer no" } });
    await wrongToken.body?.cancel();
    assert.equal(wrongToken.status, 401, "a wrong token is refused even from an open address");
    const detailed = await fetch(`http://127.0.0.1:${run.port}/status`, {
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    const full = await detailed.json();
    assert.equal(detailed.status, 200);
    assert.ok(full.counters, "the token still gets the detailed status");
    assert.equal(full.processing_workers.configured, 2);

    const other = externalIpv4();
    if (other) {
      const refused = await fetch(`http://${other}:${run.port}/status`);
      await refused.body?.cancel();
      assert.equal(refused.status, 401, `a request from ${other} (not in 127.0.0.0/8) needs the token`);
    }
    await run.stop();
  });

  test("a malformed API_OPEN_STATUS_FROM stops the binary with exit 78 naming the setting", async () => {
    await assert.rejects(
      BinaryRun.start(ensureBinary(), { ...emulators.env, API_OPEN_STATUS_FROM: "10.0.0.0/33" }),
      /exited with 78[\s\S]*API_OPEN_STATUS_FROM="10.0.0.0\/33": '10.0.0.0\/33': the prefix length must be 0-32/,
    );
  });
});

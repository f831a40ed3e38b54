// The compiled binary started while its App Configuration store is down, then refusing access (a role assignment
// still propagating), then answering: the supervisor does not exit; /health answers 200 and /ready 503 naming the
// store, its endpoint and the failure; the workers start once the store answers. The store holds the connection
// settings, as the reference deployment's does, so the environment alone is not enough to start on.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { freePort, until, waitingApiPort, type WatchedProcess, watchProcess } from "../helpers/e2e-kit.ts";
import { type FakeAppConfig, fakeAppConfigConnectionString, startFakeAppConfig } from "../helpers/fake-appconfig.ts";

describe("compiled binary: App Configuration down at start", () => {
  let emulators: Emulators;
  let fake: FakeAppConfig | undefined;
  let supervisor: WatchedProcess | undefined;
  let storePort = 0;

  before(async () => {
    emulators = await startEmulators();
    storePort = await freePort();
    const { COSMOS_DB_ENDPOINT: _c, STORAGE_QUEUE_CONNECTION_STRING: _q, ...rest } = emulators.env;
    supervisor = watchProcess(ensureBinary(), [], {
      cwd: mkdtempSync(join(tmpdir(), "cfw-e2e-appconfig-")),
      env: {
        PATH: process.env.PATH ?? "",
        ...rest,
        AZURE_APP_CONFIG_CONNECTION_STRING: fakeAppConfigConnectionString(storePort),
        CFW_APP_CONFIG_ALLOW_INSECURE: "1",
        API_HOST: "127.0.0.1",
        API_PORT: "0",
        SHUTDOWN_DRAIN_TIMEOUT_SECONDS: "10",
      },
    });
  });

  after(async () => {
    await supervisor?.kill();
    await fake?.close();
    await emulators?.stop();
  });

  const failures = () =>
    supervisor!.records().filter((r) => String(r.msg).startsWith("App Configuration cannot be read"));

  test("waits with /health 200 and /ready 503 naming the store, then starts the workers when it answers", async () => {
    const { proc, lines, exited } = supervisor!;
    const port = await waitingApiPort(supervisor!);
    const get = (path: string) => fetch(`http://127.0.0.1:${port}${path}`);

    const health = await get("/health");
    assert.equal(health.status, 200);
    assert.equal((await health.json()).status, "healthy");
    const ready = await get("/ready");
    assert.equal(ready.status, 503);
    const body = await ready.json();
    assert.equal(body.status, "starting");
    assert.match(
      body.reasons[0],
      new RegExp(`App Configuration at http://127\\.0\\.0\\.1:${storePort}: unreachable`),
      JSON.stringify(body),
    );
    await until("a second failed attempt", () => failures().length >= 2 || undefined, 60_000);
    assert.equal(proc.exitCode, null, `the supervisor must not exit:\n${lines.join("\n")}`);

    // The store comes up but refuses the identity for now.
    fake = await startFakeAppConfig([
      { key: "contentflow.common.COSMOS_DB_ENDPOINT", value: emulators.cosmosEndpoint },
      { key: "contentflow.common.STORAGE_QUEUE_CONNECTION_STRING", value: emulators.queueConnectionString },
      { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "1" },
      { key: "contentflow.worker.NUM_SOURCE_WORKERS", value: "1" },
    ], { port: storePort, failWith: 403 });
    await until("a 403 in /ready", async () => {
      const r = await (await get("/ready")).json();
      return /access denied \(403\).*App Configuration Data Reader/.test(r.reasons?.[0] ?? "") || undefined;
    }, 60_000);
    assert.equal(proc.exitCode, null);

    fake.failWith = undefined;
    await until("/ready 200", async () => ((await get("/ready")).status === 200 ? true : undefined), 120_000);
    const status = await (await get("/status")).json();
    assert.equal(status.workers.processing.configured, 1);
    assert.equal(status.workers.source.configured, 1);
    assert.ok(supervisor!.records().some((r) => r.msg === "supervisor started"));

    supervisor!.terminate();
    assert.equal(await exited, 0);
  });
});

test("compiled binary: SIGTERM while waiting for App Configuration exits 0", async () => {
  const port = await freePort();
  const watched = watchProcess(ensureBinary(), [], {
    cwd: mkdtempSync(join(tmpdir(), "cfw-e2e-appconfig-stop-")),
    env: {
      PATH: process.env.PATH ?? "",
      AZURE_APP_CONFIG_CONNECTION_STRING: fakeAppConfigConnectionString(port),
      CFW_APP_CONFIG_ALLOW_INSECURE: "1",
      API_HOST: "127.0.0.1",
      API_PORT: "0",
    },
  });
  const { lines, exited } = watched;
  try {
    await waitingApiPort(watched);
    watched.terminate();
    assert.equal(await exited, 0);
    assert.ok(lines.some((l) => l.includes("stopped while waiting for App Configuration")), lines.join("\n"));
  } finally {
    await watched.kill();
  }
});

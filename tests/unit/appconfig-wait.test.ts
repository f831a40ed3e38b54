// The supervisor's App Configuration source at start: it waits for a store that is down or refuses access (a role
// assignment still propagating) instead of failing, and runs on the environment only where that is complete.
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { appConfigRetryDelayMs, AppConfigUnavailableError, loadAppConfiguration } from "../../src/config/appconfig.ts";
import { type AppConfigWait, waitingForAppConfig } from "../../src/cli/load-effective-config.ts";
import {
  type FakeAppConfig,
  fakeAppConfigConnectionString,
  type FakeKeyValue,
  startFakeAppConfig,
} from "../helpers/fake-appconfig.ts";

const STORE: FakeKeyValue[] = [
  { key: "contentflow.common.COSMOS_DB_ENDPOINT", value: "https://cosmos-abc.documents.azure.com:443/" },
  { key: "contentflow.common.STORAGE_ACCOUNT_WORKER_QUEUE_URL", value: "https://stabc.queue.core.windows.net/" },
  { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "4" },
];

/** A port nothing listens on (yet). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((r) => server.close(() => r()));
  return port;
}

interface Seen {
  failures: AppConfigUnavailableError[];
  envOnly: AppConfigUnavailableError[];
}

function waiter(onFailure: (attempt: number) => void | Promise<void>, seen: Seen): AppConfigWait {
  return {
    signal: new AbortController().signal,
    delayMs: () => 5,
    async onRetry(_pre, err, _delay, attempt) {
      seen.failures.push(err);
      await onFailure(attempt);
    },
    onEnvironmentOnly(_pre, err) {
      seen.envOnly.push(err);
    },
  };
}

const read = (pre: Parameters<typeof loadAppConfiguration>[0]) =>
  loadAppConfiguration(pre, { allowInsecureConnection: true });

describe("App Configuration at start: wait, do not fail", () => {
  const fakes: FakeAppConfig[] = [];
  after(async () => {
    for (const f of fakes) await f.close();
  });

  test("backoff: 1 s doubling to 30 s, spread ±20 %", () => {
    assert.equal(appConfigRetryDelayMs(1), 1000);
    assert.equal(appConfigRetryDelayMs(2), 2000);
    assert.equal(appConfigRetryDelayMs(6), 30_000);
    assert.equal(appConfigRetryDelayMs(50), 30_000);
    assert.equal(appConfigRetryDelayMs(1, 0), 800);
    assert.equal(appConfigRetryDelayMs(1, 1), 1200);
  });

  test("down at start, then up: the store's values once it answers", async () => {
    const port = await freePort();
    const seen: Seen = { failures: [], envOnly: [] };
    const { config, sources } = await loadConfig({
      env: { AZURE_APP_CONFIG_CONNECTION_STRING: fakeAppConfigConnectionString(port) },
      dotenvPath: false,
      loadAppConfig: waitingForAppConfig(
        read,
        waiter(async (attempt) => {
          if (attempt === 2) fakes.push(await startFakeAppConfig(STORE, { port }));
        }, seen),
      ),
    });
    assert.equal(seen.failures.length, 2);
    assert.equal(seen.failures[0].failure.kind, "unreachable");
    assert.equal(seen.failures[0].failure.service, "App Configuration");
    assert.match(
      seen.failures[0].failure.text,
      new RegExp(`^App Configuration at http://127\\.0\\.0\\.1:${port}: unreachable`),
    );
    assert.equal(config.NUM_PROCESSING_WORKERS, 4);
    assert.equal(sources.COSMOS_DB_ENDPOINT, "app-config");
  });

  test("403 (role assignment propagating), then 200", async () => {
    const fake = await startFakeAppConfig(STORE, { failWith: 403 });
    fakes.push(fake);
    const seen: Seen = { failures: [], envOnly: [] };
    const { config } = await loadConfig({
      env: { AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString },
      dotenvPath: false,
      loadAppConfig: waitingForAppConfig(read, waiter(() => void (fake.failWith = undefined), seen)),
    });
    assert.equal(seen.failures.length, 1);
    assert.equal(seen.failures[0].failure.kind, "forbidden");
    assert.match(seen.failures[0].failure.text, /access denied \(403\).*App Configuration Data Reader/);
    assert.equal(config.NUM_PROCESSING_WORKERS, 4);
  });

  test("an environment that holds every required setting runs on its own, with a warning", async () => {
    const fake = await startFakeAppConfig(STORE, { failWith: 503 });
    fakes.push(fake);
    const seen: Seen = { failures: [], envOnly: [] };
    const { config, sources } = await loadConfig({
      env: {
        AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString,
        COSMOS_DB_ENDPOINT: "https://env.documents.azure.com:443/",
        STORAGE_ACCOUNT_WORKER_QUEUE_URL: "https://envq.queue.core.windows.net/",
      },
      dotenvPath: false,
      loadAppConfig: waitingForAppConfig(read, waiter(() => {}, seen)),
    });
    assert.equal(seen.failures.length, 0, "no waiting");
    assert.equal(seen.envOnly.length, 1);
    assert.equal(seen.envOnly[0].failure.kind, "server-error");
    assert.equal(config.COSMOS_DB_ENDPOINT, "https://env.documents.azure.com:443/");
    assert.equal(sources.NUM_PROCESSING_WORKERS, "default");
  });

  test("an invalid value in the store is still a configuration error (exit 78), not a wait", async () => {
    const fake = await startFakeAppConfig([...STORE, { key: "contentflow.worker.NUM_SOURCE_WORKERS", value: "x" }]);
    fakes.push(fake);
    const seen: Seen = { failures: [], envOnly: [] };
    await assert.rejects(
      loadConfig({
        env: { AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString },
        dotenvPath: false,
        loadAppConfig: waitingForAppConfig(read, waiter(() => {}, seen)),
      }),
      (err: unknown) => err instanceof ConfigError && /NUM_SOURCE_WORKERS/.test(err.message),
    );
    assert.equal(seen.failures.length, 0);
  });

  test("a signal ends the wait", async () => {
    const port = await freePort();
    const stop = new AbortController();
    const reason = new Error("stopped");
    await assert.rejects(
      loadConfig({
        env: { AZURE_APP_CONFIG_CONNECTION_STRING: fakeAppConfigConnectionString(port) },
        dotenvPath: false,
        loadAppConfig: waitingForAppConfig(read, {
          signal: stop.signal,
          delayMs: () => 3_600_000,
          onRetry: () => stop.abort(reason),
          onEnvironmentOnly: () => assert.fail("the environment is not complete"),
        }),
      }),
      (err: unknown) => err === reason,
    );
  });
});

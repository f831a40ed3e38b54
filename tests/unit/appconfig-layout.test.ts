// The reference deployment's App Configuration layout (ContentFlow's infra/bicep/main.bicep): the shared endpoints
// live only under contentflow.common.*, the worker's own settings under contentflow.worker.*, and the worker gets
// nothing but the App Configuration endpoint. The worker must start from that alone.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { loadConfig, requireConnectionSettings } from "../../src/config/load.ts";
import { effectiveKeyFilters, loadAppConfiguration } from "../../src/config/appconfig.ts";
import { type FakeAppConfig, type FakeKeyValue, startFakeAppConfig } from "../helpers/fake-appconfig.ts";

declare const Deno: any;

/** The keys main.bicep writes (values made up), including the API's own and the refresh sentinel. */
const REFERENCE_LAYOUT: FakeKeyValue[] = [
  { key: "contentflow.common.COSMOS_DB_ENDPOINT", value: "https://cosmos-abc.documents.azure.com:443/" },
  { key: "contentflow.common.COSMOS_DB_NAME", value: "contentflow" },
  { key: "contentflow.common.BLOB_STORAGE_ACCOUNT_NAME", value: "stabc" },
  { key: "contentflow.common.BLOB_STORAGE_CONTAINER_NAME", value: "content" },
  { key: "contentflow.common.STORAGE_ACCOUNT_WORKER_QUEUE_URL", value: "https://stabc.queue.core.windows.net/" },
  { key: "contentflow.common.STORAGE_WORKER_QUEUE_NAME", value: "contentflow-execution-requests" },
  { key: "contentflow.api.API_ENABLED", value: "True" },
  { key: "contentflow.api.LOG_LEVEL", value: "DEBUG" },
  { key: "contentflow.api.API_SERVER_PORT", value: "8090" },
  { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "4" },
  { key: "contentflow.worker.NUM_SOURCE_WORKERS", value: "2" },
  { key: "contentflow.worker.LOG_LEVEL", value: "INFO" },
  { key: "contentflow.worker.DEBUG", value: "false" },
  { key: "contentflow.worker.API_ENABLED", value: "true" },
  { key: "contentflow.worker.API_HOST", value: "0.0.0.0" },
  { key: "contentflow.worker.API_PORT", value: "8099" },
  { key: "contentflow.worker.QUEUE_POLL_INTERVAL_SECONDS", value: "5" },
  { key: "contentflow.worker.QUEUE_VISIBILITY_TIMEOUT_SECONDS", value: "300" },
  { key: "contentflow.worker.QUEUE_MAX_MESSAGES", value: "32" },
  { key: "contentflow.worker.MAX_TASK_RETRIES", value: "3" },
  { key: "contentflow.worker.TASK_TIMEOUT_SECONDS", value: "600" },
  { key: "contentflow.worker.DEFAULT_POLLING_INTERVAL_SECONDS", value: "60" },
  { key: "contentflow.worker.SCHEDULER_SLEEP_INTERVAL_SECONDS", value: "5" },
  { key: "contentflow.worker.LOCK_TTL_SECONDS", value: "300" },
  { key: "sentinel", value: "1" },
  // Not in the reference layout: a worker key that shadows a common one, to check which wins.
  { key: "contentflow.worker.COSMOS_DB_NAME", value: "worker-db" },
];

const MAIN = resolve(import.meta.dirname ?? ".", "../../src/main.ts");

/** Runs the CLI from source without blocking this process's event loop (the fake server lives in it). */
function cliAsync(
  args: string[],
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const [command, pre] = typeof Deno !== "undefined"
    ? [Deno.execPath(), ["run", "-A", MAIN]]
    : [process.execPath, [MAIN]];
  const child = spawn(command, [...pre, ...args], {
    cwd: mkdtempSync(join(tmpdir(), "cfw-appconfig-")),
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", NO_COLOR: "1", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d) => (stdout += d));
  child.stderr.on("data", (d) => (stderr += d));
  return new Promise((r) => child.once("close", (code) => r({ code, stdout, stderr })));
}

describe("App Configuration: the reference deployment's layout", () => {
  let fake: FakeAppConfig;
  before(async () => {
    fake = await startFakeAppConfig(REFERENCE_LAYOUT, 5);
  });
  after(async () => await fake.close());

  const load = (extra: Record<string, string> = {}) =>
    loadConfig({
      env: { AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString, ...extra },
      dotenvPath: false,
      loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
    });

  test("the shared keys under contentflow.common.* are enough to start", async () => {
    const { config, sources, appConfigKeys } = await load();
    assert.equal(config.COSMOS_DB_ENDPOINT, "https://cosmos-abc.documents.azure.com:443/");
    assert.equal(config.STORAGE_ACCOUNT_WORKER_QUEUE_URL, "https://stabc.queue.core.windows.net/");
    assert.equal(config.BLOB_STORAGE_ACCOUNT_NAME, "stabc");
    assert.equal(sources.COSMOS_DB_ENDPOINT, "app-config");
    assert.equal(appConfigKeys.COSMOS_DB_ENDPOINT, "contentflow.common.COSMOS_DB_ENDPOINT");
    assert.doesNotThrow(() => requireConnectionSettings(config));
    assert.equal(config.NUM_PROCESSING_WORKERS, 4);
    assert.equal(appConfigKeys.NUM_PROCESSING_WORKERS, "contentflow.worker.NUM_PROCESSING_WORKERS");
    assert.equal(config.DEFAULT_POLLING_INTERVAL_SECONDS, 60);
    assert.equal(config.LOG_LEVEL, "INFO", "the API's contentflow.api.* keys are not read");
  });

  test("a worker key wins over the common key of the same name", async () => {
    const { config, appConfigKeys } = await load();
    assert.equal(config.COSMOS_DB_NAME, "worker-db");
    assert.equal(appConfigKeys.COSMOS_DB_NAME, "contentflow.worker.COSMOS_DB_NAME");
  });

  test("APP_CONFIG_KEY_FILTERS replaces the worker filter; common is still read first", async () => {
    const { config, appConfigKeys } = await load({ APP_CONFIG_KEY_FILTERS: "contentflow.api.*" });
    assert.equal(config.COSMOS_DB_ENDPOINT, "https://cosmos-abc.documents.azure.com:443/");
    assert.equal(config.COSMOS_DB_NAME, "contentflow", "no worker key read");
    assert.equal(config.LOG_LEVEL, "DEBUG");
    assert.equal(appConfigKeys.LOG_LEVEL, "contentflow.api.LOG_LEVEL");
    assert.equal(config.NUM_PROCESSING_WORKERS, 2, "default: contentflow.worker.* was replaced");
  });

  test("the operator may place contentflow.common.* last to let it win", async () => {
    assert.deepEqual(effectiveKeyFilters(["contentflow.worker.*", "contentflow.common.*"]), [
      "contentflow.worker.*",
      "contentflow.common.*",
    ]);
    const { config } = await load({ APP_CONFIG_KEY_FILTERS: "contentflow.worker.*,contentflow.common.*" });
    assert.equal(config.COSMOS_DB_NAME, "contentflow");
  });

  test("`config` names the key each value came from", async () => {
    const r = await cliAsync(["config"], {
      AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString,
      CFW_APP_CONFIG_ALLOW_INSECURE: "1",
    });
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout);
    assert.deepEqual(view.COSMOS_DB_ENDPOINT, {
      value: "https://cosmos-abc.documents.azure.com:443/",
      source: "app-config",
      secret: false,
      origin: "App Configuration key contentflow.common.COSMOS_DB_ENDPOINT",
      key: "contentflow.common.COSMOS_DB_ENDPOINT",
    });
    assert.equal(view.NUM_SOURCE_WORKERS.key, "contentflow.worker.NUM_SOURCE_WORKERS");
    assert.equal(view.WORKER_NAME.source, "default");
    assert.equal(view.WORKER_NAME.key, undefined);
  });

  test("`config` says when a local override wins, and warns of the open API the reference store asks for", async () => {
    const r = await cliAsync(["config"], {
      AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString,
      CFW_APP_CONFIG_ALLOW_INSECURE: "1",
      APP_CONFIG_LOCAL_OVERRIDES: "NUM_SOURCE_WORKERS",
      NUM_SOURCE_WORKERS: "0",
      NUM_PROCESSING_WORKERS: "1",
    });
    assert.equal(r.code, 0, r.stderr);
    const view = JSON.parse(r.stdout);
    assert.equal(view.NUM_SOURCE_WORKERS.value, 0);
    assert.equal(view.NUM_SOURCE_WORKERS.source, "env");
    assert.match(
      view.NUM_SOURCE_WORKERS.origin,
      /^environment \(local override over App Configuration key contentflow\.worker\.NUM_SOURCE_WORKERS/,
    );
    assert.equal(view.NUM_PROCESSING_WORKERS.value, 4);
    assert.match(view.NUM_PROCESSING_WORKERS.origin, /replaces the value from the environment/);
    assert.match(view.API_HOST.warning, /API_HOST=0\.0\.0\.0 is not a loopback address and API_TOKEN is not set/);
    assert.match(r.stderr, /warning: API_HOST=0\.0\.0\.0/);
    assert.match(r.stderr, /warning: App Configuration replaces the value .* for NUM_PROCESSING_WORKERS/);
  });
});

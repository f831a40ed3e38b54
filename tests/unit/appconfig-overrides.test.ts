// Per-VM settings beside the reference deployment's shared App Configuration store: labels selected per VM (or
// group of VMs) and APP_CONFIG_LOCAL_OVERRIDES, with `config` saying which source won and why.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { effectiveLabelFilters, loadAppConfiguration, NO_LABEL } from "../../src/config/appconfig.ts";
import { apiExposureWarning, configWarnings, isLoopbackHost, settingOrigins } from "../../src/config/explain.ts";
import { type FakeAppConfig, labelMatches, startFakeAppConfig } from "../helpers/fake-appconfig.ts";

/** The reference store's keys that matter here, unlabelled as main.bicep writes them, plus per-group labels. */
const STORE = [
  { key: "contentflow.common.COSMOS_DB_ENDPOINT", value: "https://cosmos-abc.documents.azure.com:443/" },
  { key: "contentflow.common.STORAGE_ACCOUNT_WORKER_QUEUE_URL", value: "https://stabc.queue.core.windows.net/" },
  { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "4" },
  { key: "contentflow.worker.NUM_SOURCE_WORKERS", value: "2" },
  { key: "contentflow.worker.API_HOST", value: "0.0.0.0" },
  { key: "contentflow.worker.API_PORT", value: "8099" },
  { key: "contentflow.worker.NUM_SOURCE_WORKERS", value: "0", label: "vm-group-a" },
  { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "8", label: "vm-group-a" },
  { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "1", label: "vm-7" },
  // A store may hold a key that names how it is read; it must not change that.
  { key: "contentflow.worker.APP_CONFIG_LOCAL_OVERRIDES", value: "*" },
];

describe("App Configuration: per-VM settings", () => {
  let fake: FakeAppConfig;
  before(async () => {
    fake = await startFakeAppConfig(STORE, 3);
  });
  after(async () => await fake.close());

  const load = (env: Record<string, string>) =>
    loadConfig({
      env: { AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString, ...env },
      dotenvPath: false,
      loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
    });

  test("the fake answers label filters as the service does", () => {
    assert.equal(labelMatches(null, "x"), true, "no label parameter: any label");
    assert.equal(labelMatches(null, null), true);
    assert.equal(labelMatches("\0", null), true);
    assert.equal(labelMatches("\0", "vm-7"), false);
    assert.equal(labelMatches("vm-7", null), false);
    assert.equal(labelMatches("vm-*", "vm-7"), true);
    assert.equal(labelMatches("a,\0", null), true);
  });

  test("label filters: no label first, then APP_CONFIG_LABEL's labels in order", () => {
    assert.deepEqual(effectiveLabelFilters([]), [NO_LABEL]);
    assert.deepEqual(effectiveLabelFilters(["vm-group-a", " vm-7 ", "vm-group-a"]), [NO_LABEL, "vm-group-a", "vm-7"]);
  });

  test("without a label the unlabelled store wins over the environment (as before)", async () => {
    const loaded = await load({ NUM_SOURCE_WORKERS: "0" });
    assert.equal(loaded.config.NUM_SOURCE_WORKERS, 2);
    assert.equal(loaded.sources.NUM_SOURCE_WORKERS, "app-config");
    assert.equal(loaded.shadowed?.NUM_SOURCE_WORKERS, "env");
    assert.match(settingOrigins(loaded).NUM_SOURCE_WORKERS, /replaces the value from the environment/);
    assert.match(configWarnings(loaded).join("\n"), /NUM_SOURCE_WORKERS.*APP_CONFIG_LOCAL_OVERRIDES/);
  });

  test("APP_CONFIG_LABEL: a group's labelled keys win, later labels win over earlier ones", async () => {
    const group = await load({ APP_CONFIG_LABEL: "vm-group-a" });
    assert.equal(group.config.NUM_SOURCE_WORKERS, 0);
    assert.equal(group.config.NUM_PROCESSING_WORKERS, 8);
    assert.equal(group.config.API_PORT, 8099, "unlabelled keys still apply");
    assert.equal(group.appConfigLabels?.NUM_SOURCE_WORKERS, "vm-group-a");
    assert.equal(
      settingOrigins(group).NUM_SOURCE_WORKERS,
      "App Configuration key contentflow.worker.NUM_SOURCE_WORKERS (label vm-group-a)",
    );
    const vm = await load({ APP_CONFIG_LABEL: "vm-group-a,vm-7" });
    assert.equal(vm.config.NUM_PROCESSING_WORKERS, 1);
    assert.equal(vm.appConfigLabels?.NUM_PROCESSING_WORKERS, "vm-7");
    assert.equal(vm.config.NUM_SOURCE_WORKERS, 0);
  });

  test("APP_CONFIG_LOCAL_OVERRIDES: the named local values win, the others do not", async () => {
    const loaded = await load({
      APP_CONFIG_LOCAL_OVERRIDES: "NUM_SOURCE_WORKERS,API_HOST,NUM_PROCESSING_WORKERS",
      NUM_SOURCE_WORKERS: "0",
      API_HOST: "127.0.0.1",
      API_PORT: "9000",
    });
    assert.equal(loaded.config.NUM_SOURCE_WORKERS, 0);
    assert.equal(loaded.sources.NUM_SOURCE_WORKERS, "env");
    assert.equal(loaded.config.API_HOST, "127.0.0.1");
    assert.equal(loaded.config.API_PORT, 8099, "API_PORT is not named: App Configuration wins");
    const origins = settingOrigins(loaded);
    assert.equal(
      origins.NUM_SOURCE_WORKERS,
      "environment (local override over App Configuration key contentflow.worker.NUM_SOURCE_WORKERS: " +
        "NUM_SOURCE_WORKERS is in APP_CONFIG_LOCAL_OVERRIDES)",
    );
    assert.match(origins.NUM_PROCESSING_WORKERS, /names NUM_PROCESSING_WORKERS, but neither the environment/);
    assert.equal(loaded.config.NUM_PROCESSING_WORKERS, 4);
  });

  test("a local override also beats a labelled key, and `*` names every locally set setting", async () => {
    const loaded = await load({
      APP_CONFIG_LABEL: "vm-group-a",
      APP_CONFIG_LOCAL_OVERRIDES: "*",
      NUM_SOURCE_WORKERS: "3",
    });
    assert.equal(loaded.config.NUM_SOURCE_WORKERS, 3);
    assert.equal(loaded.config.NUM_PROCESSING_WORKERS, 8, "not set locally: the store's value");
  });

  test("a local value equal to the store's is not reported as replaced", async () => {
    const loaded = await load({ NUM_SOURCE_WORKERS: "2", API_PORT: "9000" });
    assert.equal(loaded.shadowed?.NUM_SOURCE_WORKERS, undefined);
    assert.equal(loaded.shadowed?.API_PORT, "env");
    assert.match(configWarnings(loaded).join("\n"), /for API_PORT;/);
  });

  test("the store cannot set how it is read", async () => {
    const loaded = await load({ NUM_SOURCE_WORKERS: "0" });
    assert.deepEqual(loaded.config.APP_CONFIG_LOCAL_OVERRIDES, []);
    assert.equal(loaded.config.NUM_SOURCE_WORKERS, 2);
  });

  test("an unknown name in APP_CONFIG_LOCAL_OVERRIDES is refused", async () => {
    await assert.rejects(
      load({ APP_CONFIG_LOCAL_OVERRIDES: "NUM_SOURCE_WORKERS,NUM_SORCE_WORKERS" }),
      (err: unknown) =>
        err instanceof ConfigError && /APP_CONFIG_LOCAL_OVERRIDES names NUM_SORCE_WORKERS: not a setting/.test(
          err.message,
        ),
    );
  });

  test("a label with a wildcard is refused (the order between labels would be undefined)", async () => {
    await assert.rejects(load({ APP_CONFIG_LABEL: "vm-*" }), (err: unknown) => err instanceof ConfigError);
  });
});

describe("API exposure warning", () => {
  const base = { API_ENABLED: true, API_TOKEN: "", API_PORT: 8099 };
  const warn = (cfg: Record<string, unknown>) => apiExposureWarning({ ...base, ...cfg } as never);

  test("loopback addresses", () => {
    for (const h of ["127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"]) assert.ok(isLoopbackHost(h), h);
    for (const h of ["0.0.0.0", "::", "10.0.0.4", "vm-1.internal"]) assert.ok(!isLoopbackHost(h), h);
  });

  test("warns for a non-loopback address without a token only", () => {
    assert.match(warn({ API_HOST: "0.0.0.0" }) ?? "", /API_HOST=0\.0\.0\.0 is not a loopback address/);
    assert.equal(warn({ API_HOST: "0.0.0.0", API_TOKEN: "t" }), undefined);
    assert.equal(warn({ API_HOST: "127.0.0.1" }), undefined);
    assert.equal(warn({ API_HOST: "0.0.0.0", API_ENABLED: false }), undefined);
  });
});

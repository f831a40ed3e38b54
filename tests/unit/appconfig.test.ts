import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { loadConfig } from "../../src/config/load.ts";
import { keyPrefix, loadAppConfiguration } from "../../src/config/appconfig.ts";
import { type FakeAppConfig, startFakeAppConfig } from "../helpers/fake-appconfig.ts";

describe("App Configuration source", () => {
  let fake: FakeAppConfig;
  before(async () => {
    fake = await startFakeAppConfig([
      { key: "contentflow.worker.NUM_PROCESSING_WORKERS", value: "6" },
      { key: "contentflow.worker.STORAGE_WORKER_QUEUE_NAME", value: "from-appconfig" },
      { key: "contentflow.worker.LOG_LEVEL", value: "WARNING" },
      { key: "contentflow.common.COSMOS_DB_NAME", value: "shared-db" },
      { key: "contentflow.common.COSMOS_DB_NAME", value: "prod-db", label: "prod" },
      { key: "other.app.API_PORT", value: "1" },
    ]);
  });
  after(async () => await fake.close());

  const env = (extra: Record<string, string>) => ({
    COSMOS_DB_ENDPOINT: "https://acct.documents.azure.com:443/",
    AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString,
    NUM_PROCESSING_WORKERS: "1",
    ...extra,
  });

  test("values override the environment, prefixes are trimmed, pages are followed", async () => {
    const { config, sources } = await loadConfig({
      env: env({ APP_CONFIG_KEY_FILTERS: "contentflow.worker.*" }),
      dotenvPath: false,
      loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
    });
    assert.equal(config.NUM_PROCESSING_WORKERS, 6);
    assert.equal(sources.NUM_PROCESSING_WORKERS, "app-config");
    assert.equal(config.STORAGE_WORKER_QUEUE_NAME, "from-appconfig");
    assert.equal(config.LOG_LEVEL, "WARNING");
    assert.equal(config.API_PORT, 8099, "keys outside the filters are not read");
    assert.ok(fake.requests.some((r) => r.includes("after=2")), "second page was requested");
  });

  test("several filters and a label: the labelled key wins over the unlabelled one", async () => {
    const { config, appConfigLabels } = await loadConfig({
      env: env({ APP_CONFIG_KEY_FILTERS: "contentflow.common.*,contentflow.worker.*", APP_CONFIG_LABEL: "prod" }),
      dotenvPath: false,
      loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
    });
    assert.equal(config.COSMOS_DB_NAME, "prod-db");
    assert.equal(appConfigLabels?.COSMOS_DB_NAME, "prod");
    assert.equal(config.NUM_PROCESSING_WORKERS, 6, "unlabelled keys are still read under APP_CONFIG_LABEL");
    assert.equal(appConfigLabels?.NUM_PROCESSING_WORKERS, undefined);
  });

  test("without APP_CONFIG_LABEL only unlabelled keys are read (as the Python worker's provider)", async () => {
    const { config } = await loadConfig({
      env: env({}),
      dotenvPath: false,
      loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
    });
    assert.equal(config.COSMOS_DB_NAME, "shared-db");
    assert.ok(fake.requests.some((r) => r.includes("label=%00")), "asked for no label explicitly");
  });

  test("a wrong secret fails clearly", async () => {
    const bad = fake.connectionString.replace(/Secret=.*/, "Secret=" + Buffer.from("wrong").toString("base64"));
    await assert.rejects(
      loadConfig({
        env: env({ AZURE_APP_CONFIG_CONNECTION_STRING: bad }),
        dotenvPath: false,
        loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
      }),
      (err: Error) => /401|Unauthorized/i.test(err.message),
    );
  });

  test("keyPrefix", () => {
    assert.equal(keyPrefix("contentflow.worker.*"), "contentflow.worker.");
    assert.equal(keyPrefix("EXACT_KEY"), "EXACT_KEY");
  });
});

// Telemetry enablement (issue 25 item 2): on when APPLICATIONINSIGHTS_CONNECTION_STRING (environment or App
// Configuration's contentflow.common key) or OTEL_EXPORTER_OTLP_ENDPOINT is set, off otherwise; the sampler ratio
// and its default; the connection string is a registered secret; the start-up description never shows it.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { loadAppConfiguration } from "../../src/config/appconfig.ts";
import { redactText } from "../../src/util/redact.ts";
import { describePlan, telemetryPlan } from "../../src/telemetry/plan.ts";
import { type FakeAppConfig, startFakeAppConfig } from "../helpers/fake-appconfig.ts";

const base = {
  STORAGE_ACCOUNT_WORKER_QUEUE_URL: "https://acct.queue.core.windows.net",
  COSMOS_DB_ENDPOINT: "https://acct.documents.azure.com:443/",
};
const AI = "InstrumentationKey=11111111-2222-3333-4444-555555555555;" +
  "IngestionEndpoint=https://westeurope-5.in.applicationinsights.azure.com/;LiveEndpoint=https://x/";

async function configOf(env: Record<string, string>) {
  return (await loadConfig({ env: { ...base, ...env }, dotenvPath: false })).config;
}

describe("telemetry plan", () => {
  let fake: FakeAppConfig;
  before(async () => {
    fake = await startFakeAppConfig([
      { key: "contentflow.common.APPLICATIONINSIGHTS_CONNECTION_STRING", value: AI.replace("1111", "9999") },
    ]);
  });
  after(async () => await fake.close());

  test("off without either setting; the default ratio is 0.1", async () => {
    const config = await configOf({});
    assert.equal(config.OTEL_TRACES_SAMPLER_ARG, 0.1);
    assert.deepEqual(telemetryPlan(config), { enabled: false });
    assert.equal(describePlan(telemetryPlan(config)), "off");
  });

  test("OTLP endpoint alone: on, signal URLs under the base, ratio from OTEL_TRACES_SAMPLER_ARG", async () => {
    const plan = telemetryPlan(
      await configOf({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://u:p@127.0.0.1:4318/", OTEL_TRACES_SAMPLER_ARG: "1" }),
    );
    assert.ok(plan.enabled);
    assert.deepEqual(plan.otlp, {
      traces: "http://u:p@127.0.0.1:4318/v1/traces",
      metrics: "http://u:p@127.0.0.1:4318/v1/metrics",
      logs: "http://u:p@127.0.0.1:4318/v1/logs",
    });
    assert.equal(plan.appInsights, undefined);
    assert.equal(plan.sampleRatio, 1);
    assert.equal(describePlan(plan), "OTLP/HTTP (http://127.0.0.1:4318), 100 % of traces");
  });

  test("connection string from the environment: on, a registered secret, described by host only", async () => {
    const config = await configOf({ APPLICATIONINSIGHTS_CONNECTION_STRING: AI });
    const plan = telemetryPlan(config);
    assert.ok(plan.enabled);
    assert.equal(plan.appInsights, AI);
    assert.equal(plan.otlp, undefined);
    assert.equal(redactText(`cs=${AI}`).includes("11111111-2222"), false, "the connection string is redacted");
    assert.equal(
      describePlan(plan),
      "Application Insights (westeurope-5.in.applicationinsights.azure.com), 10 % of traces",
    );
  });

  test("connection string from App Configuration's contentflow.common key (the reference store's layout)", async () => {
    const { config, sources } = await loadConfig({
      env: { ...base, AZURE_APP_CONFIG_CONNECTION_STRING: fake.connectionString },
      dotenvPath: false,
      loadAppConfig: (pre) => loadAppConfiguration(pre, { allowInsecureConnection: true }),
    });
    assert.equal(sources.APPLICATIONINSIGHTS_CONNECTION_STRING, "app-config");
    const plan = telemetryPlan(config);
    assert.ok(plan.enabled && plan.appInsights?.includes("99991111-2222"));
    assert.equal(redactText(plan.appInsights!).includes("99991111-2222"), false, "registered as a secret");
  });

  test("bad values are configuration errors naming the setting", async () => {
    for (
      const [name, value] of [
        ["OTEL_TRACES_SAMPLER_ARG", "1.5"],
        ["OTEL_TRACES_SAMPLER_ARG", "ten"],
        ["OTEL_EXPORTER_OTLP_ENDPOINT", "127.0.0.1:4318"],
        ["APPLICATIONINSIGHTS_CONNECTION_STRING", "IngestionEndpoint=https://x/"],
      ]
    ) {
      await assert.rejects(configOf({ [name]: value }), (err: unknown) => {
        assert.ok(err instanceof ConfigError, String(err));
        assert.ok(err.problems.some((p) => p.includes(name)), `${name}=${value}: ${err.problems.join("; ")}`);
        return true;
      });
    }
  });
});

import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  ConfigError,
  loadConfig,
  parseDotenv,
  poisonQueueName,
  requireConnectionSettings,
} from "../../src/config/load.ts";
import { describeConfig, redactConnectionString, REDACTED, redactUrl } from "../../src/config/redact.ts";
import { SETTING_NAMES, settingMeta } from "../../src/config/schema.ts";

const base = {
  STORAGE_ACCOUNT_WORKER_QUEUE_URL: "https://acct.queue.core.windows.net",
  COSMOS_DB_ENDPOINT: "https://acct.documents.azure.com:443/",
};

async function problemsOf(env: Record<string, string>): Promise<string[]> {
  try {
    await loadConfig({ env: { ...base, ...env }, dotenvPath: false });
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected ConfigError, got ${err}`);
    return err.problems;
  }
  assert.fail("expected a ConfigError");
}

describe("config: defaults and types", () => {
  test("Python worker defaults where we keep them", async () => {
    const { config, sources } = await loadConfig({ env: base, dotenvPath: false });
    assert.equal(config.WORKER_NAME, "contentflow-worker");
    assert.equal(config.STORAGE_WORKER_QUEUE_NAME, "contentflow-execution-requests");
    assert.equal(config.QUEUE_VISIBILITY_TIMEOUT_SECONDS, 300);
    assert.equal(config.QUEUE_MAX_MESSAGES, 32);
    assert.equal(config.MAX_TASK_RETRIES, 3);
    assert.equal(config.TASK_TIMEOUT_SECONDS, 600);
    assert.equal(config.COSMOS_DB_NAME, "contentflow");
    assert.equal(config.COSMOS_DB_CONTAINER_LOCKS, "vault_exec_locks");
    assert.equal(config.DEFAULT_POLLING_INTERVAL_SECONDS, 300);
    assert.equal(config.SCHEDULER_SLEEP_INTERVAL_SECONDS, 5);
    assert.equal(config.LOCK_TTL_SECONDS, 300);
    assert.equal(config.API_ENABLED, true);
    assert.equal(config.API_PORT, 8099);
    assert.equal(config.LOG_LEVEL, "INFO");
    assert.deepEqual(config.APP_CONFIG_KEY_FILTERS, ["contentflow.worker.*"]);
    assert.equal(sources.WORKER_NAME, "default");
    assert.equal(sources.COSMOS_DB_ENDPOINT, "env");
  });

  test("every setting has a description and a default that validates", async () => {
    for (const name of SETTING_NAMES) assert.ok(settingMeta[name].description.length > 10, name);
    await loadConfig({ env: {}, dotenvPath: false });
  });

  test("numbers, booleans and lists are typed", async () => {
    const { config } = await loadConfig({
      env: { ...base, NUM_PROCESSING_WORKERS: " 4 ", API_ENABLED: "False", APP_CONFIG_KEY_FILTERS: "a.*, b.* ,," },
      dotenvPath: false,
    });
    assert.equal(config.NUM_PROCESSING_WORKERS, 4);
    assert.equal(config.API_ENABLED, false);
    assert.deepEqual(config.APP_CONFIG_KEY_FILTERS, ["a.*", "b.*"]);
  });

  test("DEBUG=true turns on debug logging", async () => {
    const { config } = await loadConfig({ env: { ...base, DEBUG: "yes" }, dotenvPath: false });
    assert.equal(config.LOG_LEVEL, "DEBUG");
  });

  test("the README's locks alias is accepted", async () => {
    const { config } = await loadConfig({
      env: { ...base, COSMOS_DB_CONTAINER_VAULT_EXECUTION_LOCKS: "my_locks" },
      dotenvPath: false,
    });
    assert.equal(config.COSMOS_DB_CONTAINER_LOCKS, "my_locks");
  });
});

describe("config: bad values name the variable and the expected form", () => {
  test("NUM_PROCESSING_WORKERS=abc", async () => {
    const problems = await problemsOf({ NUM_PROCESSING_WORKERS: "abc" });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /^NUM_PROCESSING_WORKERS="abc": expected a whole number from 0 to 64$/);
  });

  test("API_PORT=70000", async () => {
    const problems = await problemsOf({ API_PORT: "70000" });
    assert.match(problems[0], /^API_PORT="70000": expected a whole number from 0 to 65535$/);
  });

  test("several problems are all reported", async () => {
    const problems = await problemsOf({
      API_PORT: "-1",
      API_ENABLED: "maybe",
      LOG_LEVEL: "DBEUG",
      QUEUE_MAX_MESSAGES: "33",
    });
    assert.equal(problems.length, 4);
    assert.ok(problems.some((p) => p.startsWith("API_ENABLED=")));
    assert.ok(problems.some((p) => p.startsWith('LOG_LEVEL="DBEUG"') && p.includes("DEBUG, INFO")));
    assert.ok(problems.some((p) => p.startsWith("QUEUE_MAX_MESSAGES=")));
  });

  test("queue name rules", async () => {
    const problems = await problemsOf({ STORAGE_WORKER_QUEUE_NAME: "Bad_Queue" });
    assert.match(problems[0], /^STORAGE_WORKER_QUEUE_NAME="Bad_Queue": expected a queue name/);
  });

  test("missing queue URL and Cosmos endpoint", async () => {
    const { config } = await loadConfig({ env: {}, dotenvPath: false });
    assert.throws(() => requireConnectionSettings(config), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.equal(err.problems.length, 2);
      assert.match(err.problems[0], /^STORAGE_ACCOUNT_WORKER_QUEUE_URL is missing: expected/);
      assert.match(err.problems[1], /^COSMOS_DB_ENDPOINT is missing/);
      return true;
    });
  });

  test("a connection string replaces the queue URL", async () => {
    const { config } = await loadConfig({
      env: {
        COSMOS_DB_ENDPOINT: base.COSMOS_DB_ENDPOINT,
        AZURE_STORAGE_CONNECTION_STRING: "UseDevelopmentStorage=true",
      },
      dotenvPath: false,
    });
    requireConnectionSettings(config);
    assert.equal(config.STORAGE_QUEUE_CONNECTION_STRING, "UseDevelopmentStorage=true");
  });

  test("a malformed connection string is rejected without echoing it", async () => {
    const { config } = await loadConfig({
      env: { COSMOS_DB_ENDPOINT: base.COSMOS_DB_ENDPOINT, STORAGE_QUEUE_CONNECTION_STRING: "hunter2-password" },
      dotenvPath: false,
    });
    assert.throws(() => requireConnectionSettings(config), (err: unknown) => {
      assert.ok(err instanceof ConfigError);
      assert.ok(!err.message.includes("hunter2"));
      return true;
    });
  });
});

describe("config: sources", () => {
  test(".env is read, the environment wins over it, App Configuration wins over both", async () => {
    const dir = mkdtempSync(join(tmpdir(), "cfw-cfg-"));
    const file = join(dir, ".env");
    writeFileSync(
      file,
      [
        "# comment",
        "export WORKER_NAME=from-dotenv",
        'LOG_LEVEL="warning"',
        "NUM_SOURCE_WORKERS=3 # trailing comment",
        "API_PORT='9000'",
        "AZURE_APP_CONFIG_ENDPOINT=https://appcfg.azconfig.io",
      ].join("\n"),
    );
    const { config, sources } = await loadConfig({
      env: { ...base, LOG_LEVEL: "ERROR" },
      dotenvPath: file,
      loadAppConfig: async (pre) => {
        assert.equal(pre.WORKER_NAME, "from-dotenv");
        return { values: { API_PORT: "9100", UNKNOWN_KEY: "ignored" }, keys: {} };
      },
    });
    assert.equal(config.WORKER_NAME, "from-dotenv");
    assert.equal(sources.WORKER_NAME, ".env");
    assert.equal(config.LOG_LEVEL, "ERROR");
    assert.equal(sources.LOG_LEVEL, "env");
    assert.equal(config.NUM_SOURCE_WORKERS, 3);
    assert.equal(config.API_PORT, 9100);
    assert.equal(sources.API_PORT, "app-config");
  });

  test("App Configuration values are validated too", async () => {
    await assert.rejects(
      loadConfig({
        env: { ...base, AZURE_APP_CONFIG_ENDPOINT: "https://x.azconfig.io" },
        dotenvPath: false,
        loadAppConfig: async () => ({ values: { NUM_PROCESSING_WORKERS: "lots" }, keys: {} }),
      }),
      /NUM_PROCESSING_WORKERS="lots"/,
    );
  });

  test("App Configuration is not contacted unless configured", async () => {
    let called = false;
    await loadConfig({
      env: base,
      dotenvPath: false,
      loadAppConfig: async () => ((called = true), { values: {}, keys: {} }),
    });
    assert.equal(called, false);
  });

  test("an explicit .env path that does not exist is an error", async () => {
    await assert.rejects(loadConfig({ env: base, dotenvPath: "/nonexistent/.env" }), /does not exist/);
  });

  test("parseDotenv handles quotes and escapes", () => {
    assert.deepEqual(parseDotenv("A=\"x\\ny\"\nB='#not comment'\nC=plain # c\n bad line\nD="), {
      A: "x\ny",
      B: "#not comment",
      C: "plain",
      D: "",
    });
  });
});

describe("config: redaction", () => {
  test("secrets are redacted and sources shown", async () => {
    const { config, sources } = await loadConfig({
      env: {
        ...base,
        COSMOS_DB_KEY: "c2VjcmV0LWtleS12YWx1ZQ==",
        STORAGE_QUEUE_CONNECTION_STRING: "AccountName=a;AccountKey=abcdefsecret",
        STORAGE_ACCOUNT_WORKER_QUEUE_URL: "https://acct.queue.core.windows.net/?sv=2022&sig=SIGNATUREVALUE&se=2030",
      },
      dotenvPath: false,
    });
    const view = describeConfig(config, sources);
    const text = JSON.stringify(view);
    assert.ok(!text.includes("c2VjcmV0"));
    assert.ok(!text.includes("abcdefsecret"));
    assert.ok(!text.includes("SIGNATUREVALUE"));
    assert.equal(view.COSMOS_DB_KEY.value, REDACTED);
    assert.equal(view.COSMOS_DB_KEY.secret, true);
    assert.equal(view.COSMOS_DB_KEY.source, "env");
    assert.equal(view.API_TOKEN.value, "");
    assert.match(String(view.STORAGE_ACCOUNT_WORKER_QUEUE_URL.value), /sig=\*\*\*redacted\*\*\*&se=2030/);
  });

  test("connection string and URL helpers", () => {
    assert.equal(
      redactConnectionString("DefaultEndpointsProtocol=https;AccountName=a;AccountKey=k==;EndpointSuffix=x"),
      `DefaultEndpointsProtocol=https;AccountName=a;AccountKey=${REDACTED};EndpointSuffix=x`,
    );
    assert.equal(redactUrl("https://h/q?a=1&sig=abc"), `https://h/q?a=1&sig=${REDACTED}`);
  });

  test("poison queue name defaults to <queue>-poison", async () => {
    const { config } = await loadConfig({ env: base, dotenvPath: false });
    assert.equal(poisonQueueName(config), "contentflow-execution-requests-poison");
  });
});

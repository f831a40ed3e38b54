// Pipeline documents are untrusted: ${VAR} in their settings must not read the worker's own secrets.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { compilePipeline, defaultRegistry, parsePipelineYaml, PipelineError } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { pipelineEnvPolicy } from "../../src/pipeline/env.ts";
import { redactText } from "../../src/util/redact.ts";
import type { Config } from "../../src/config/schema.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
const COSMOS_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const STORAGE_CS =
  "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=c3RvcmFnZS1rZXktZm9yLXRlc3Rz;EndpointSuffix=core.windows.net";

const env = {
  COSMOS_DB_KEY: COSMOS_KEY,
  STORAGE_QUEUE_CONNECTION_STRING: STORAGE_CS,
  AZURE_STORAGE_CONNECTION_STRING: STORAGE_CS,
  AZURE_CLIENT_SECRET: "client-secret-value",
  AZURE_CLIENT_CERTIFICATE_PASSWORD: "cert-password",
  API_TOKEN: "api-token-value",
  AZURE_OPENAI_ENDPOINT: "https://ai.example.com/",
  AZURE_OPENAI_API_KEY: "openai-key-value",
  COSMOS_GREMLIN_KEY: "gremlin-key",
  COPY_OF_COSMOS: COSMOS_KEY,
  INNOCENT_LOOKING: "DefaultEndpointsProtocol=https;AccountName=other;AccountKey=b3RoZXIta2V5LWZvci10ZXN0cw==",
  CHUNK: "500",
};

async function config(extra: Record<string, string> = {}): Promise<Config> {
  return (await loadConfig({ env: { ...env, ...extra }, dotenvPath: false })).config;
}

function compile(setting: string, cfg: Config) {
  const yaml = `pipeline:
  name: p
  executors:
    - id: call
      type: http
      settings:
        url: "https://x.example/?k=${setting}"
`;
  return compilePipeline(parsePipelineYaml(yaml, { env }), { registry, deps: { config: cfg, logger } });
}

const refused = (pattern: RegExp) => (err: unknown) => err instanceof PipelineError && pattern.test(err.message);

describe("${VAR} in pipeline settings", () => {
  test("the worker's own secrets can never be read, naming executor, setting and variable", async () => {
    const cfg = await config({ PIPELINE_ENV_ALLOWED_VARIABLES: "*,COSMOS_DB_KEY,AZURE_CLIENT_SECRET,API_TOKEN" });
    for (
      const name of Object.keys(env).filter((n) => /^(COSMOS_DB_KEY|STORAGE_|AZURE_STORAGE|AZURE_CLIENT|API_)/.test(n))
    ) {
      assert.throws(
        () => compile(`\${${name}}`, cfg),
        refused(
          new RegExp(
            `^executor 'call' \\(http\\): settings\\.url: environment variable ${name} is a secret of the worker and can never be used in pipeline settings$`,
          ),
        ),
        name,
      );
    }
  });

  test("a copy of a worker secret or a connection string under another name is refused too", async () => {
    const cfg = await config({ PIPELINE_ENV_ALLOWED_VARIABLES: "*,COPY_OF_COSMOS" });
    assert.throws(() => compile("${COPY_OF_COSMOS}", cfg), refused(/COPY_OF_COSMOS holds a secret of the worker/));
    assert.throws(() => compile("${INNOCENT_LOOKING}", cfg), refused(/INNOCENT_LOOKING holds a connection string/));
  });

  test("a secret known only from the configuration (e.g. App Configuration) is refused by value", async () => {
    const cfg = { ...(await config()), BLOB_STORAGE_CONNECTION_STRING: "from-app-config-secret" };
    const yaml =
      `pipeline:\n  name: p\n  executors:\n    - {id: call, type: http, settings: {url: "https://x.example/?k=\${PLAIN}"}}\n`;
    const def = parsePipelineYaml(yaml, { env: { PLAIN: "from-app-config-secret" } });
    assert.throws(
      () => compilePipeline(def, { registry, deps: { config: cfg, logger } }),
      refused(/PLAIN holds a secret of the worker/),
    );
  });

  test("secret-looking names need to be listed exactly in PIPELINE_ENV_ALLOWED_VARIABLES", async () => {
    const byDefault = await config();
    assert.throws(
      () => compile("${AZURE_OPENAI_API_KEY}", byDefault),
      refused(/AZURE_OPENAI_API_KEY looks like a secret; name it in PIPELINE_ENV_ALLOWED_VARIABLES/),
    );
    const prefixOnly = await config({ PIPELINE_ENV_ALLOWED_VARIABLES: "AZURE_OPENAI_*" });
    assert.throws(() => compile("${AZURE_OPENAI_API_KEY}", prefixOnly), refused(/looks like a secret/));
    const listed = await config({ PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_OPENAI_API_KEY" });
    assert.equal(redactText("saw openai-key-value"), "saw openai-key-value");
    assert.doesNotThrow(() => compile("${AZURE_OPENAI_API_KEY}", listed));
    assert.equal(redactText("saw openai-key-value"), "saw ***", "an allowed key is still redacted");
    assert.throws(() => compile("${COSMOS_GREMLIN_KEY}", listed), refused(/COSMOS_GREMLIN_KEY looks like a secret/));
  });

  test("ordinary variables: all by default (as the Python worker); a list narrows it", async () => {
    const all = await config();
    assert.doesNotThrow(() => compile("${AZURE_OPENAI_ENDPOINT}", all));
    assert.doesNotThrow(() => compile("${CHUNK}", all));
    const narrow = await config({ PIPELINE_ENV_ALLOWED_VARIABLES: "AZURE_OPENAI_*" });
    assert.doesNotThrow(() => compile("${AZURE_OPENAI_ENDPOINT}", narrow));
    assert.throws(() => compile("${CHUNK}", narrow), refused(/CHUNK is not allowed by PIPELINE_ENV_ALLOWED_VARIABLES/));
  });

  test("`enabled: ${VAR}` and settings of every executor follow the same rules", async () => {
    const cfg = await config();
    const yaml =
      `pipeline:\n  name: p\n  executors:\n    - {id: t, type: pass_through, settings: {enabled: "\${COSMOS_DB_KEY}"}}\n`;
    assert.throws(
      () => compilePipeline(parsePipelineYaml(yaml, { env }), { registry, deps: { config: cfg, logger } }),
      refused(/executor 't' \(pass_through\): settings\.enabled: environment variable COSMOS_DB_KEY is a secret/),
    );
  });

  test("the name rules", () => {
    const policy = pipelineEnvPolicy(undefined, {});
    const secretNames = [
      "MY_KEY",
      "OPENAI_API_KEY",
      "DB_SECRET",
      "SMTP_PASSWORD",
      "SQL_CONNECTION_STRING",
      "GITHUB_TOKEN",
      "SASTOKEN",
      "STORAGE_SAS",
      "SP_CREDENTIALS",
    ];
    for (const n of secretNames) assert.match(policy.refusal(n, "v") ?? "", /looks like a secret/, n);
    for (const n of ["AZURE_OPENAI_ENDPOINT", "CHUNK_SIZE", "KEYVAULT_NAME", "AZURE_LOCATION", "MONKEYS"]) {
      assert.equal(policy.refusal(n, "v"), undefined, n);
    }
  });

  test("names that hold secrets without saying KEY, SECRET, PASSWORD or TOKEN", () => {
    const policy = pipelineEnvPolicy(undefined, {});
    const secretNames = [
      "DB_PASS",
      "MYSQL_ROOT_PASS",
      "SMTP_PASS2",
      "GPG_PASSPHRASE",
      "SSH_KEY_PASSPHRASE",
      "GITHUB_PAT",
      "APPINSIGHTS_INSTRUMENTATIONKEY",
      "STORAGE_ACCESSKEY",
      "ACCOUNTKEY",
      "DATABASE_URL",
      "REDIS_URL",
      "MONGODB_URI",
      "ORDERS_DB_URL",
      "SENTRY_DSN",
      "REQUEST_SIGNATURE",
      "BACKUP_SAS_URL",
      "SLACK_WEBHOOK_URL",
      "TEAMS_WEBHOOK",
      "SESSION_COOKIE",
      "NPM_AUTH",
    ];
    for (const n of secretNames) assert.match(policy.refusal(n, "v") ?? "", /looks like a secret/, n);
    const ordinary = [
      "HTTPS_PROXY",
      "PASSTHROUGH_MODE",
      "COMPASS",
      "BYPASS_CACHE",
      "PATH",
      "SITE_URL",
      "OAUTH",
      "AZURE_OPENAI_ENDPOINT",
      "MONKEYS",
      "KEYVAULT_NAME",
    ];
    for (const n of ordinary) assert.equal(policy.refusal(n, "v"), undefined, n);
  });

  test("values that carry a credential need their variable listed exactly; the message never shows the value", async () => {
    const values: Array<[string, RegExp]> = [
      ["http://proxyuser:Pr0xyPassw0rd@proxy.corp:3128", /holds a URL with a user name or password/],
      ["https://ghp_tokenvalue123@github.com/org/repo.git", /holds a URL with a user name or password/],
      ["postgres://app:DbPassw0rd@db.corp:5432/app", /holds a URL with a user name or password/],
      ["Server=db;Database=app;User Id=app;Password=DbPassw0rd;", /holds a connection string with a password/],
      ["InstrumentationKey=00000000-0000-0000-0000-000000000000;IngestionEndpoint=https://x", /with a key/],
      ["Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=r;SharedAccessKey=abc", /with a key/],
      ["SharedAccessSignature sr=ns&sig=abc&se=1&skn=r", /holds a shared access signature/],
      ["https://acct.blob.core.windows.net/c?sv=2024&sig=AbCdEfGh1234%3D", /holds a shared access signature/],
    ];
    const byDefault = await config();
    for (const [value, reason] of values) {
      const run = (cfg: Config) =>
        compilePipeline(
          parsePipelineYaml(
            `pipeline:\n  name: p\n  executors:\n    - {id: call, type: http, settings: {url: "https://x.example/", headers: {X: "\${PLAIN_LOOKING}"}}}\n`,
            { env: { PLAIN_LOOKING: value } },
          ),
          { registry, deps: { config: cfg, logger } },
        );
      assert.throws(
        () => run(byDefault),
        (err: unknown) =>
          err instanceof PipelineError && reason.test(err.message) && !err.message.includes(value) &&
          /settings\.headers\.X: environment variable PLAIN_LOOKING holds .*; name it exactly in PIPELINE_ENV_ALLOWED_VARIABLES/
            .test(err.message),
        value,
      );
      // A prefix pattern is not enough; the exact name is.
      assert.throws(() => run({ ...byDefault, PIPELINE_ENV_ALLOWED_VARIABLES: ["PLAIN_*"] }), PipelineError, value);
      run({ ...byDefault, PIPELINE_ENV_ALLOWED_VARIABLES: ["*", "PLAIN_LOOKING"] }).close();
      assert.equal(redactText(`saw ${value}`).includes(value), false, "an allowed credential is still redacted");
    }
    // Ordinary URLs and e-mail addresses are no credentials.
    const policy = pipelineEnvPolicy(undefined, {});
    for (const v of ["https://proxy.corp:3128", "ops@example.com", "https://x.example/a@b", "mailto:ops@example.com"]) {
      assert.equal(policy.refusal("PLAIN_LOOKING", v), undefined, v);
    }
  });
});

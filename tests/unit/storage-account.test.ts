// Settings that name a storage account are account names, never hosts: the name becomes the host of the blob
// endpoint, and the worker's storage token goes to that host (issue 27 item 1).
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { blobEndpoint, isStorageAccountName } from "../../src/executors/storage-account.ts";
import { blobServiceClient } from "../../src/executors/blob-clients.ts";
import { readBlobBytes } from "../../src/executors/item-blob.ts";
import { checkPipelineYaml } from "../../src/pipeline/check.ts";
import { defaultRegistry } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: {}, dotenvPath: false });
const deps = { config, logger: new Logger() };

/** Values that turn https://<value>.blob.core.windows.net into a URL to another host (or that Azure refuses). */
const HOSTILE = [
  "attacker.example:443/x#",
  "127.0.0.1:8443/x?",
  "evil.example#",
  "user@evil.example/",
  "acct.blob.core.windows.net.evil.example",
  "a",
  "ab",
  "a".repeat(25),
  "My-Account",
  "UPPERCASE",
  "acct name",
  "acct\n",
];

describe("storage account names", () => {
  test("3 to 24 lower-case letters and digits, nothing else", () => {
    for (const ok of ["abc", "devstoreaccount1", "a".repeat(24), "0123456789"]) {
      assert.equal(isStorageAccountName(ok), true, ok);
    }
    for (const bad of HOSTILE) assert.equal(isStorageAccountName(bad), false, JSON.stringify(bad));
  });

  test("the endpoint builder refuses anything else (defence in depth)", () => {
    assert.equal(blobEndpoint("myaccount"), "https://myaccount.blob.core.windows.net");
    for (const bad of HOSTILE) {
      assert.throws(() => blobEndpoint(bad), /is not a storage account name/, JSON.stringify(bad));
    }
    // The client builder goes through it, for a pipeline's account and the operator's BLOB_STORAGE_ACCOUNT_NAME.
    assert.throws(() => blobServiceClient(config, { account: "127.0.0.1:8443/x?" }), /is not a storage account name/);
    assert.throws(
      () => blobServiceClient({ ...config, BLOB_STORAGE_ACCOUNT_NAME: "evil.example/x?" }),
      /'evil\.example\/x\?' is not a storage account name/,
    );
  });

  test("an item's account (id.source_name) is refused before any request", async () => {
    await assert.rejects(
      readBlobBytes(config, { account: "127.0.0.1:8443/x?", container: "c", path: "a.pdf" }, {
        maxBytes: 10,
        limitSetting: "MAX_DOCUMENT_MB",
        signal: new AbortController().signal,
      }),
      /^Error: blob c\/a\.pdf: '127\.0\.0\.1:8443\/x\?' is not a storage account name/,
    );
  });
});

describe("pipeline check refuses a host where a storage account is named", () => {
  const check = (type: string, settings: Record<string, unknown>) => {
    const yaml = `pipeline:
  name: p
  executors:
    - id: ex
      type: ${type}
      settings: ${JSON.stringify(settings)}
  execution_sequence: [ex]
`;
    const [result] = checkPipelineYaml(yaml, { registry: defaultRegistry(), deps, env: {} });
    return result;
  };

  const families: Array<[type: string, setting: string, others: Record<string, unknown>]> = [
    ["azure_blob_output", "storage_account_name", { container_name: "out" }],
    ["azure_blob_input_discovery", "blob_storage_account", { blob_container_name: "in" }],
    ["content_retriever", "blob_storage_account", {}],
  ];

  for (const [type, setting, others] of families) {
    test(`${type}: ${setting}`, () => {
      const good = check(type, { ...others, [setting]: "myaccount" });
      assert.deepEqual([good.valid, good.problems], [true, []], type);
      for (const bad of ["attacker.example:443/x#", "127.0.0.1:8443/x?", "Evil.Example"]) {
        const result = check(type, { ...others, [setting]: bad });
        assert.equal(result.valid, false, `${type} ${bad}`);
        assert.equal(result.problems.length, 1);
        const [problem] = result.problems;
        assert.equal(problem.executor, "ex");
        assert.equal(problem.setting, setting);
        assert.ok(
          problem.message.startsWith(`invalid settings: ${setting}: '${bad}' is not a storage account name`),
          problem.message,
        );
      }
    });
  }

  test("a value from ${VAR} is checked too (after substitution)", () => {
    const yaml = `pipeline:
  name: p
  executors:
    - {id: out, type: azure_blob_output, settings: {storage_account_name: "\${TARGET}", container_name: c}}
  execution_sequence: [out]
`;
    const [result] = checkPipelineYaml(yaml, {
      registry: defaultRegistry(),
      deps,
      env: { TARGET: "127.0.0.1:8443/x?" },
    });
    assert.equal(result.valid, false);
    assert.equal(result.problems[0].setting, "storage_account_name");
  });
});

// One redaction module (src/util/redact.ts) used by logs, execution records, poison records and `config`.
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { redactDeep, redactText, registerSecret } from "../../src/util/redact.ts";
import { poisonRecord } from "../../src/queue/poison.ts";
import { fitExecutionDoc } from "../../src/store/executions.ts";
import type { ExecutionDoc } from "../../src/model/documents.ts";
import { ConfigError, loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";

const STORAGE_CS =
  "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=QWNjb3VudEtleVZhbHVlMTIzNDU2Nzg5MA==;EndpointSuffix=core.windows.net";

describe("redactText", () => {
  test("fragments by pattern: connection string parts, URL signatures and codes, auth schemes, api-key headers", () => {
    const cases: Array<[string, string]> = [
      [STORAGE_CS, "DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net"],
      [
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=c2FzLWtleQ==",
        "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=root;SharedAccessKey=***",
      ],
      [
        "BlobEndpoint=https://a/;SharedAccessSignature=sv=2024&sig=abc%2Bdef",
        "BlobEndpoint=https://a/;SharedAccessSignature=***",
      ],
      [
        "GET https://a.blob.core.windows.net/c/b.pdf?sv=2024-01-01&se=2030&sig=AbC%2F123%3D&sp=r failed",
        "GET https://a.blob.core.windows.net/c/b.pdf?sv=2024-01-01&se=2030&sig=***&sp=r failed",
      ],
      [
        "POST https://fn.azurewebsites.net/api/x?code=FunctionKey123== HTTP 500",
        "POST https://fn.azurewebsites.net/api/x?code=*** HTTP 500",
      ],
      ["https://svc/?api-key=k1k2k3k4&x=1", "https://svc/?api-key=***&x=1"],
      ["Authorization: Bearer eyJhbGciOi.eyJzdWIi.sig-part_1", "Authorization: ***"],
      ["token was Bearer eyJhbGciOi.eyJzdWIi.sig in the header", "token was Bearer *** in the header"],
      [
        '{"headers":{"api-key":"0123456789abcdef","accept":"application/json"}}',
        '{"headers":{"api-key":"***","accept":"application/json"}}',
      ],
      ["Ocp-Apim-Subscription-Key: abcdef0123456789", "Ocp-Apim-Subscription-Key: ***"],
      ["nothing secret here: AccountName=acct; status=ok", "nothing secret here: AccountName=acct; status=ok"],
    ];
    for (const [input, expected] of cases) assert.equal(redactText(input), expected, input);
  });

  test("inside a JSON line the escaping stays valid", () => {
    const line = JSON.stringify({
      msg: 'failed: "AccountKey=abc123def456" and \\"sig=zzzzzzzzzz\\"',
      url: "https://x/?sig=q",
    });
    const out = redactText(line);
    assert.deepEqual(JSON.parse(out), { msg: 'failed: "AccountKey=***" and \\"sig=***\\"', url: "https://x/?sig=***" });
  });

  test("registered values wherever they appear, also JSON-escaped", () => {
    registerSecret('reg"istered-secret-value');
    assert.equal(redactText('a reg"istered-secret-value b'), "a *** b");
    assert.equal(redactText(JSON.stringify({ x: 'reg"istered-secret-value' })), '{"x":"***"}');
    registerSecret("short"); // too short to register: it would wreck ordinary text
    assert.equal(redactText("short"), "short");
  });

  test("redactDeep: strings everywhere and values of secret-named keys", () => {
    const out = redactDeep({
      error: `upload failed: ${STORAGE_CS}`,
      list: ["https://x/?sig=abcdef", 3, null],
      headers: { "api-key": "k", Authorization: "Basic dXNlcjpwYXNz", accept: "text/plain" },
    });
    assert.deepEqual(out, {
      error:
        "upload failed: DefaultEndpointsProtocol=https;AccountName=acct;AccountKey=***;EndpointSuffix=core.windows.net",
      list: ["https://x/?sig=***", 3, null],
      headers: { "api-key": "***", Authorization: "***", accept: "text/plain" },
    });
  });
});

describe("redaction on every path", () => {
  test("log lines", () => {
    const lines: string[] = [];
    configureLogging({ level: "info", write: (l) => lines.push(l) });
    new Logger().error("upload failed", { err: new Error(`403 for ${STORAGE_CS}`) });
    configureLogging({ level: "error", write: () => undefined });
    assert.equal(lines.length, 1);
    assert.ok(!lines[0].includes("QWNjb3VudEtleVZhbHVl"), lines[0]);
    assert.match(lines[0], /AccountKey=\*\*\*/);
  });

  test("poison records: the reason is redacted, the message is kept as queued", () => {
    const rec = poisonRecord({
      text: "original message",
      reason: `claim-check blob https://a.blob.core.windows.net/c/x.json?sv=1&sig=PoisonSig123 not readable`,
      dequeueCount: 1,
      workerId: "w",
      queue: "q",
      messageId: "m",
    });
    assert.equal(rec.reason, "claim-check blob https://a.blob.core.windows.net/c/x.json?sv=1&sig=*** not readable");
    assert.equal(rec.message, "original message");
  });

  test("execution records: error, status message, events and executor outputs", () => {
    const doc = {
      id: "exec_1",
      status: "failed",
      status_message: "Attempt 1 failed: Bearer abcdef.ghijkl",
      error: `executor 'out' failed: ${STORAGE_CS}`,
      events: [{ executor_id: "out", error: "GET https://a/b?sig=EventSig999 403" }],
      executor_outputs: { out: { error: "SharedAccessKey=c2VjcmV0" } },
      content: [{ id: { canonical_id: "https://a/b?sig=ContentIsData" } }],
    } as unknown as ExecutionDoc;
    const { doc: out } = fitExecutionDoc(doc, 1_000_000);
    const text = JSON.stringify(out);
    for (const secret of ["QWNjb3VudEtleVZhbHVl", "EventSig999", "c2VjcmV0", "abcdef.ghijkl"]) {
      assert.ok(!text.includes(secret), `${secret} in ${text}`);
    }
    assert.match(String(out.error), /AccountKey=\*\*\*/);
  });

  test("config: a rejected value never echoes a key put in the wrong setting", async () => {
    await assert.rejects(
      loadConfig({ env: { STORAGE_ACCOUNT_WORKER_QUEUE_URL: STORAGE_CS }, dotenvPath: false }),
      (err: unknown) =>
        err instanceof ConfigError && !err.message.includes("QWNjb3VudEtleVZhbHVl") &&
        /STORAGE_ACCOUNT_WORKER_QUEUE_URL=\(value not shown: it looks like a connection string/.test(err.message),
    );
    await assert.rejects(
      loadConfig({ env: { COSMOS_DB_ENDPOINT: "ftp://h/?sig=ConfigSig1234" }, dotenvPath: false }),
      (err: unknown) => err instanceof ConfigError && !err.message.includes("ConfigSig1234"),
    );
  });
});

// azure_document_intelligence_extractor against the local Document Intelligence fake (REST 2024-11-30), through the
// official @azure-rest/ai-document-intelligence client.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import { type FakeDocumentIntelligence, startFakeDocumentIntelligence } from "../helpers/fake-document-intelligence.ts";
import { sleep } from "../helpers/wait.ts";

configureLogging({ level: "error" });
/** The fakes listen on loopback, which the outbound policy refuses unless allowed; the key variable must be listed. */
const LOOPBACK = {
  OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
  PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_DOCUMENT_INTELLIGENCE_KEY",
};
const { config } = await loadConfig({ env: LOOPBACK, dotenvPath: false });
const logger = new Logger();
const KEY = "fake-di-key-0123456789";

let fake: FakeDocumentIntelligence;
let dir: string;
let pdf: string;
const PDF_BYTES = Buffer.from("%PDF-1.7\nfake invoice document\n%%EOF\n");

before(async () => {
  fake = await startFakeDocumentIntelligence({ key: KEY });
  dir = await mkdtemp(join(tmpdir(), "di-test-"));
  pdf = join(dir, "invoice.pdf");
  await writeFile(pdf, PDF_BYTES);
});

after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function reset(options: Partial<FakeDocumentIntelligence["options"]> = {}) {
  fake.requests.length = 0;
  fake.documents.length = 0;
  for (const k of Object.keys(fake.options)) delete (fake.options as Record<string, unknown>)[k];
  Object.assign(fake.options, { key: KEY, runningPolls: 1 }, options);
}

const item = (data: Record<string, unknown>, n = 1): Content => ({
  id: { canonical_id: `https://acct.blob.core.windows.net/content/invoice${n}.pdf`, unique_id: `u${n}` },
  data,
  summary_data: {},
  executor_logs: [],
});

/** The web UI's "PDF Document Extraction" extractor node, with the endpoint and key from the environment. */
function pipelineYaml(settings: Record<string, unknown> = {}, common = ""): string {
  const all: Record<string, unknown> = {
    model_id: "prebuilt-layout",
    output_format: "markdown",
    doc_intelligence_endpoint: "${AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT}",
    doc_intelligence_credential_key: "${AZURE_DOCUMENT_INTELLIGENCE_KEY}",
    polling_interval_secs: 0.02,
    retry_backoff_secs: 0.02,
    // Failed items pass on with a failed log entry instead of failing the run (the entry is what the tests read).
    fail_pipeline_on_error: false,
    ...settings,
  };
  const lines = Object.entries(all).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`).join("\n");
  return `
pipeline:
  name: "PDF Document Extraction"
  executors:
    - id: doc-intel-1
      name: "Document Intelligence"
      type: azure_document_intelligence_extractor
      settings:
${lines}${common}
  edges: []
`;
}

async function run(input: Content[], settings: Record<string, unknown> = {}, common = "", cfg = config) {
  const def = parsePipelineYaml(pipelineYaml(settings, common), {
    env: { AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT: fake.endpoint + "/", AZURE_DOCUMENT_INTELLIGENCE_KEY: KEY },
  });
  const compiled = compilePipeline(def, { registry: defaultRegistry(), deps: { config: cfg, logger } });
  return await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
}

function failure(result: Awaited<ReturnType<typeof run>>): string {
  const log = result.content[0].executor_logs.at(-1)!;
  assert.equal(log.status, "failed");
  return log.errors.join("; ");
}

describe("azure_document_intelligence_extractor", () => {
  test("sends the temp file to prebuilt-layout and maps the result into ContentFlow's fields", async () => {
    reset();
    const result = await run([item({ temp_file_path: pdf })], { extract_key_value_pairs: true });
    assert.equal(fake.requests.find((r) => r.route === "analyze")!.query.get("features"), "keyValuePairs");
    assert.equal(result.status, "completed", result.error);
    const out = result.content[0];
    const analyze = fake.requests.filter((r) => r.route === "analyze");
    assert.equal(analyze.length, 1);
    assert.equal(analyze[0].path, "/documentintelligence/documentModels/prebuilt-layout:analyze");
    assert.equal(analyze[0].query.get("api-version"), "2024-11-30");
    assert.equal(analyze[0].query.get("outputContentFormat"), "markdown");
    assert.equal(analyze[0].query.get("stringIndexType"), "utf16CodeUnit");
    assert.equal(analyze[0].headers["ocp-apim-subscription-key"], KEY);
    assert.equal(analyze[0].headers["content-type"], "application/octet-stream");
    assert.deepEqual(fake.documents[0], PDF_BYTES);
    assert.ok(fake.requests.filter((r) => r.route === "poll").length >= 2, "polled until succeeded");

    const doc = out.data.doc_intell_output as Record<string, unknown>;
    assert.deepEqual(Object.keys(doc), ["text", "tables", "key_value_pairs", "figures", "pages"]);
    assert.match(doc.text as string, /^# Contoso Invoice\n\nInvoice number: INV-100/);
    assert.deepEqual(doc.tables, [{
      row_count: 2,
      column_count: 2,
      cells: [
        { row_index: 0, column_index: 0, content: "Item", kind: "columnHeader" },
        { row_index: 0, column_index: 1, content: "Amount", kind: "columnHeader" },
        { row_index: 1, column_index: 0, content: "Consulting", kind: null },
        { row_index: 1, column_index: 1, content: "$110.00", kind: null },
      ],
    }]);
    assert.deepEqual(doc.key_value_pairs, { "Invoice number:": "INV-100" });
    assert.deepEqual(doc.figures, [{
      id: "2.1",
      page_number: 2,
      content: "<figure>\n\nSales chart\n\n</figure>",
      caption: "Figure 1: Sales chart",
    }]);
    assert.deepEqual(doc.pages, [
      {
        page_number: 1,
        width: 8.5,
        height: 11,
        unit: "inch",
        text: "Contoso Invoice\nInvoice number: INV-100\nTotal: $110.00",
      },
      { page_number: 2, width: 8.5, height: 11, unit: "inch", text: "Sales chart\nThank you" },
    ]);
    assert.equal(out.summary_data.pages_analyzed, 2);
    assert.equal(out.summary_data.extraction_status, "success");
    assert.equal(out.data.doc_intell_output_full_result, undefined);
    const log = out.executor_logs.at(-1)!;
    assert.equal(log.status, "completed");
    assert.equal(log.details?.pages_analyzed, 2);
    assert.equal(log.details?.model_id, "prebuilt-layout");
  });

  test("prebuilt-read with output_format text, pages, locale and features; full result kept on request", async () => {
    reset();
    const result = await run([item({ temp_file_path: pdf })], {
      model_id: "prebuilt-read",
      output_format: "text",
      pages: "1",
      locale: "en-US",
      doc_intel_features: "ocrHighResolution, languages",
      include_full_result: true,
      extract_figures: false,
      output_field: "ocr",
    });
    assert.equal(result.status, "completed", result.error);
    const analyze = fake.requests.find((r) => r.route === "analyze")!;
    assert.equal(analyze.path, "/documentintelligence/documentModels/prebuilt-read:analyze");
    assert.equal(analyze.query.get("outputContentFormat"), "text");
    assert.equal(analyze.query.get("pages"), "1");
    assert.equal(analyze.query.get("locale"), "en-US");
    assert.equal(analyze.query.get("features"), "ocrHighResolution,languages");
    const out = result.content[0];
    const ocr = out.data.ocr as Record<string, unknown>;
    assert.deepEqual(Object.keys(ocr), ["text", "tables", "pages"]);
    assert.equal(ocr.text, "Contoso Invoice\nInvoice number: INV-100\nTotal: $110.00");
    assert.deepEqual(ocr.tables, []);
    assert.equal((ocr.pages as unknown[]).length, 1);
    assert.equal((out.data.ocr_full_result as Record<string, unknown>).modelId, "prebuilt-read");
    assert.equal(out.summary_data.pages_analyzed, 1);
  });

  test("extract_key_value_pairs asks for the optional keyValuePairs feature; without it none come back", async () => {
    reset();
    const asked = await run([item({ temp_file_path: pdf })], {
      extract_key_value_pairs: true,
      doc_intel_features: "ocrHighResolution",
    });
    assert.equal(asked.status, "completed", asked.error);
    const analyze = fake.requests.find((r) => r.route === "analyze")!;
    assert.equal(analyze.query.get("features"), "ocrHighResolution,keyValuePairs");
    const doc = asked.content[0].data.doc_intell_output as Record<string, unknown>;
    assert.deepEqual(doc.key_value_pairs, { "Invoice number:": "INV-100" });

    reset();
    const listed = await run([item({ temp_file_path: pdf })], {
      extract_key_value_pairs: true,
      doc_intel_features: "keyValuePairs",
    });
    assert.equal(fake.requests.find((r) => r.route === "analyze")!.query.get("features"), "keyValuePairs");
    assert.deepEqual((listed.content[0].data.doc_intell_output as Record<string, unknown>).key_value_pairs, {
      "Invoice number:": "INV-100",
    });

    reset();
    const plain = await run([item({ temp_file_path: pdf })]);
    assert.equal(fake.requests.find((r) => r.route === "analyze")!.query.get("features"), null);
    const full = await run([item({ temp_file_path: pdf })], { include_full_result: true });
    assert.equal(
      (full.content[0].data.doc_intell_output_full_result as Record<string, unknown>).keyValuePairs,
      undefined,
    );
    assert.deepEqual(Object.keys(plain.content[0].data.doc_intell_output as object), [
      "text",
      "tables",
      "figures",
      "pages",
    ]);
  });

  test("model_id, pages and doc_intel_features the service would refuse are refused when the pipeline compiles", () => {
    const compile = (settings: Record<string, unknown>) =>
      compilePipeline(
        parsePipelineYaml(pipelineYaml(settings), {
          env: { AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT: fake.endpoint, AZURE_DOCUMENT_INTELLIGENCE_KEY: KEY },
        }),
        { registry: defaultRegistry(), deps: { config, logger } },
      );
    for (const pages of ["1-", "-3", "1,,2", "1-2-3", "a"]) {
      assert.throws(() => compile({ pages }), /pages must be 1-based page numbers and ranges like "1-3,5,7-9"/, pages);
    }
    for (const model_id of ["_layout", "x", "prebuilt layout", "a".repeat(65)]) {
      assert.throws(() => compile({ model_id }), /model_id is not a Document Intelligence model id/, model_id);
    }
    assert.throws(
      () => compile({ doc_intel_features: "keyValuePair" }),
      /doc_intel_features: unknown feature 'keyValuePair'/,
    );
    compile({ pages: "1-3, 5,7-9", model_id: "my.custom~model-1", doc_intel_features: "formulas,styleFont" });
  });

  test("the fake refuses malformed pages, model ids and features as Azure does (400 InvalidArgument)", async () => {
    reset();
    const post = (path: string, query: string) =>
      fetch(`${fake.endpoint}/documentintelligence/documentModels/${path}:analyze?api-version=2024-11-30${query}`, {
        method: "POST",
        headers: { "ocp-apim-subscription-key": KEY, "content-type": "application/octet-stream" },
        body: PDF_BYTES,
      });
    for (
      const [path, query] of [["prebuilt-layout", "&pages=1-"], ["prebuilt-layout", "&pages=-3"], [
        "_layout",
        "",
      ], ["prebuilt-layout", "&features=keyValuePair"]]
    ) {
      const res = await post(path, query);
      assert.equal(res.status, 400, `${path}${query}`);
      assert.equal(((await res.json()) as { error: { code: string } }).error.code, "InvalidArgument");
    }
    assert.equal((await post("prebuilt-layout", "&pages=1-2,%202&features=keyValuePairs")).status, 202);
  });

  test("content_field: base64 document bytes from data", async () => {
    reset();
    const result = await run([item({ content: PDF_BYTES.toString("base64") })], { content_field: "content" });
    assert.equal(result.status, "completed", result.error);
    assert.deepEqual(fake.documents[0], PDF_BYTES);
  });

  test("429 with Retry-After in seconds and as an HTTP date, then 503, are retried", async () => {
    reset();
    fake.fault("analyze", { kind: "status", status: 429, retryAfter: "0" });
    fake.fault("poll", { kind: "status", status: 429, retryAfter: new Date(Date.now() - 1000).toUTCString() }, {
      kind: "status",
      status: 503,
    });
    const result = await run([item({ temp_file_path: pdf })]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(result.content[0].executor_logs.at(-1)!.status, "completed");
    assert.equal(fake.requests.filter((r) => r.route === "fault").length, 3);
    assert.equal(fake.documents.length, 1, "one analysis started");
  });

  test("503s past max_retries fail the item with executor, item and HTTP status, never the key", async () => {
    reset();
    fake.fault("analyze", ...Array.from({ length: 3 }, () => ({ kind: "status" as const, status: 503 })));
    const result = await run([item({ temp_file_path: pdf })], { max_retries: 2 });
    const message = failure(result);
    assert.match(message, /^azure_document_intelligence_extractor 'doc-intel-1', item https:\/\/acct\.blob/);
    assert.match(message, /HTTP 503/);
    assert.ok(!message.includes(KEY));
    assert.equal(fake.requests.filter((r) => r.route === "fault").length, 3);
  });

  test("a wrong key: HTTP 401 at once, no retries", async () => {
    reset({ key: "another-key-entirely" });
    const message = failure(await run([item({ temp_file_path: pdf })]));
    assert.match(message, /HTTP 401/);
    assert.match(message, /Access denied/);
    assert.ok(!message.includes(KEY));
    assert.equal(fake.requests.length, 1);
  });

  test("without a key the SDK's bearer token policy is used, and it refuses plain http", async () => {
    reset();
    // The fake's host must be listed for the worker's managed-identity token (as an operator would list a gateway).
    const listed = (await loadConfig({
      env: { ...LOOPBACK, MANAGED_IDENTITY_ALLOWED_HOSTS: "127.0.0.1" },
      dotenvPath: false,
    })).config;
    const message = failure(
      await run([item({ temp_file_path: pdf })], { doc_intelligence_credential_key: null }, "", listed),
    );
    assert.match(message, /Bearer token authentication is not permitted for non-TLS/);
    assert.equal(fake.requests.length, 0);
  });

  test("without a key, an endpoint outside Azure AI's domains is refused when the pipeline compiles", async () => {
    reset();
    await assert.rejects(
      run([item({ temp_file_path: pdf })], { doc_intelligence_credential_key: null }),
      /^PipelineError: executor 'doc-intel-1' \(azure_document_intelligence_extractor\): invalid settings: doc_intelligence_endpoint: a managed-identity token goes only to Azure AI .*not to '127\.0\.0\.1'/,
    );
    assert.equal(fake.requests.length, 0);
  });

  test("a failed operation reports the service's error code and message", async () => {
    reset({
      outcome: "failed",
      failure: {
        code: "InvalidRequest",
        message: "Invalid request.",
        innererror: { code: "InvalidContent", message: "The file is corrupted or format is unsupported." },
      },
    });
    const message = failure(await run([item({ temp_file_path: pdf })]));
    assert.match(message, /analysis [0-9a-f-]+ failed: InvalidRequest: Invalid request\. \(The file is corrupted/);
  });

  test("an operation that stays running is abandoned at the item's timeout_secs", async () => {
    reset({ outcome: "forever" });
    const result = await run([item({ temp_file_path: pdf })], {}, "\n        timeout_secs: 1");
    assert.match(failure(result), /timed out after 1 s/);
    const polls = fake.requests.filter((r) => r.route === "poll").length;
    assert.ok(polls >= 2);
    // Polling on (every 20 ms) would send about 15 more polls in this wait; one poll already on its way when the
    // timeout fired may still reach the fake (a loaded machine delivers it late).
    await sleep(300);
    const later = fake.requests.filter((r) => r.route === "poll").length - polls;
    assert.ok(later <= 1, `${later} polls after the timeout`);
  });

  test("a cut-off answer is retried; a non-JSON answer fails clearly", async () => {
    reset();
    fake.fault("poll", { kind: "truncated" });
    const ok = await run([item({ temp_file_path: pdf })]);
    assert.equal(ok.status, "completed", ok.error);
    assert.equal(ok.content[0].executor_logs.at(-1)!.status, "completed");

    reset();
    fake.fault("poll", { kind: "not-json" });
    assert.match(failure(await run([item({ temp_file_path: pdf })])), /HTTP 200: the answer is not valid JSON/);
  });

  test("a slow first byte past request_timeout_secs is retried for a poll", async () => {
    reset();
    fake.fault("poll", { kind: "slow", delayMs: 2500 });
    const result = await run([item({ temp_file_path: pdf })], { request_timeout_secs: 1 });
    assert.equal(
      result.content[0].executor_logs.at(-1)!.status,
      "completed",
      result.content[0].executor_logs[0].errors[0],
    );
    // The slow answer was given up on and the poll sent again (a reused connection may add one more try).
    assert.ok(fake.requests.filter((r) => r.route === "poll").length >= 2);
    assert.equal(fake.requests.filter((r) => r.route === "analyze").length, 1);
  });

  test("an analyze POST the service may have accepted is not sent again (no double billing)", async () => {
    // No answer in time: the fake takes the document and starts the analysis, but answers after the time limit.
    reset();
    fake.fault("analyze", { kind: "slow", delayMs: 2500 });
    const slow = failure(await run([item({ temp_file_path: pdf })], { request_timeout_secs: 1 }));
    assert.match(
      slow,
      /Document Intelligence analyze: no answer within 1 s; not sent again: the service may have accepted it/,
    );
    assert.equal(fake.requests.filter((r) => r.route === "analyze").length, 1);
    // The late answer still starts the analysis: wait for it, so that it is counted here and not in a later test.
    while (fake.documents.length === 0) await sleep(50);
    assert.equal(fake.documents.length, 1);

    // A 500, 502 or 504 may come after the service took the request: one POST only.
    for (const status of [500, 502, 504]) {
      reset();
      fake.fault("analyze", { kind: "status", status, retryAfter: "0" });
      const message = failure(await run([item({ temp_file_path: pdf })]));
      assert.match(
        message,
        new RegExp(
          `Document Intelligence analyze: HTTP ${status}: .*; not sent again: the service may have accepted it`,
        ),
      );
      assert.equal(fake.requests.filter((r) => r.route === "analyze" || r.route === "fault").length, 1, `${status}`);
    }

    // A cut answer: the request reached the service.
    reset();
    fake.fault("analyze", { kind: "truncated" });
    failure(await run([item({ temp_file_path: pdf })]));
    assert.equal(fake.requests.filter((r) => r.route === "analyze" || r.route === "fault").length, 1);
  });

  test("AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT bounds the calls in flight to the endpoint", async () => {
    const items = [1, 2, 3].map((n) => item({ temp_file_path: pdf }, n));
    const slowAnalyses = () => fake.fault("analyze", ...items.map(() => ({ kind: "slow" as const, delayMs: 300 })));
    const one =
      (await loadConfig({ env: { ...LOOPBACK, AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: "1" }, dotenvPath: false })).config;
    reset();
    slowAnalyses();
    fake.maxInFlight = 0;
    const gated = await run(items, {}, "\n        max_concurrent: 3", one);
    assert.ok(gated.content.every((c) => c.executor_logs.at(-1)!.status === "completed"));
    assert.equal(fake.maxInFlight, 1);

    reset();
    slowAnalyses();
    fake.maxInFlight = 0;
    await run(items, {}, "\n        max_concurrent: 3");
    assert.ok(fake.maxInFlight > 1, "without the limit the three analyses overlap");
  });

  test("size limits: documents over max_document_mb are not sent, answers over max_response_mb are refused", async () => {
    reset();
    const big = join(dir, "big.pdf");
    await writeFile(big, Buffer.alloc(1024 * 1024 + 1, 1));
    assert.match(
      failure(await run([item({ temp_file_path: big })], { max_document_mb: 1 })),
      /more than max_document_mb/,
    );
    assert.equal(fake.requests.length, 0);

    reset({ resultPaddingBytes: 1024 * 1024 + 10 });
    const message = failure(await run([item({ temp_file_path: pdf })], { max_response_mb: 1, max_retries: 0 }));
    assert.match(
      message,
      /Document Intelligence answer is larger than 1048576 bytes \(the limit set by max_response_mb\)/,
    );
  });

  test("the outbound policy: loopback endpoints need OUTBOUND_ALLOWED_PRIVATE_HOSTS, hosts OUTBOUND_ALLOWED_HOSTS", async () => {
    reset();
    const closed = (await loadConfig({
      env: { PIPELINE_ENV_ALLOWED_VARIABLES: LOOPBACK.PIPELINE_ENV_ALLOWED_VARIABLES },
      dotenvPath: false,
    })).config;
    await assert.rejects(
      () => run([item({ temp_file_path: pdf })], {}, "", closed),
      /refused: loopback addresses need OUTBOUND_ALLOWED_PRIVATE_HOSTS/,
    );
    const listed = (await loadConfig({
      env: { ...LOOPBACK, OUTBOUND_ALLOWED_HOSTS: "*.cognitiveservices.azure.com" },
      dotenvPath: false,
    }))
      .config;
    await assert.rejects(() => run([item({ temp_file_path: pdf })], {}, "", listed), /not in OUTBOUND_ALLOWED_HOSTS/);
    assert.equal(fake.requests.length, 0);
  });

  test("missing document, missing or placeholder endpoint", async () => {
    reset();
    assert.match(failure(await run([item({ other: 1 })])), /document missing: data needs 'temp_file_path'/);
    const placeholder = pipelineYaml({
      doc_intelligence_endpoint: "https://<foundry-resource>.cognitiveservices.azure.com/",
    });
    assert.throws(
      () =>
        compilePipeline(parsePipelineYaml(placeholder, { env: { AZURE_DOCUMENT_INTELLIGENCE_KEY: KEY } }), {
          registry: defaultRegistry(),
          deps: { config, logger },
        }),
      /doc_intelligence_endpoint still holds the catalog's placeholder/,
    );
    assert.throws(
      () =>
        compilePipeline(
          parsePipelineYaml(
            pipelineYaml({
              doc_intelligence_credential_type: "azure_key_credential",
              doc_intelligence_credential_key: "",
            }),
            { env: { AZURE_DOCUMENT_INTELLIGENCE_ENDPOINT: fake.endpoint } },
          ),
          { registry: defaultRegistry(), deps: { config, logger } },
        ),
      /doc_intelligence_credential_key must be set when doc_intelligence_credential_type is azure_key_credential/,
    );
    const none = pipelineYaml({ doc_intelligence_endpoint: null });
    assert.throws(
      () =>
        compilePipeline(parsePipelineYaml(none, { env: { AZURE_DOCUMENT_INTELLIGENCE_KEY: KEY } }), {
          registry: defaultRegistry(),
          deps: { config, logger },
        }),
      /doc_intelligence_endpoint/,
    );
  });
});

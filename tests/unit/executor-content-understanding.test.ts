// azure_content_understanding_extractor against the local Content Understanding fake (REST 2025-11-01), with the
// extractor node of the web UI's templates.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import {
  type FakeContentUnderstanding,
  figurePng,
  startFakeContentUnderstanding,
} from "../helpers/fake-content-understanding.ts";
import { sleep } from "../helpers/wait.ts";

configureLogging({ level: "error" });
/** The fakes listen on loopback, which the outbound policy refuses unless allowed; the key variable must be listed. */
const LOOPBACK = {
  OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
  PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_CONTENT_UNDERSTANDING_API_KEY",
};
const { config } = await loadConfig({ env: LOOPBACK, dotenvPath: false });
const logger = new Logger();
const KEY = "fake-cu-key-0123456789";

let fake: FakeContentUnderstanding;
let dir: string;
let pdf: string;
const PDF_BYTES = Buffer.from("%PDF-1.7\nfake invoice document\n%%EOF\n");

before(async () => {
  fake = await startFakeContentUnderstanding({ key: KEY });
  dir = await mkdtemp(join(tmpdir(), "cu-test-"));
  pdf = join(dir, "invoice.pdf");
  await writeFile(pdf, PDF_BYTES);
});

after(async () => {
  await fake.close();
  await rm(dir, { recursive: true, force: true });
});

function reset(options: Partial<FakeContentUnderstanding["options"]> = {}) {
  fake.requests.length = 0;
  fake.documents.length = 0;
  for (const k of Object.keys(fake.modelDeployments)) delete fake.modelDeployments[k];
  for (const k of Object.keys(fake.options)) delete (fake.options as Record<string, unknown>)[k];
  Object.assign(fake.options, { key: KEY, runningPolls: 1 }, options);
}

const item = (data: Record<string, unknown>, n = 1): Content => ({
  id: { canonical_id: `https://acct.blob.core.windows.net/content/doc${n}.pdf`, unique_id: `u${n}` },
  data,
  summary_data: {},
  executor_logs: [],
});

/** "Multi-Format Document Processing using Azure Content Understanding": the extractor and its field mapper. */
function pipelineYaml(settings: Record<string, unknown> = {}, common = ""): string {
  const all: Record<string, unknown> = {
    analyzer_id: "prebuilt-documentSearch",
    output_content_format: "markdown",
    output_field: "content_understanding_result",
    content_understanding_endpoint: "${AZURE_CONTENT_UNDERSTANDING_ENDPOINT}",
    content_understanding_subscription_key: "${AZURE_CONTENT_UNDERSTANDING_API_KEY}",
    content_understanding_polling_interval: 0.02,
    content_understanding_model_mappings:
      '{"gpt-4.1":"gpt-4.1","gpt-4.1-mini":"gpt-4.1-mini","text-embedding-3-large":"text-embedding-3-large"}',
    // Failed items pass on with a failed log entry instead of failing the run (the entry is what the tests read).
    fail_pipeline_on_error: false,
    ...settings,
  };
  const lines = Object.entries(all).filter(([, v]) => v !== undefined)
    .map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`).join("\n");
  return `
pipeline:
  name: "Multi-Format Document Processing using Azure Content Understanding"
  executors:
    - id: content-understanding-1
      name: "Content Extraction"
      type: azure_content_understanding_extractor
      settings:
${lines}${common}
    - id: field_mapper-1
      type: field_mapper
      settings:
        mappings: |-
          {
          "content_understanding_result.result.contents.markdown": "markdown"
          }
        copy_mode: copy
        list_handling: concatenate
        join_separator: '---'
  edges:
    - from: content-understanding-1
      to: field_mapper-1
      type: sequential
`;
}

async function run(input: Content[], settings: Record<string, unknown> = {}, common = "", cfg = config) {
  const def = parsePipelineYaml(pipelineYaml(settings, common), {
    env: { AZURE_CONTENT_UNDERSTANDING_ENDPOINT: fake.endpoint + "/", AZURE_CONTENT_UNDERSTANDING_API_KEY: KEY },
  });
  const compiled = compilePipeline(def, { registry: defaultRegistry(), deps: { config: cfg, logger } });
  return await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
}

/** The extractor's log entry of the first item. */
function extractorLog(result: Awaited<ReturnType<typeof run>>) {
  return result.content[0].executor_logs.find((l) => l.executor_id === "content-understanding-1")!;
}

function failure(result: Awaited<ReturnType<typeof run>>): string {
  const log = extractorLog(result);
  assert.equal(log.status, "failed");
  return log.errors.join("; ");
}

describe("azure_content_understanding_extractor", () => {
  test("analyzeBinary, polls, stores the whole answer; the template's field mapper finds the markdown", async () => {
    reset();
    const result = await run([item({ temp_file_path: pdf }), item({ temp_file_path: pdf }, 2)]);
    assert.equal(result.status, "completed", result.error);
    const defaults = fake.requests.filter((r) => r.route === "defaults");
    assert.equal(defaults.length, 1, "default model deployments sent once per executor");
    assert.equal(defaults[0].headers["content-type"], "application/merge-patch+json");
    assert.deepEqual(fake.modelDeployments, {
      "gpt-4.1": "gpt-4.1",
      "gpt-4.1-mini": "gpt-4.1-mini",
      "text-embedding-3-large": "text-embedding-3-large",
    });
    const analyze = fake.requests.filter((r) => r.route === "analyze");
    assert.equal(analyze.length, 2);
    assert.equal(analyze[0].path, "/contentunderstanding/analyzers/prebuilt-documentSearch:analyzeBinary");
    assert.equal(analyze[0].query.get("api-version"), "2025-11-01");
    assert.equal(analyze[0].headers["content-type"], "application/octet-stream");
    assert.equal(analyze[0].headers["ocp-apim-subscription-key"], KEY);
    assert.deepEqual(fake.documents[0], PDF_BYTES);

    const out = result.content[0];
    const answer = out.data.content_understanding_result as Record<string, any>;
    assert.equal(answer.status, "Succeeded");
    assert.match(answer.id, /^[0-9a-f-]{36}$/);
    assert.equal(answer.result.analyzerId, "prebuilt-documentSearch");
    assert.equal(answer.result.contents[0].mimeType, "application/pdf");
    assert.equal(
      answer.result.contents[0].fields.Summary.valueString,
      "An invoice from Contoso for consulting services.",
    );
    assert.equal(out.data.markdown, answer.result.contents[0].markdown);
    assert.equal(out.data.figures, undefined);
    assert.equal(out.summary_data.extraction_status, "success");
    assert.equal(out.summary_data.analyzer_id, "prebuilt-documentSearch");
    const log = extractorLog(result);
    assert.equal(log.status, "completed");
    assert.equal(log.details?.pages_analyzed, 2);
    assert.equal(log.details?.operation_id, answer.id);
  });

  test("retrieve_figures downloads each figure (base64) with its metadata; a missing one is skipped", async () => {
    reset();
    const result = await run([item({ temp_file_path: pdf })], {
      analyzer_id: "prebuilt-documentSearch",
      retrieve_figures: true,
    });
    assert.equal(result.status, "completed", result.error);
    const figures = result.content[0].data.figures as Record<string, unknown>[];
    const op = (result.content[0].data.content_understanding_result as Record<string, string>).id;
    assert.equal(
      fake.requests.find((r) => r.route === "file")!.path,
      `/contentunderstanding/analyzerResults/${op}/files/contents/0/figures/2.1`,
    );
    const figure = (result.content[0].data.content_understanding_result as Record<string, any>).result.contents[0]
      .figures[0];
    assert.deepEqual(figures, [{
      id: "2.1",
      bytes: figurePng("2.1").toString("base64"),
      content_type: "image/png",
      source: figure.source,
      span: figure.span,
      caption: figure.caption,
      description: "A bar chart of sales by quarter.",
      elements: [],
    }]);
    assert.equal(extractorLog(result).details?.figures_retrieved, 1);

    // prebuilt-read does no layout analysis: no figures, nothing to download.
    reset();
    const read = await run([item({ temp_file_path: pdf })], { analyzer_id: "prebuilt-read", retrieve_figures: true });
    assert.equal(extractorLog(read).status, "completed", extractorLog(read).errors[0]);
    assert.equal(fake.requests.filter((r) => r.route === "file").length, 0);
    assert.equal(extractorLog(read).details?.figures_retrieved, 0);
    // prebuilt-layout finds the figure but neither analyses (kind) nor describes it.
    reset();
    const layout = await run([item({ temp_file_path: pdf })], {
      analyzer_id: "prebuilt-layout",
      retrieve_figures: true,
    });
    const layoutFigure = (layout.content[0].data.figures as Record<string, unknown>[])[0];
    assert.equal(layoutFigure.id, "2.1");
    assert.equal("description" in layoutFigure, false);
    reset({ missingFigures: ["2.1"] });
    const none = await run([item({ temp_file_path: pdf })], {
      retrieve_figures: true,
      content_understanding_max_retries: 0,
    });
    assert.equal(extractorLog(none).status, "completed");
    assert.equal(none.content[0].data.figures, undefined);
  });

  test("the temp file wins over content_field; content_field alone is base64", async () => {
    reset();
    await run([item({ temp_file_path: pdf, content: Buffer.from("other").toString("base64") })], {
      content_field: "content",
    });
    assert.deepEqual(fake.documents[0], PDF_BYTES);
    reset();
    await run([item({ content: PDF_BYTES.toString("base64") })], { content_field: "content" });
    assert.deepEqual(fake.documents[0], PDF_BYTES);
  });

  test("429 (seconds and HTTP date) and 503 are retried with Retry-After; 500s of a poll past the retries fail", async () => {
    reset();
    fake.fault("analyze", { kind: "status", status: 429, retryAfter: "0" });
    fake.fault("poll", { kind: "status", status: 429, retryAfter: new Date(Date.now() - 1000).toUTCString() }, {
      kind: "status",
      status: 503,
      retryAfter: "0",
    });
    const ok = await run([item({ temp_file_path: pdf })]);
    assert.equal(extractorLog(ok).status, "completed", extractorLog(ok).errors[0]);
    assert.equal(fake.requests.filter((r) => r.route === "fault").length, 3);

    reset();
    fake.fault("poll", ...Array.from({ length: 2 }, () => ({ kind: "status" as const, status: 500, retryAfter: "0" })));
    const message = failure(await run([item({ temp_file_path: pdf })], { content_understanding_max_retries: 1 }));
    assert.match(message, /^azure_content_understanding_extractor 'content-understanding-1', item https:\/\/acct/);
    assert.match(
      message,
      /Content Understanding get analyze result: HTTP 500: 500: fake fault 500 \(after 2 attempts\)/,
    );
    assert.ok(!message.includes(KEY));
  });

  test("failed operations, unknown analyzers and wrong keys fail with the service's words", async () => {
    reset({ outcome: "failed", failure: { code: "InvalidContent", message: "The file is corrupted." } });
    assert.match(
      failure(await run([item({ temp_file_path: pdf })])),
      /analysis failed: InvalidContent: The file is corrupted\./,
    );
    reset();
    assert.match(
      failure(await run([item({ temp_file_path: pdf })], { analyzer_id: "custom-x" })),
      /HTTP 404: ModelNotFound: Analyzer 'custom-x' not found/,
    );
    reset({ key: "not-the-right-key-123" });
    const wrongKey = failure(await run([item({ temp_file_path: pdf })]));
    assert.match(wrongKey, /update defaults: HTTP 401/);
    assert.ok(!wrongKey.includes(KEY));
  });

  test("content_understanding_model_mappings is required unless the analyzer needs no model; {} relies on the resource's defaults", async () => {
    reset();
    // As in ContentFlow, the mappings are required: a pipeline without them does not compile.
    await assert.rejects(
      run([item({ temp_file_path: pdf })], { content_understanding_model_mappings: undefined }),
      /invalid settings: content_understanding_model_mappings: is required for analyzer prebuilt-documentSearch \(as in ContentFlow\)/,
    );
    assert.equal(fake.requests.length, 0);
    // prebuilt-read and prebuilt-layout only extract content: no deployment needed, nothing PATCHed.
    for (const analyzer of ["prebuilt-read", "prebuilt-layout"]) {
      reset();
      const extractOnly = await run([item({ temp_file_path: pdf })], {
        content_understanding_model_mappings: undefined,
        analyzer_id: analyzer,
      });
      assert.equal(extractorLog(extractOnly).status, "completed", extractorLog(extractOnly).errors[0]);
      assert.deepEqual(fake.requests.map((r) => r.route).slice(0, 1), ["analyze"]);
    }
    // {}: the resource's defaults, set elsewhere, are used; nothing is PATCHed. Without any, the fake refuses the
    // analysis as the service does, and the message says what to set.
    reset();
    const unset = failure(await run([item({ temp_file_path: pdf })], { content_understanding_model_mappings: "{}" }));
    assert.match(
      unset,
      /analyze \(prebuilt-documentSearch\): HTTP 400: InvalidRequest: Invalid request\. \(ModelDeploymentNotConfigured\) \[modelDeployments ModelDeploymentNotConfigured: Analyzer 'prebuilt-documentSearch' needs model deployments/,
    );
    assert.match(
      unset,
      /content_understanding_model_mappings is \{\}, so the resource's own default model deployments/,
    );
    assert.equal(fake.documents.length, 0);
    reset();
    Object.assign(fake.modelDeployments, { "gpt-4.1": "gpt-4.1" }); // set in the portal
    const preset = await run([item({ temp_file_path: pdf })], { content_understanding_model_mappings: "{}" });
    assert.equal(extractorLog(preset).status, "completed", extractorLog(preset).errors[0]);
    assert.equal(fake.requests.filter((r) => r.route === "defaults").length, 0);
    // The mappings are sent as the resource's defaults before the first analysis.
    reset();
    const ok = await run([item({ temp_file_path: pdf })]);
    assert.equal(extractorLog(ok).status, "completed", extractorLog(ok).errors[0]);
    assert.deepEqual(fake.requests.map((r) => r.route).slice(0, 2), ["defaults", "analyze"]);
  });

  test("a failed operation's error details and inner error codes are in the message (Azure.Core Error)", async () => {
    reset({
      outcome: "failed",
      failure: {
        code: "InvalidRequest",
        message: "Invalid request.",
        innererror: { code: "InvalidContent", innererror: { code: "CorruptedPdf" } },
        details: [
          { code: "InvalidParameter", target: "pages", message: "Page 9 is out of range." },
          { code: "UnsupportedContent", message: "Encrypted documents are not supported." },
        ],
      },
    });
    assert.match(
      failure(await run([item({ temp_file_path: pdf })])),
      /analysis failed: InvalidRequest: Invalid request\. \(InvalidContent > CorruptedPdf\) \[pages InvalidParameter: Page 9 is out of range\.; UnsupportedContent: Encrypted documents are not supported\.\]/,
    );
  });

  test("content_understanding_timeout ends an analysis that stays running; so does the item's timeout", async () => {
    reset({ outcome: "forever" });
    assert.match(
      failure(await run([item({ temp_file_path: pdf })], { content_understanding_timeout: 1 })),
      /analysis still running after \d+ s \(limit 1 s\)/,
    );
    reset({ outcome: "forever" });
    const result = await run([item({ temp_file_path: pdf })], {}, "\n        timeout_secs: 1");
    assert.match(failure(result), /timed out after 1 s/);
    const polls = fake.requests.filter((r) => r.route === "poll").length;
    // Polling on (every 20 ms) would send about 15 more polls in this wait; one poll already on its way when the
    // timeout fired may still reach the fake (a loaded machine delivers it late).
    await sleep(300);
    const later = fake.requests.filter((r) => r.route === "poll").length - polls;
    assert.ok(later <= 1, `${later} polls after the timeout`);
  });

  test("cut-off answers are retried, non-JSON answers fail", async () => {
    reset();
    fake.fault("poll", { kind: "truncated" });
    assert.equal(extractorLog(await run([item({ temp_file_path: pdf })])).status, "completed");
    reset();
    fake.fault("poll", { kind: "not-json" });
    assert.match(failure(await run([item({ temp_file_path: pdf })])), /HTTP 200: the answer is not valid JSON/);
  });

  test("an analyze POST is not sent again once the service may have accepted it (no double billing)", async () => {
    reset();
    // The fake takes the document and starts the analysis, but answers after the request timeout.
    fake.fault("analyze", { kind: "slow", delayMs: 2500 });
    const slow = failure(await run([item({ temp_file_path: pdf })], { content_understanding_timeout: 1 }));
    assert.match(
      slow,
      /analyze \(prebuilt-documentSearch\): no answer within 1 s; not sent again: the service may have accepted it/,
    );
    assert.equal(fake.requests.filter((r) => r.route === "analyze").length, 1);
    // The fake's late answer still starts the analysis: wait for it, so it is counted here and not in a later test.
    while (fake.documents.length === 0) await sleep(50);
    assert.equal(fake.documents.length, 1);

    reset();
    fake.fault("analyze", { kind: "truncated" });
    failure(await run([item({ temp_file_path: pdf })]));
    assert.equal(fake.requests.filter((r) => r.route === "analyze" || r.route === "fault").length, 1);

    // A 500, 502 or 504 may come after the service took the request: one POST only.
    for (const status of [500, 502, 504]) {
      reset();
      fake.fault("analyze", { kind: "status", status, retryAfter: "0" });
      assert.match(
        failure(await run([item({ temp_file_path: pdf })])),
        new RegExp(`analyze \\(prebuilt-documentSearch\\): HTTP ${status}: .*; not sent again: the service may have`),
      );
      assert.equal(fake.requests.filter((r) => r.route !== "defaults").length, 1, `${status}`);
    }
  });

  test("an Operation-Location on another host is not followed (the key would go with it)", async () => {
    reset({ operationOrigin: "http://127.0.0.2:9" });
    assert.match(failure(await run([item({ temp_file_path: pdf })])), /Operation-Location points to another host/);
    assert.equal(fake.requests.filter((r) => r.route === "poll").length, 0);
  });

  test("without a key, an endpoint outside Azure AI's domains is refused when the pipeline compiles", async () => {
    reset();
    await assert.rejects(
      run([item({ temp_file_path: pdf })], { content_understanding_subscription_key: null }),
      /^PipelineError: executor 'content-understanding-1' \(azure_content_understanding_extractor\): invalid settings: content_understanding_endpoint: a managed-identity token goes only to Azure AI .*not to '127\.0\.0\.1'/,
    );
    assert.equal(fake.requests.length, 0);
  });

  test("without a key, Microsoft Entra tokens are used, but never sent over plain http", async () => {
    reset();
    // The fake's host must be listed for the worker's managed-identity token (as an operator would list a gateway).
    const listed = (await loadConfig({
      env: { ...LOOPBACK, MANAGED_IDENTITY_ALLOWED_HOSTS: "127.0.0.1" },
      dotenvPath: false,
    })).config;
    const result = await run(
      [item({ temp_file_path: pdf })],
      { content_understanding_subscription_key: null },
      "",
      listed,
    );
    const message = failure(result);
    assert.match(message, /refusing to send a Microsoft Entra token over plain http to 127\.0\.0\.1/);
    assert.ok(!message.includes("attempts"), "not retried");
    assert.equal(fake.requests.length, 0);
  });

  test("the outbound policy refuses a loopback endpoint unless OUTBOUND_ALLOWED_PRIVATE_HOSTS allows it", async () => {
    reset();
    const closed = (await loadConfig({
      env: { PIPELINE_ENV_ALLOWED_VARIABLES: LOOPBACK.PIPELINE_ENV_ALLOWED_VARIABLES },
      dotenvPath: false,
    })).config;
    const def = parsePipelineYaml(pipelineYaml(), {
      env: { AZURE_CONTENT_UNDERSTANDING_ENDPOINT: fake.endpoint, AZURE_CONTENT_UNDERSTANDING_API_KEY: KEY },
    });
    assert.throws(
      () => compilePipeline(def, { registry: defaultRegistry(), deps: { config: closed, logger } }),
      /content-understanding-1.*refused: loopback addresses need OUTBOUND_ALLOWED_PRIVATE_HOSTS/,
    );
    assert.equal(fake.requests.length, 0);
  });

  test("size limits and settings errors", async () => {
    reset();
    const big = join(dir, "big.pdf");
    await writeFile(big, Buffer.alloc(1024 * 1024 + 1, 1));
    assert.match(
      failure(await run([item({ temp_file_path: big })], { max_document_mb: 1 })),
      /more than max_document_mb/,
    );
    assert.equal(fake.requests.filter((r) => r.route === "analyze").length, 0);
    assert.throws(
      () =>
        compilePipeline(
          parsePipelineYaml(
            pipelineYaml({ content_understanding_endpoint: "https://<foundry-resource>.services.ai.azure.com/" }),
            {
              env: { AZURE_CONTENT_UNDERSTANDING_API_KEY: KEY },
            },
          ),
          { registry: defaultRegistry(), deps: { config, logger } },
        ),
      /content_understanding_endpoint still holds the catalog's placeholder/,
    );
  });
});

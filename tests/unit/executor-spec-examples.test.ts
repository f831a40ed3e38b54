// The services' own example answers (tests/fixtures/azure-specs, copied from Azure/azure-rest-api-specs) fed through
// our clients' parsing, so that the fakes in tests/helpers and the published contract cannot drift apart unnoticed.
// Each example is served as is by a bare local service; nothing of the fakes' own answers is used except where a
// spec example is missing (see the fixtures' README).
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import { AzureOpenAIService } from "../../src/executors/ai/openai-client.ts";
import { type FakeService, json, startFakeService } from "../helpers/fake-service.ts";
import { analyzeResult } from "../helpers/fake-content-understanding.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({
  env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost" },
  dotenvPath: false,
});
const logger = new Logger();
const FIXTURES = new URL("../fixtures/azure-specs/", import.meta.url);

interface Example {
  parameters: Record<string, unknown>;
  responses: Record<string, { headers?: Record<string, string>; body?: unknown }>;
}
const example = (path: string): Example => JSON.parse(readFileSync(new URL(path, FIXTURES), "utf8"));

const services: FakeService[] = [];
after(async () => {
  for (const s of services) await s.close();
});

async function serve(
  route: (method: string, path: string) => string | undefined,
  handle: Parameters<typeof startFakeService>[1],
): Promise<FakeService> {
  const service = await startFakeService(route, handle);
  services.push(service);
  return service;
}

const item = (data: Record<string, unknown>): Content => ({
  id: { canonical_id: "https://acct.blob.core.windows.net/content/doc.pdf", unique_id: "u1" },
  data,
  summary_data: {},
  executor_logs: [],
});

async function runPipelineWith(type: string, settings: Record<string, unknown>, input: Content[]) {
  const lines = Object.entries(settings).map(([k, v]) => `        ${k}: ${JSON.stringify(v)}`).join("\n");
  const yaml = `
pipeline:
  name: spec-examples
  executors:
    - id: x
      type: ${type}
      settings:
        fail_pipeline_on_error: false
${lines}
  edges: []
`;
  const compiled = compilePipeline(parsePipelineYaml(yaml, { env: {} }), {
    registry: defaultRegistry(),
    deps: { config, logger },
  });
  return await runPipeline(compiled, input, { signal: new AbortController().signal, logger });
}

async function runExecutor(type: string, settings: Record<string, unknown>, input: Content[]) {
  const result = await runPipelineWith(type, settings, input);
  return result.content[0].executor_logs.at(-1)!;
}

describe("the specs' example answers through our clients", () => {
  test("Azure OpenAI 2024-10-21: chat_completions.json and embeddings.json", async () => {
    const chat = example("azure-openai/chat_completions.json");
    const embeddings = example("azure-openai/embeddings.json");
    const service = await serve(
      (method, path) =>
        method === "POST" && path.endsWith("/chat/completions")
          ? "chat"
          : method === "POST" && path.endsWith("/embeddings")
          ? "embeddings"
          : undefined,
      (name) => json(200, (name === "chat" ? chat : embeddings).responses["200"].body),
    );
    const openai = (deployment: string) =>
      new AzureOpenAIService({
        endpoint: service.endpoint,
        deployment,
        apiVersion: "2024-10-21",
        auth: { kind: "key", apiKey: "example-key" },
        limits: {
          maxConcurrentPerEndpoint: 2,
          maxRetryDelayMs: 0,
          maxRequestBytes: 100_000,
          maxResponseBytes: 100_000,
        },
        retry: { maxRetries: 0, initialDelayMs: 0, factor: 2 },
      });
    const signal = new AbortController().signal;
    const body = chat.parameters.body as { messages: Array<{ role: "system" | "user"; content: string }> };
    const answer = await openai(String(chat.parameters["deployment-id"])).chat({ messages: body.messages }, { signal });
    assert.match(answer.text, /^Ahoy matey!/);
    assert.equal(answer.finishReason, "stop");
    assert.deepEqual(answer.usage, { prompt_tokens: 33, completion_tokens: 557, total_tokens: 590 });
    assert.equal(service.requests[0].query.get("api-version"), "2024-10-21");

    const input = (embeddings.parameters.body as { input: string[] }).input;
    const vectors = await openai("emb").embed(input, {}, { signal });
    assert.equal(vectors.vectors.length, 1);
    assert.deepEqual(vectors.vectors[0].slice(0, 2), [-0.012838088, -0.007421397]);
  });

  test("Document Intelligence 2024-11-30: the 202 of AnalyzeDocument_Stream.json is followed to its analyzeResults", async () => {
    const accepted = example("document-intelligence/AnalyzeDocument_Stream.json").responses["202"];
    const resultId = /analyzeResults\/([^?]+)/.exec(accepted.headers!["Operation-Location"])![1];
    let origin = "";
    const service = await serve(
      (method, path) =>
        method === "POST" && path.endsWith(":analyze") ? "analyze" : method === "GET" ? "poll" : undefined,
      (name) =>
        name === "analyze"
          ? {
            status: 202,
            // The example's host is the example's; the rest of the header is as published.
            headers: {
              "operation-location": accepted.headers!["Operation-Location"].replace(/^https:\/\/[^/]+/, origin),
            },
          }
          : json(200, {
            status: "succeeded",
            createdDateTime: "",
            lastUpdatedDateTime: "",
            analyzeResult: { content: "x" },
          }),
    );
    origin = service.endpoint;
    const dir = await mkdtemp(join(tmpdir(), "spec-examples-"));
    try {
      await writeFile(join(dir, "doc.pdf"), "%PDF-1.7\n%%EOF\n");
      const log = await runExecutor("azure_document_intelligence_extractor", {
        doc_intelligence_endpoint: service.endpoint,
        doc_intelligence_credential_key: "example-key",
        model_id: String(example("document-intelligence/AnalyzeDocument_Stream.json").parameters.modelId),
        pages: String(example("document-intelligence/AnalyzeDocument_Stream.json").parameters.pages),
        polling_interval_secs: 0.01,
      }, [item({ temp_file_path: join(dir, "doc.pdf") })]);
      assert.equal(log.status, "completed", log.errors[0]);
      assert.equal(log.details?.result_id, resultId);
      assert.match(service.requests[1].path, new RegExp(`/analyzeResults/${resultId}$`));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("Content Understanding 2025-11-01: UpdateDefaults.json, the 202 of AnalyzeBinary.json, GetResult.json", async () => {
    const defaults = example("content-understanding/ContentAnalyzers_UpdateDefaults.json");
    const result = example("content-understanding/ContentAnalyzers_GetResult.json");
    const accepted = example("content-understanding/ContentAnalyzers_AnalyzeBinary.json").responses["202"];
    let origin = "";
    let polls = 0;
    const service = await serve(
      (method, path) =>
        method === "PATCH"
          ? "defaults"
          : method === "POST" && path.endsWith(":analyzeBinary")
          ? "analyze"
          : method === "GET"
          ? "poll"
          : undefined,
      (name) => {
        if (name === "defaults") return json(200, defaults.responses["200"].body);
        const location = accepted.headers!["Operation-Location"].replace(/^https:\/\/[^/]+/, origin);
        if (name === "analyze") return json(202, accepted.body, { "operation-location": location });
        // The first poll answers the example's own status body (NotStarted), the next the GetResult example.
        if (polls++ === 0) return json(200, accepted.body);
        return json(200, result.responses["200"].body);
      },
    );
    origin = service.endpoint;
    const log = await runExecutor("azure_content_understanding_extractor", {
      content_understanding_endpoint: service.endpoint,
      content_understanding_subscription_key: "example-key",
      content_understanding_api_version: "2025-11-01",
      analyzer_id: String(example("content-understanding/ContentAnalyzers_AnalyzeBinary.json").parameters.analyzerId),
      content_understanding_model_mappings: JSON.stringify(
        (defaults.parameters.body as { modelDeployments: Record<string, string> }).modelDeployments,
      ),
      content_understanding_polling_interval: 0.01,
      content_encoding: "utf-8",
      content_field: "text",
    }, [item({ text: "Example File" })]);
    assert.equal(log.status, "completed", log.errors[0]);
    assert.equal(log.details?.operation_id, "3b31320d-8bab-4f88-b19c-2322a7f11034");
    assert.equal(log.details?.pages_analyzed, 2, "the example's two pages");
    assert.equal(polls, 2);
  });

  test("Content Understanding 2025-11-01: GetResultFile.json's answer is a figure's bytes", async () => {
    const file = example("content-understanding/ContentAnalyzers_GetResultFile.json");
    const operationId = String(file.parameters.operationId);
    // No published result example has figures: the analysis result is the fake's (one content, figure 2.1).
    const service = await serve(
      (method, path) =>
        method === "POST" && path.endsWith(":analyzeBinary")
          ? "analyze"
          : method === "GET" && path.includes("/files/")
          ? "file"
          : method === "GET"
          ? "poll"
          : undefined,
      (name) => {
        const location =
          `${service.endpoint}/contentunderstanding/analyzerResults/${operationId}?api-version=2025-11-01`;
        if (name === "analyze") {
          return json(202, { id: operationId, status: "NotStarted" }, { "operation-location": location });
        }
        if (name === "file") {
          return { status: 200, headers: { "content-type": "image/png" }, body: String(file.responses["200"].body) };
        }
        return json(200, {
          id: operationId,
          status: "Succeeded",
          result: analyzeResult("prebuilt-layout", "2025-11-01", "application/pdf"),
        });
      },
    );
    const run = await runPipelineWith("azure_content_understanding_extractor", {
      content_understanding_endpoint: service.endpoint,
      content_understanding_subscription_key: "example-key",
      analyzer_id: "prebuilt-layout",
      retrieve_figures: true,
      content_understanding_polling_interval: 0.01,
      content_encoding: "utf-8",
      content_field: "text",
    }, [item({ text: "Example File" })]);
    const log = run.content[0].executor_logs.at(-1)!;
    assert.equal(log.status, "completed", log.errors[0]);
    const [figure] = run.content[0].data.figures as Array<{ id: string; bytes: string }>;
    assert.equal(figure.id, "2.1");
    assert.equal(Buffer.from(figure.bytes, "base64").toString(), file.responses["200"].body);
    const asked = service.requests.find((r) => r.route === "file")!;
    assert.equal(asked.path, `/contentunderstanding/analyzerResults/${operationId}/files/contents/0/figures/2.1`);
    assert.equal(asked.query.get("api-version"), file.parameters["api-version"]);
  });

  test("AI Search 2024-07-01: the 200 and 207 answers of SearchIndexIndexDocuments.json", async () => {
    const spec = example("ai-search/SearchIndexIndexDocuments.json");
    let status = "200";
    const service = await serve(
      (method, path) => (method === "POST" && path.endsWith("/docs/search.index") ? "index" : undefined),
      () => json(Number(status), spec.responses[status].body),
    );
    const batch = (spec.parameters.batch as { value: Record<string, unknown>[] }).value;
    const chunks = batch.map(({ "@search.action": _, ...doc }) => doc);
    const settings = {
      ai_search_endpoint: service.endpoint,
      ai_search_credential_type: "azure_key_credential",
      ai_search_api_key: "example-key",
      ai_search_index: String(spec.parameters.indexName),
      content_to_index_mappings: '{"docId": "docId", "title": "title", "description": "description"}',
      max_retries: 1,
    };
    const ok = await runExecutor("ai_search_index_output", settings, [item({ chunks })]);
    assert.equal(ok.status, "completed", ok.errors[0]);
    assert.equal(ok.details?.indexed_count, 4);
    status = "207";
    const partial = await runExecutor("ai_search_index_output", settings, [item({ chunks })]);
    assert.equal(partial.status, "failed");
    assert.match(partial.errors[0], /1 of 4 documents rejected: 2 \(404: Document not found\.\)/);
  });

  test("AI Search 2025-09-01: the index definition of SearchServiceGetIndex.json shapes the documents", async () => {
    const spec = example("ai-search/SearchServiceGetIndex.json");
    const indexName = String(spec.parameters.indexName);
    const service = await serve(
      (method, path) =>
        method === "GET" && path === `/indexes('${indexName}')`
          ? "definition"
          : method === "POST" && path === `/indexes('${indexName}')/docs/search.index`
          ? "index"
          : undefined,
      (name, req) => {
        if (name === "definition") return json(200, spec.responses["200"].body);
        const docs = (JSON.parse(req.body.toString()) as { value: Array<{ id: string }> }).value;
        return json(200, {
          value: docs.map((d) => ({ key: d.id, status: true, errorMessage: null, statusCode: 201 })),
        });
      },
    );
    const log = await runExecutor("ai_search_index_output", {
      ai_search_endpoint: service.endpoint,
      ai_search_credential_type: "azure_key_credential",
      ai_search_api_key: "example-key",
      ai_search_index: indexName,
      ai_search_api_version: spec.parameters["api-version"],
      content_to_index_mappings: '{"id": "id", "name": "name", "description": "description"}',
      index_mode: "document",
    }, [item({ id: "doc-1", name: "Contoso", description: { summary: "an invoice" } })]);
    assert.equal(log.status, "completed", log.errors[0]);
    assert.equal(service.requests[0].query.get("api-version"), "2025-09-01");
    const sent = JSON.parse(service.requests.find((r) => r.route === "index")!.body.toString()).value[0];
    // The definition was read: an object bound for the Edm.String field "description" goes as JSON text, and the
    // index has no indexed_at field, so none is added.
    assert.equal(sent.description, '{"summary":"an invoice"}');
    assert.equal(sent.id, "doc-1");
    assert.equal("indexed_at" in sent, false);
  });
});

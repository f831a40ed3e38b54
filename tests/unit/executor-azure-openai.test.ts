// The Azure OpenAI executors against a local fake of the Azure OpenAI REST contract (tests/helpers/fake-azure-openai.ts):
// the requests they send (paths, auth, prompts, fields, batch sizes), how answers map to output fields, and the
// production behaviour (Retry-After, backoff, concurrency per endpoint, cancellation, size limits, error messages).
import { after, before, beforeEach, describe, test } from "node:test";
import assert from "node:assert/strict";
import process from "node:process";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { Config } from "../../src/config/schema.ts";
import { resetUsage, usageTotals } from "../../src/executors/ai/usage.ts";
import {
  AzureOpenAIService,
  chatLimitFields,
  parseOpenAIEndpoint,
  refusesChatForm,
} from "../../src/executors/ai/openai-client.ts";
import { type FakeAzureOpenAI, fakeVector, startFakeAzureOpenAI } from "../helpers/fake-azure-openai.ts";
import { sleep } from "../helpers/wait.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
const KEY = "fake-key-0123456789";
// The fake listens on loopback, which the outbound policy refuses unless the operator allows it; a pipeline reads a
// key variable only when PIPELINE_ENV_ALLOWED_VARIABLES names it.
const { config: baseConfig } = await loadConfig({
  env: {
    AI_MAX_RETRY_DELAY_SECONDS: "0",
    OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
    PIPELINE_ENV_ALLOWED_VARIABLES: "*,AOAI_KEY",
  },
  dotenvPath: false,
});

let fake: FakeAzureOpenAI;
before(async () => {
  fake = await startFakeAzureOpenAI({ apiKeys: [KEY], tokens: ["entra-token-1"], defaultDimensions: 6 });
});
after(async () => await fake.close());
beforeEach(() => {
  fake.reset();
  fake.setChat(() => "fine answer");
  resetUsage();
});

function item(id: string, data: Record<string, unknown>): Content {
  return { id: { canonical_id: id, unique_id: `u-${id}` }, data, summary_data: {}, executor_logs: [] };
}

/** One executor; `fail_pipeline_on_error: false` so that failed items pass on with their log entries to read. */
function yamlFor(type: string, settings: Record<string, unknown>, common: Record<string, unknown> = {}): string {
  return JSON.stringify({
    pipeline: {
      name: `test-${type}`,
      executors: [{ id: "ai", type, settings: { fail_pipeline_on_error: false, ...settings, ...common } }],
    },
  });
}

async function run(
  type: string,
  settings: Record<string, unknown>,
  items: Content[],
  opts: { config?: Partial<Config>; common?: Record<string, unknown>; signal?: AbortSignal } = {},
) {
  const env = { AOAI_ENDPOINT: fake.endpoint, AOAI_KEY: KEY };
  const def = parsePipelineYaml(yamlFor(type, settings, opts.common), { env });
  const pipeline = compilePipeline(def, { registry, deps: { config: { ...baseConfig, ...opts.config }, logger } });
  try {
    return await runPipeline(pipeline, items, { signal: opts.signal ?? new AbortController().signal, logger });
  } finally {
    await pipeline.close();
  }
}

const conn = { endpoint: "${AOAI_ENDPOINT}", deployment_name: "gpt-4.1-mini", api_key: "${AOAI_KEY}" };

describe("azure_openai_agent", () => {
  test("sends instructions and the nested input as chat messages, stores the answer and records tokens", async () => {
    fake.setChat(() => ({ content: "Short summary.", usage: { prompt_tokens: 31, completion_tokens: 4 } }));
    const result = await run("azure_openai_agent", {
      ...conn,
      instructions: "Summarise the text.",
      input_field: "pdf_output.text",
      output_field: "summary",
      temperature: 0.1,
    }, [item("doc-1", { pdf_output: { text: "A long report about rivers." } })]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(fake.requests.length, 1);
    const req = fake.requests[0];
    assert.equal(req.path, "/openai/deployments/gpt-4.1-mini/chat/completions");
    assert.equal(req.apiVersion, "2024-10-21");
    assert.equal(req.headers["api-key"], KEY);
    assert.equal(req.headers["authorization"], undefined);
    assert.deepEqual(req.body.messages, [
      { role: "system", content: "Summarise the text." },
      { role: "user", content: "A long report about rivers." },
    ]);
    assert.equal(req.body.temperature, 0.1);
    assert.equal(req.body.max_tokens, 400);
    assert.equal(req.body.response_format, undefined);
    const out = result.content[0];
    assert.equal(out.data?.summary, "Short summary.");
    assert.equal(out.summary_data?.agent_execution_status, "success");
    assert.equal(out.summary_data?.response_length, 14);
    const log = out.executor_logs?.at(-1);
    assert.equal(log?.status, "completed");
    assert.deepEqual(log?.details, {
      token_usage: {
        deployment: "gpt-4.1-mini",
        prompt_tokens: 31,
        completion_tokens: 4,
        total_tokens: 35,
        finish_reason: "stop",
        attempts: 1,
      },
    });
    assert.deepEqual(result.executor_outputs.ai.usage, {
      calls: 1,
      prompt_tokens: 31,
      completion_tokens: 4,
      total_tokens: 35,
    });
    assert.deepEqual(usageTotals().tokens.azure_openai_agent, { prompt: 31, completion: 4 });
  });

  test("parse_response_as_json keeps ContentFlow's outermost-braces parsing; include_full_response keeps the answer", async () => {
    fake.setChat(() => 'Here you go:\n```json\n{"kpis": [1, 2], "currency": "EUR"}\n```');
    const result = await run("azure_openai_agent", {
      ...conn,
      parse_response_as_json: true,
      include_full_response: true,
    }, [item("d", { text: "report" }), item("e", { text: { nested: true } })]);
    assert.equal(result.status, "completed", result.error);
    const [a, b] = result.content;
    assert.deepEqual(a.data?.agent_response, { kpis: [1, 2], currency: "EUR" });
    assert.equal(a.summary_data?.response_length, 2, "Python's len() of the parsed mapping: its keys");
    const full = a.data?.agent_response_agent_full_response as { object: string; choices: unknown[] };
    assert.equal(full.object, "chat.completion");
    assert.equal(full.choices.length, 1);
    // The items are sent at the same time, so the fake may see them in either order; a non-text input goes as JSON.
    const userMessages = fake.requests.map((r) => (r.body.messages as any[] | undefined)?.[1]?.content).sort();
    assert.deepEqual(userMessages, ["report", '{"nested":true}']);
    assert.ok(b.data?.agent_response);
  });

  test("an answer without JSON stays text; a missing input field fails the item naming the field", async () => {
    fake.setChat(() => "no braces here");
    const result = await run("azure_openai_agent", { ...conn, parse_response_as_json: true }, [
      item("ok", { text: "x" }),
      item("missing", { other: "x" }),
    ]);
    assert.equal(result.content[0].data?.agent_response, "no braces here");
    const failed = result.content[1].executor_logs?.at(-1);
    assert.equal(failed?.status, "failed");
    assert.match(failed?.errors?.[0] ?? "", /azure_openai_agent 'ai', item 'missing': .*Field 'text' not found/);
    assert.equal(fake.requests.length, 1);
  });

  test("without an endpoint setting the worker's AZURE_OPENAI_ENDPOINT is used (as ContentFlow's clients did)", async () => {
    const result = await run("sentiment_analyser", { deployment_name: "gpt-4.1-mini", api_key: "${AOAI_KEY}" }, [
      item("d", { text: "fine" }),
    ], { config: { AZURE_OPENAI_ENDPOINT: fake.endpoint } });
    assert.equal(result.status, "completed", result.error);
    assert.equal(fake.requests[0].path, "/openai/deployments/gpt-4.1-mini/chat/completions");
  });

  test("the /openai/v1 endpoint form: model in the body, no api-version, bearer key", async () => {
    const result = await run("azure_openai_agent", {
      endpoint: fake.v1Endpoint,
      deployment_name: "gpt-4.1",
      credential_type: "azure_key_credential",
      api_key: KEY,
    }, [item("d", { text: "hello" })]);
    assert.equal(result.status, "completed", result.error);
    const req = fake.requests[0];
    assert.equal(req.path, "/openai/v1/chat/completions");
    assert.equal(req.apiVersion, null);
    assert.equal(req.body.model, "gpt-4.1");
    assert.equal(req.headers["authorization"], `Bearer ${KEY}`);
    assert.deepEqual(parseOpenAIEndpoint("https://r.openai.azure.com/openai/v1/"), {
      style: "v1",
      baseURL: "https://r.openai.azure.com/openai/v1",
      host: "r.openai.azure.com",
    });
    assert.equal(
      parseOpenAIEndpoint("https://r.cognitiveservices.azure.com").baseURL,
      "https://r.cognitiveservices.azure.com/openai",
    );
  });

  test("settings are checked when the pipeline compiles: endpoint, key for azure_key_credential", () => {
    const compile = (settings: Record<string, unknown>) =>
      compilePipeline(parsePipelineYaml(yamlFor("azure_openai_agent", settings), { env: {} }), {
        registry,
        deps: { config: baseConfig, logger },
      });
    assert.throws(
      () => compile({ endpoint: "https://<foundry-resource>.openai.azure.com/openai/v1/", deployment_name: "d" }),
      /executor 'ai' \(azure_openai_agent\): endpoint .* is not a URL/,
    );
    assert.throws(
      () => compile({ endpoint: fake.endpoint, deployment_name: "d", credential_type: "azure_key_credential" }),
      /^PipelineError: executor 'ai' \(azure_openai_agent\): api_key must be set when credential_type is azure_key_credential$/,
    );
    assert.throws(
      () => compile({ deployment_name: "d" }),
      /executor 'ai' \(azure_openai_agent\): endpoint is required \(or set AZURE_OPENAI_ENDPOINT for the worker\)/,
    );
    assert.throws(() => compile({ endpoint: fake.endpoint }), /invalid settings: deployment_name: is required$/);
    // The outbound policy: loopback (the fake) only when OUTBOUND_ALLOWED_PRIVATE_HOSTS allows it; hosts listed.
    const compileWith = (config: Partial<Config>, endpoint: string) =>
      compilePipeline(
        parsePipelineYaml(yamlFor("text_summarizer", { endpoint, deployment_name: "d", api_key: KEY }), { env: {} }),
        { registry, deps: { config: { ...baseConfig, ...config }, logger } },
      );
    assert.throws(
      () => compileWith({ OUTBOUND_ALLOWED_PRIVATE_HOSTS: [] }, fake.endpoint),
      /executor 'ai' \(text_summarizer\): calls to address 127\.0\.0\.1 are refused: loopback addresses need OUTBOUND_ALLOWED_PRIVATE_HOSTS/,
    );
    assert.throws(
      () => compileWith({}, "http://169.254.169.254/"),
      /address 169\.254\.169\.254 are refused: cloud metadata/,
    );
    assert.throws(
      () => compileWith({ OUTBOUND_ALLOWED_HOSTS: ["*.openai.azure.com"] }, "https://evil.example.com/"),
      /host 'evil\.example\.com' is not in OUTBOUND_ALLOWED_HOSTS/,
    );
    compileWith({ OUTBOUND_ALLOWED_HOSTS: ["*.openai.azure.com"] }, "https://res.openai.azure.com/").close();
  });
});

describe("Azure OpenAI call behaviour", () => {
  test("429 with Retry-After (seconds, HTTP-date, retry-after-ms) is retried, then the answer is used", async () => {
    fake.enqueueFaults(
      { kind: "status", status: 429, retryAfter: "3600" },
      { kind: "status", status: 429, retryAfter: new Date(Date.now() - 1000).toUTCString() },
      { kind: "status", status: 503, retryAfterMs: "5" },
    );
    const result = await run("azure_openai_agent", { ...conn, retry_backoff_seconds: 0 }, [item("d", { text: "t" })]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(fake.requests.length, 4);
    assert.equal(result.content[0].data?.agent_response, "fine answer");
    assert.equal((result.content[0].executor_logs?.at(-1)?.details as any).token_usage.attempts, 4);
  });

  test("persistent 500s: max_retries + 1 attempts; the error names executor, item and status, never the key", async () => {
    fake.enqueueFaults(
      ...Array.from({ length: 3 }, () => ({
        kind: "status" as const,
        status: 500,
        message: `internal error (key ${KEY} was used)`,
      })),
    );
    const result = await run(
      "azure_openai_agent",
      { ...conn, max_retries: 2, retry_backoff_seconds: 0 },
      [item("doc-7", { text: "t" })],
    );
    assert.equal(fake.requests.length, 3);
    const log = result.content[0].executor_logs?.at(-1);
    assert.equal(log?.status, "failed");
    const message = log?.errors?.[0] ?? "";
    assert.match(
      message,
      /^azure_openai_agent 'ai', item 'doc-7': chat completion \(deployment 'gpt-4\.1-mini' at 127\.0\.0\.1:\d+\) failed after 3 attempts: HTTP 500/,
    );
    assert.ok(!message.includes(KEY), message);
    assert.ok(message.includes("***"));
  });

  test("400 is not retried; JSON mode is sent as response_format and the fake enforces 'json' in the messages", async () => {
    const result = await run("azure_openai_agent", {
      ...conn,
      instructions: "Answer briefly.",
      response_format: "json_object",
    }, [item("d", { text: "t" })]);
    assert.equal(fake.requests.length, 1);
    assert.deepEqual(fake.requests[0].body.response_format, { type: "json_object" });
    assert.match(
      result.content[0].executor_logs?.at(-1)?.errors?.[0] ?? "",
      /HTTP 400 BadRequest: 'messages' must contain the word 'json'/,
    );

    fake.reset();
    const schema = { name: "answer", strict: true, schema: { type: "object", properties: { a: { type: "string" } } } };
    fake.setChat(() => '{"a": "b"}');
    const ok = await run("azure_openai_agent", { ...conn, response_format: schema, parse_response_as_json: true }, [
      item("d", { text: "t" }),
    ]);
    assert.deepEqual(fake.requests[0].body.response_format, { type: "json_schema", json_schema: schema });
    assert.deepEqual(ok.content[0].data?.agent_response, { a: "b" });
  });

  test("a truncated body is retried; a refusal or empty answer fails the item", async () => {
    fake.enqueueFaults({ kind: "malformed" });
    const result = await run("azure_openai_agent", { ...conn, retry_backoff_seconds: 0 }, [item("d", { text: "t" })]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(fake.requests.length, 2);
    assert.equal(result.content[0].data?.agent_response, "fine answer");

    fake.reset();
    fake.setChat(() => ({ content: null, refusal: "I can't help with that.", finish_reason: "stop" }));
    const refused = await run("azure_openai_agent", conn, [item("d", { text: "t" })]);
    assert.match(refused.content[0].executor_logs?.at(-1)?.errors?.[0] ?? "", /the model refused: I can't help/);
  });

  test("calls per endpoint are bounded by AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT across items", async () => {
    fake.enqueueFaults(...Array.from({ length: 8 }, () => ({ kind: "slow" as const, delayMs: 30 })));
    const items = Array.from({ length: 8 }, (_, i) => item(`d${i}`, { text: `text ${i}` }));
    const result = await run("azure_openai_agent", conn, items, {
      config: { AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: 2 },
      common: { max_concurrent: 8 },
    });
    assert.equal(result.status, "completed", result.error);
    assert.equal(fake.requests.length, 8);
    assert.ok(fake.peakConcurrency <= 2, `peak ${fake.peakConcurrency}`);
    assert.equal(result.executor_outputs.ai.usage?.calls, 8);
  });

  test("cancelling the task aborts a call in flight and frees its slot", async () => {
    fake.enqueueFaults({ kind: "hang" });
    const controller = new AbortController();
    const running = run("azure_openai_agent", conn, [item("d", { text: "t" })], {
      signal: controller.signal,
      config: { AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: 1 },
    });
    while (fake.requests.length === 0) await sleep(5);
    controller.abort(new Error("task timed out"));
    const result = await running;
    assert.equal(result.status, "cancelled");
    // The only slot of the endpoint is free again: the next call goes through.
    const next = await run("azure_openai_agent", conn, [item("d", { text: "t" })], {
      config: { AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: 1 },
    });
    assert.equal(next.status, "completed", next.error);
  });

  test("response and request bodies past the limits fail without retries; Entra tokens go as bearer", async () => {
    const service = new AzureOpenAIService({
      endpoint: fake.endpoint,
      deployment: "gpt",
      auth: { kind: "entra", token: async () => "entra-token-1" },
      limits: { maxConcurrentPerEndpoint: 4, maxRetryDelayMs: 0, maxRequestBytes: 2000, maxResponseBytes: 1000 },
      retry: { maxRetries: 3, initialDelayMs: 0, factor: 2 },
    });
    const signal = new AbortController().signal;
    // The SDK's environment defaults must not leak in (AZURE_OPENAI_API_KEY next to a token provider is refused).
    process.env.AZURE_OPENAI_API_KEY = "from-the-environment";
    process.env.OPENAI_BASE_URL = "http://elsewhere.invalid/";
    try {
      const again = new AzureOpenAIService({
        endpoint: fake.endpoint,
        deployment: "gpt",
        auth: { kind: "entra", token: async () => "entra-token-1" },
        limits: { maxConcurrentPerEndpoint: 4, maxRetryDelayMs: 0, maxRequestBytes: 2000, maxResponseBytes: 1000 },
        retry: { maxRetries: 0, initialDelayMs: 0, factor: 2 },
      });
      assert.equal((await again.chat({ messages: [{ role: "user", content: "hi" }] }, { signal })).text, "fine answer");
      assert.equal(fake.requests.at(-1)?.headers["api-key"], undefined);
      fake.reset();
    } finally {
      delete process.env.AZURE_OPENAI_API_KEY;
      delete process.env.OPENAI_BASE_URL;
    }
    const ok = await service.chat({ messages: [{ role: "user", content: "hi" }] }, { signal });
    assert.equal(ok.text, "fine answer");
    assert.equal(fake.requests[0].headers["authorization"], "Bearer entra-token-1");
    assert.equal(fake.requests[0].headers["api-key"], undefined);

    const v1 = new AzureOpenAIService({
      endpoint: fake.v1Endpoint,
      deployment: "gpt",
      auth: { kind: "entra", token: async () => "entra-token-1" },
      limits: { maxConcurrentPerEndpoint: 4, maxRetryDelayMs: 0, maxRequestBytes: 2000, maxResponseBytes: 1000 },
      retry: { maxRetries: 0, initialDelayMs: 0, factor: 2 },
    });
    assert.equal((await v1.chat({ messages: [{ role: "user", content: "hi" }] }, { signal })).text, "fine answer");
    assert.equal(fake.requests[1].path, "/openai/v1/chat/completions");
    assert.equal(fake.requests[1].headers["authorization"], "Bearer entra-token-1");

    fake.reset();
    fake.enqueueFaults({ kind: "huge", bytes: 5000 });
    await assert.rejects(
      service.chat({ messages: [{ role: "user", content: "hi" }] }, { signal }),
      /the response is larger than 1000 bytes/,
    );
    assert.equal(fake.requests.length, 1);
    await assert.rejects(
      service.chat({ messages: [{ role: "user", content: "x".repeat(5000) }] }, { signal }),
      /larger than 2000 bytes/,
    );
    assert.equal(fake.requests.length, 1, "an oversized request is never sent");
  });
});

describe("analysis executors: ContentFlow's prompts and output fields", () => {
  const system = () => (fake.requests[0].body.messages as Array<{ content: string }>)[0].content;

  test("text_summarizer", async () => {
    fake.setChat(() => "A summary.");
    const result = await run("text_summarizer", { ...conn, input_field: "markdown" }, [item("d", { markdown: "# T" })]);
    assert.equal(
      system(),
      [
        "You are an expert text summarizer. Provide a concise summary in 3-5 sentences.",
        "Write the summary as a cohesive paragraph.",
        "Ensure all key facts, figures, and important details are preserved.",
        "Maintain objectivity and accuracy in your summaries.",
      ].join(" "),
    );
    assert.equal(fake.requests[0].body.temperature, 0.3);
    assert.equal(fake.requests[0].body.max_tokens, 500);
    assert.equal(result.content[0].data?.summary, "A summary.");

    fake.reset();
    await run("text_summarizer", {
      ...conn,
      summary_length: "medium",
      summary_style: "bullet_points",
      focus_areas: "risks",
      preserve_key_facts: "false",
    }, [item("d", { text: "t" })]);
    assert.equal(
      system(),
      "You are an expert text summarizer. Provide a summary in one paragraph (5-8 sentences). Format the summary as bullet points highlighting the main points. Focus particularly on: risks. Maintain objectivity and accuracy in your summaries.",
    );
  });

  test("entity_extractor", async () => {
    fake.setChat(() => '{"person": ["Ada"], "location": ["London"]}');
    const result = await run("entity_extractor", {
      endpoint: "${AOAI_ENDPOINT}",
      api_key: "${AOAI_KEY}",
      entity_types: "person, organization, location, concept, event",
      include_context: true,
    }, [item("d", { text: "Ada lived in London." })]);
    assert.equal(fake.requests[0].deployment, "gpt-4.1-mini", "the catalog's default deployment");
    assert.equal(
      system(),
      'You are an expert named entity recognition system. Extract the following types of entities from the text: person, organization, location, concept, event. Return the results as a JSON object with entity types as keys and lists of found entities as values. For each entity, include a brief context snippet (5-10 words surrounding the entity). Format: {"entity_type": [{"text": "entity_name", "context": "...surrounding text..."}]}. Be thorough and accurate. Only extract entities that are clearly present in the text.',
    );
    assert.equal(fake.requests[0].body.temperature, 0.1);
    assert.deepEqual(result.content[0].data?.entities, { person: ["Ada"], location: ["London"] });
  });

  test("sentiment_analyser", async () => {
    fake.setChat(() => '{"sentiment": "positive", "confidence": 0.9, "explanation": "upbeat"}');
    const result = await run("sentiment_analyser", { ...conn, granularity: "aspect", aspects: ["price", "service"] }, [
      item("d", { text: "Great service, fair price." }),
    ]);
    assert.equal(
      system(),
      'You are an expert sentiment analysis system. Classify sentiment as: positive, neutral, or negative. Analyze sentiment for these specific aspects: price, service. Provide a confidence score (0.0 to 1.0) for your sentiment classification. Return results as a JSON object. Format: {"aspects": {"aspect_name": {"sentiment": "...", "confidence": 0.0-1.0}}, "overall": {...}}. Be objective and consistent in your analysis.',
    );
    assert.deepEqual(result.content[0].data?.sentiment, {
      sentiment: "positive",
      confidence: 0.9,
      explanation: "upbeat",
    });
  });

  test("content_classifier", async () => {
    fake.setChat(() => '{"category": "invoice", "confidence": 0.97, "explanation": "has totals"}');
    const result = await run("content_classifier", {
      ...conn,
      categories: ["contract", "invoice"],
      category_descriptions: { invoice: "a bill" },
      min_confidence: 0.5,
    }, [item("d", { text: "Total due: 10 EUR" })]);
    assert.equal(
      system(),
      'You are an expert text classification system. Classify the text into exactly one of these categories: contract, invoice. \n\nCategory descriptions:\n- invoice: a bill\nProvide a confidence score (0.0 to 1.0) for each classification. Only include categories with confidence >= 0.5. Provide a brief explanation for your classification decision. \n\nReturn results as a JSON object. Format: {"category": "category_name", "confidence": 0.0-1.0, "explanation": "reason"}. Be accurate and consistent in your classifications.',
    );
    assert.equal((result.content[0].data?.classification as { category: string }).category, "invoice");
    assert.throws(
      () =>
        compilePipeline(
          parsePipelineYaml(yamlFor("content_classifier", { endpoint: fake.endpoint, deployment_name: "d" })),
          {
            registry,
            deps: { config: baseConfig, logger },
          },
        ),
      /categories/,
    );
  });

  test("pii_detector: redact copies the redacted text and the count", async () => {
    fake.setChat(() =>
      '{"pii_found": [{"type": "email", "value": "a@b.c", "confidence": 0.99}], "redacted_text": "Mail [REDACTED-EMAIL]", "count": 1}'
    );
    const result = await run("pii_detector", { ...conn, pii_types: ["email", "SSN"], action: "redact" }, [
      item("d", { text: "Mail a@b.c" }),
    ]);
    const prompt = system();
    assert.ok(
      prompt.startsWith(
        "You are an expert PII (Personally Identifiable Information) detection system. Detect the following types of PII in the text: email, SSN. Only report PII with confidence >= 0.7. \n\nPII Types to detect:\n- email: email addresses\n\n\nDetect PII and redact it in the text. ",
      ),
      prompt,
    );
    assert.ok(
      prompt.includes('2. "redacted_text": the text with PII redacted. Replace each PII item with [REDACTED-TYPE]'),
    );
    const out = result.content[0];
    assert.equal(out.data?.text_redacted, "Mail [REDACTED-EMAIL]");
    assert.equal(out.summary_data?.pii_count, 1);
    assert.equal((out.data?.pii_detected as { count: number }).count, 1);

    fake.reset();
    fake.setChat(() => '{"pii_found": [{"type": "name"}, {"type": "phone"}]}');
    const counted = await run("pii_detector", conn, [item("d", { text: "x" })]);
    assert.equal(counted.content[0].summary_data?.pii_count, 2);
    assert.match(
      system(),
      /Detect the following types of PII in the text: name, email, phone, ssn, credit_card, address\./,
    );
  });

  test("keyword_extractor, language_detector and content_translator", async () => {
    fake.setChat(() => '{"keywords": [{"term": "river", "score": 0.9}]}');
    const kw = await run("keyword_extractor", { ...conn, max_keywords: 20 }, [item("d", { text: "rivers" })]);
    assert.match(
      system(),
      /^You are an expert keyword extraction system\. Extract up to 20 keywords and key phrases \(single words must be at least 3 characters\) that best represent/,
    );
    assert.deepEqual(kw.content[0].data?.keywords, { keywords: [{ term: "river", score: 0.9 }] });

    fake.reset();
    fake.setChat(() => '{"languages": [{"language": "French", "confidence": 0.98}]}');
    const lang = await run("language_detector", { ...conn, detect_multiple: true }, [item("d", { text: "Bonjour" })]);
    assert.equal(
      system(),
      'You are an expert language detection system. Identify all languages present in the text. Use full language names (e.g., \'English\', \'Spanish\', \'French\'). Provide a confidence score (0.0 to 1.0) for each detected language. Only report languages with confidence >= 0.5. \n\nReturn results as a JSON object. Format: {"languages": [{"language": "...", "confidence": 0.0-1.0}]}. Be accurate and only report languages you are confident about.',
    );
    assert.deepEqual(lang.content[0].data?.language, { languages: [{ language: "French", confidence: 0.98 }] });

    fake.reset();
    fake.setChat(() => "Hello {world}");
    const tr = await run("content_translator", {
      ...conn,
      target_language: "en",
      source_language: "fr",
      glossary: { Bonjour: "Hello" },
      preserve_terminology: "ContentFlow, Azure",
    }, [item("d", { text: "Bonjour" })]);
    assert.equal(
      system(),
      "You are an expert translation system. Translate the following text from fr to en. Provide a natural, fluent translation that reads well in the target language. Preserve the original text formatting, including line breaks, paragraphs, and structure. Do NOT translate the following terms (keep them in the original language): ContentFlow, Azure. \n\nUse this translation glossary:\n- 'Bonjour' → 'Hello'\n\nProvide only the translated text without explanations or notes. Ensure accuracy and cultural appropriateness in the translation.",
    );
    assert.equal(tr.content[0].data?.translated_text, "Hello {world}", "translations are never parsed as JSON");
    assert.deepEqual(usageTotals().calls, { keyword_extractor: 1, language_detector: 1, content_translator: 1 });
  });
});

describe("azure_openai_embeddings", () => {
  const embConn = { endpoint: "${AOAI_ENDPOINT}", deployment_name: "text-embedding-3-large", api_key: "${AOAI_KEY}" };

  test("one text: the request, the vector and the summary fields", async () => {
    const result = await run("azure_openai_embeddings", { ...embConn, input_field: "pdf_output.text", dimensions: 4 }, [
      item("d", { pdf_output: { text: "hello world" } }),
    ]);
    assert.equal(result.status, "completed", result.error);
    const req = fake.requests[0];
    assert.equal(req.path, "/openai/deployments/text-embedding-3-large/embeddings");
    assert.equal(req.apiVersion, "2024-02-01");
    assert.equal(req.body.input, "hello world");
    assert.equal(req.body.dimensions, 4);
    const out = result.content[0];
    assert.deepEqual(out.data?.embedding, fakeVector("hello world", 4));
    assert.equal(out.summary_data?.embedding_dimensions, 4);
    assert.equal(out.summary_data?.embedding_model, "text-embedding-3-large");
    assert.equal(out.summary_data?.embedding_status, "success");
    const details = out.executor_logs?.at(-1)?.details as { token_usage: Record<string, unknown> };
    assert.equal(details.token_usage.embedding_tokens, 3);
    assert.deepEqual(usageTotals().tokens.azure_openai_embeddings, { embedding: 3 });
  });

  test("a list of chunks is embedded in batches of batch_size, vectors in order", async () => {
    const chunks = Array.from({ length: 5 }, (_, i) => ({ text: `chunk number ${i}`, chunk_index: i }));
    const result = await run("azure_openai_embeddings", { ...embConn, input_field: "chunks", batch_size: 2 }, [
      item("d", { chunks }),
    ]);
    assert.equal(result.status, "completed", result.error);
    assert.deepEqual(fake.requests.map((r) => (r.body.input as string[]).length), [2, 2, 1]);
    assert.deepEqual(result.content[0].data?.embedding, chunks.map((c) => fakeVector(c.text, 6)));
    assert.equal(result.executor_outputs.ai.usage?.calls, 3);
  });

  test("empty text fails the item without a call; the item passes on with the error in its log", async () => {
    const result = await run("azure_openai_embeddings", embConn, [item("d", { text: "   " })]);
    const out = result.content[0];
    assert.equal(out.executor_logs?.at(-1)?.status, "failed");
    assert.deepEqual(out.executor_logs?.at(-1)?.errors, [
      "azure_openai_embeddings 'ai', item 'd': Input text is empty",
    ]);
    assert.equal(out.summary_data?.embedding_status, undefined);
    assert.equal(fake.requests.length, 0);
  });
});

describe("reasoning deployments (o-series, gpt-5): max_completion_tokens and no temperature", () => {
  let reasoningFake: FakeAzureOpenAI;
  const chatExecutors: Array<[string, Record<string, unknown>]> = [
    ["azure_openai_agent", {}],
    ["text_summarizer", {}],
    ["entity_extractor", {}],
    ["sentiment_analyser", {}],
    ["content_classifier", { categories: ["contract", "invoice"] }],
    ["pii_detector", {}],
    ["keyword_extractor", {}],
    ["language_detector", {}],
    ["content_translator", { target_language: "en" }],
  ];
  before(async () => {
    reasoningFake = await startFakeAzureOpenAI({
      apiKeys: [KEY],
      reasoningDeployments: [...chatExecutors.map(([type]) => `o4-mini-${type}`), "gpt-5-mini", "o3"],
      chat: () => "a reasoned answer",
    });
  });
  after(async () => await reasoningFake.close());
  beforeEach(() => reasoningFake.reset());

  const runOn = (type: string, settings: Record<string, unknown>, items: Content[]) =>
    run(type, { ...settings, endpoint: reasoningFake.endpoint, api_key: "${AOAI_KEY}" }, items);
  const limits = (r: { body: Record<string, unknown> }) => ({
    max_tokens: r.body.max_tokens,
    max_completion_tokens: r.body.max_completion_tokens,
    temperature: r.body.temperature,
  });

  for (const [type, extra] of chatExecutors) {
    test(`${type}: auto meets the deployment's refusal once, then sends the reasoning form`, async () => {
      const settings = { deployment_name: `o4-mini-${type}`, max_tokens: 321, ...extra };
      const first = await runOn(type, settings, [item("a", { text: "first" })]);
      assert.equal(first.status, "completed", first.error);
      assert.equal(first.content[0].executor_logs?.at(-1)?.status, "completed");
      // The chat form is refused (max_tokens); the same request goes again in the reasoning form.
      assert.equal(reasoningFake.requests.length, 2);
      assert.equal(reasoningFake.requests[0].body.max_tokens, 321);
      assert.deepEqual(limits(reasoningFake.requests[1]), {
        max_tokens: undefined,
        max_completion_tokens: 321,
        temperature: undefined,
      });
      // Remembered for the deployment: the next item goes in the reasoning form at once.
      reasoningFake.reset();
      const second = await runOn(type, settings, [item("b", { text: "second" })]);
      assert.equal(second.status, "completed", second.error);
      assert.equal(reasoningFake.requests.length, 1);
      assert.equal(reasoningFake.requests[0].body.max_completion_tokens, 321);
    });
  }

  test("model_kind: reasoning sends max_completion_tokens and no temperature from the first call", async () => {
    const result = await runOn("text_summarizer", { deployment_name: "gpt-5-mini", model_kind: "reasoning" }, [
      item("a", { text: "t" }),
    ]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(reasoningFake.requests.length, 1);
    // text_summarizer's catalog defaults: max_tokens 500, temperature 0.3 (not sent to a reasoning model).
    assert.deepEqual(limits(reasoningFake.requests[0]), {
      max_tokens: undefined,
      max_completion_tokens: 500,
      temperature: undefined,
    });
  });

  test("which refusals mean a reasoning model, and the fields each form sends", () => {
    assert.equal(refusesChatForm(400, { code: "unsupported_parameter", param: "max_tokens" }), true);
    assert.equal(refusesChatForm(400, { code: "unsupported_value", param: "temperature" }), true);
    assert.equal(refusesChatForm(400, { code: "unsupported_parameter", param: "top_p" }), false);
    assert.equal(refusesChatForm(400, { code: "BadRequest", param: "max_tokens" }), false);
    assert.equal(refusesChatForm(404, { code: "unsupported_parameter", param: "max_tokens" }), false);
    assert.deepEqual(chatLimitFields({ temperature: 0.2, max_tokens: 9 }, false), { temperature: 0.2, max_tokens: 9 });
    assert.deepEqual(chatLimitFields({ temperature: 0.2, max_tokens: 9 }, true), { max_completion_tokens: 9 });
    assert.deepEqual(chatLimitFields({ temperature: 0.2 }, true), {});
  });

  test("model_kind: chat keeps the chat form: the deployment's refusal fails the item with Azure's reason", async () => {
    const result = await runOn("azure_openai_agent", { deployment_name: "gpt-5-mini", model_kind: "chat" }, [
      item("a", { text: "t" }),
    ]);
    assert.equal(reasoningFake.requests.length, 1);
    const log = result.content[0].executor_logs?.at(-1);
    assert.equal(log?.status, "failed");
    assert.match(log?.errors?.[0] ?? "", /HTTP 400 unsupported_parameter: Unsupported parameter: 'max_tokens'/);
  });

  test("a chat deployment is never sent the reasoning form in auto mode", async () => {
    const result = await runOn("azure_openai_agent", { deployment_name: "gpt-4.1-mini", temperature: 0.4 }, [
      item("a", { text: "t" }),
    ]);
    assert.equal(result.status, "completed", result.error);
    assert.equal(reasoningFake.requests.length, 1);
    assert.deepEqual(limits(reasoningFake.requests[0]), {
      max_tokens: 400,
      max_completion_tokens: undefined,
      temperature: 0.4,
    });
  });

  test("an unknown model_kind is refused when the pipeline compiles", async () => {
    await assert.rejects(
      () => runOn("azure_openai_agent", { deployment_name: "o3", model_kind: "thinking" }, [item("a", {})]),
      /model_kind must be one of auto, chat, reasoning/,
    );
  });
});

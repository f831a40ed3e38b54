// cross_document_comparison against the loopback fake of Azure OpenAI (tests/helpers/fake-azure-openai.ts): the
// prompt ContentFlow sends, the stored analysis for each output_format, retries, and errors naming executor and item.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import {
  compilePipeline,
  createExecutor,
  defaultRegistry,
  parsePipelineYaml,
  PipelineError,
  runPipeline,
} from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import type { Content } from "../../src/model/content.ts";
import type { ExecutorInstance, ExecutorRunContext } from "../../src/executors/types.ts";
import { type FakeAzureOpenAI, startFakeAzureOpenAI } from "../helpers/fake-azure-openai.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const registry = defaultRegistry();
const { config } = await loadConfig({ env: { OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1" }, dotenvPath: false });
const KEY = "test-key-123";
let fake: FakeAzureOpenAI;

before(async () => {
  fake = await startFakeAzureOpenAI({ apiKeys: [KEY] });
});
after(async () => {
  await fake.close();
});

const ctx = (): ExecutorRunContext => ({
  executorId: "compare",
  pipelineName: "p",
  signal: AbortSignal.timeout(60_000),
  logger,
});

function make(settings: Record<string, unknown> = {}): ExecutorInstance {
  return createExecutor(
    {
      id: "compare",
      type: "cross_document_comparison",
      settings: {
        endpoint: fake.endpoint,
        deployment_name: "gpt",
        credential_type: "azure_key_credential",
        api_key: KEY,
        retry_backoff_seconds: 0,
        ...settings,
      },
    },
    registry,
    { config, logger },
  );
}

const setItem = (): Content => ({
  id: { canonical_id: "document_set://fy", unique_id: "u" },
  data: {
    document_set: {
      set_id: "fy",
      set_name: "FY2024",
      total_documents: 2,
      documents: [
        { role: "Q2", order: 1, filename: "q2.pdf", data: { revenue: 12, note: "x" }, summary_data: { pages: 3 } },
        { role: "Q1", order: 0, filename: "q1.pdf", data: { revenue: 10, note: "y" }, summary_data: {} },
      ],
    },
  },
  summary_data: {},
  executor_logs: [],
});

describe("cross_document_comparison", () => {
  test("sends ContentFlow's instructions and the documents in order; stores the parsed analysis", async () => {
    fake.reset();
    fake.setChat(() => ({
      content: 'Here: {"summary": "up", "trends": ["revenue +20%"]} done',
      usage: { prompt_tokens: 50, completion_tokens: 10, total_tokens: 60 },
    }));
    const [out] = await make().process([setItem()], ctx());
    const analysis = out.data?.cross_document_analysis as Record<string, unknown>;
    assert.deepEqual({ ...analysis, generated_at: typeof analysis.generated_at }, {
      type: "cross_document_comparison",
      set_id: "fy",
      set_name: "FY2024",
      documents_compared: 2,
      analysis: { summary: "up", trends: ["revenue +20%"] },
      output_format: "structured",
      generated_at: "string",
    });
    assert.deepEqual(out.executor_logs?.map((l) => [l.executor_id, l.status, l.details?.documents_analyzed]), [
      ["compare", "completed", 2],
    ]);
    assert.equal(fake.requests.length, 1);
    const body = fake.requests[0].body as
      & { messages: Array<{ role: string; content: string }> }
      & Record<string, unknown>;
    assert.equal(body.temperature, 0.2);
    assert.equal(body.max_tokens, 2000);
    const [system, user] = body.messages;
    assert.equal(system.role, "system");
    assert.match(system.content, /^You are an expert document analyst specializing in cross-document comparison\./);
    assert.match(system.content, /clearly labeled sections: summary, key_findings/);
    assert.match(system.content, /Include period-over-period trend analysis/);
    assert.match(system.content, /changes exceed 10\.0% between consecutive periods/);
    assert.match(user.content, /^Document Set: FY2024\nTotal Documents: 2\n\nDocument Data:\n\[/);
    const payload = JSON.parse(user.content.slice(user.content.indexOf("[")));
    assert.deepEqual(payload, [
      { role: "Q1", order: 0, filename: "q1.pdf", data: { revenue: 10, note: "y" }, summary_data: {} },
      { role: "Q2", order: 1, filename: "q2.pdf", data: { revenue: 12, note: "x" }, summary_data: { pages: 3 } },
    ]);
  });

  test("comparison_fields, custom instructions, markdown kept as text, switches off", async () => {
    fake.reset();
    fake.setChat(() => "# Summary\nRevenue {grew}");
    const [out] = await make({
      comparison_fields: ["data.revenue"],
      comparison_instructions: "Compare revenue.",
      output_format: "markdown",
      include_trend_analysis: false,
      include_variance_detection: false,
      output_key: "cmp",
    }).process([setItem()], ctx());
    assert.equal((out.data?.cmp as Record<string, unknown>).analysis, "# Summary\nRevenue {grew}");
    const [system, user] = fake.requests[0].body.messages as Array<{ content: string }>;
    assert.equal(system.content.split("\n\n")[0], "Compare revenue.");
    assert.doesNotMatch(system.content, /trend analysis|variances where/);
    const payload = JSON.parse(user.content.slice(user.content.indexOf("[")));
    assert.deepEqual(payload, [{ role: "Q1", order: 0, filename: "q1.pdf", revenue: 10 }, {
      role: "Q2",
      order: 1,
      filename: "q2.pdf",
      revenue: 12,
    }]);
  });

  test("an answer that is not JSON is stored as text; 429 then success is retried", async () => {
    fake.reset();
    fake.setChat(() => "no json here");
    fake.enqueueFaults({ kind: "status", status: 429, retryAfterMs: "1" });
    const [out] = await make().process([setItem()], ctx());
    assert.equal((out.data?.cross_document_analysis as Record<string, unknown>).analysis, "no json here");
    assert.equal(fake.requests.length, 2);
  });

  test("after initializer and collector in a pipeline; tokens counted in the executor's usage", async () => {
    fake.reset();
    fake.setChat(() => ({
      content: '{"summary": "ok"}',
      usage: { prompt_tokens: 7, completion_tokens: 3, total_tokens: 10 },
    }));
    const yaml = `pipeline:
  name: compare
  executors:
    - {id: init, type: document_set_initializer, settings: {set_id: s1, set_name: Pair}}
    - {id: collect, type: document_set_collector}
    - id: compare
      type: cross_document_comparison
      settings: {endpoint: "${fake.endpoint}", deployment_name: gpt, api_key: "${KEY}"}
  execution_sequence: [init, collect, compare]
`;
    const p = compilePipeline(parsePipelineYaml(yaml, { env: {} }), { registry, deps: { config, logger } });
    const doc = (n: number): Content => ({
      id: { canonical_id: `c${n}`, unique_id: `u${n}`, filename: `r${n}.pdf` },
      data: { v: n },
      summary_data: {},
      executor_logs: [],
    });
    const r = await runPipeline(p, [doc(2), doc(1)], { signal: AbortSignal.timeout(60_000), logger });
    await p.close();
    assert.equal(r.status, "completed", r.error);
    assert.equal(r.content.length, 1);
    assert.deepEqual((r.content[0].data?.cross_document_analysis as Record<string, unknown>).analysis, {
      summary: "ok",
    });
    assert.deepEqual(r.executor_outputs.compare.usage, {
      calls: 1,
      prompt_tokens: 7,
      completion_tokens: 3,
      total_tokens: 10,
    });
    const user = (fake.requests[0].body.messages as Array<{ content: string }>)[1].content;
    assert.match(user, /^Document Set: Pair\nTotal Documents: 2/);
    assert.deepEqual(JSON.parse(user.slice(user.indexOf("["))).map((d: { role: string }) => d.role), ["r1", "r2"]);
  });

  test("errors name the executor and the item; settings checked at compile time", async () => {
    fake.reset();
    fake.enqueueFaults({ kind: "status", status: 400, message: "bad request" });
    await assert.rejects(
      make({ max_retries: 0 }).process([setItem()], ctx()),
      /^Error: executor 'compare', item document_set:\/\/fy: .*400/,
    );
    await assert.rejects(
      make().process([{ ...setItem(), data: {} }], ctx()),
      /executor 'compare', item document_set:\/\/fy: no document set data at data.document_set/,
    );
    for (
      const [settings, message] of [
        [{ deployment_name: "" }, /deployment_name/],
        [{ api_key: "" }, /api_key must be set when credential_type is azure_key_credential/],
        [{ output_format: "xml" }, /output_format must be one of: json, markdown, structured/],
      ] as const
    ) {
      assert.throws(() => make(settings), (err: unknown) => err instanceof PipelineError && message.test(err.message));
    }
  });
});

describe("cross_document_comparison on a reasoning deployment", () => {
  test("sends max_completion_tokens and no temperature once the deployment refuses the chat form", async () => {
    const reasoning = await startFakeAzureOpenAI({ apiKeys: [KEY], reasoningDeployments: ["o4-mini"] });
    try {
      reasoning.setChat(() => '{"summary": "flat"}');
      const instance = make({ endpoint: reasoning.endpoint, deployment_name: "o4-mini" });
      const [out] = await instance.process([setItem()], ctx());
      assert.deepEqual((out.data?.cross_document_analysis as Record<string, unknown>).analysis, { summary: "flat" });
      assert.equal(reasoning.requests.length, 2);
      const second = reasoning.requests[1].body;
      assert.equal(second.max_completion_tokens, 2000);
      assert.equal(second.max_tokens, undefined);
      assert.equal(second.temperature, undefined);
    } finally {
      await reasoning.close();
    }
  });
});

// Azure OpenAI executors in the product binary: queued tasks of a pipeline written as ContentFlow's web templates
// write it (text_summarizer, sentiment_analyser, azure_openai_embeddings; endpoint and key from the worker's
// environment) run against the local fake of the Azure OpenAI REST contract, through the real queue (Azurite) and
// execution records (Cosmos emulator). Checks the stored outputs, the tokens in the records and in /metrics, and a
// throttled (429 + Retry-After) call that is retried.
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { type Emulators, startEmulators } from "../helpers/emulators.ts";
import { namedQueue, passThroughTask, preloadTasks, seedCosmos, type SeededStore } from "../helpers/seeded-store.ts";
import { ensureBinary } from "../helpers/binary.ts";
import { type FakeAzureOpenAI, fakeVector, startFakeAzureOpenAI } from "../helpers/fake-azure-openai.ts";
import { Fleet, pipelineYaml, sleep, uniqueName, until } from "../helpers/e2e-kit.ts";

const KEY = "e2e-openai-key-0123456789";
const PIPELINE = "ai-analysis";

interface ExecutionDoc {
  id: string;
  status: string;
  error?: string;
  executor_outputs: Record<string, { status: string; usage?: Record<string, number> }>;
  content: Array<{ data: Record<string, unknown>; executor_logs: Array<{ executor_id: string; details: any }> }>;
}

describe("Azure OpenAI executors in the compiled binary", () => {
  let emu: Emulators;
  let store: SeededStore;
  let fleet: Fleet;
  let fake: FakeAzureOpenAI;

  before(async () => {
    const binary = ensureBinary();
    emu = await startEmulators();
    store = await seedCosmos(emu);
    fleet = new Fleet(binary, emu);
    fake = await startFakeAzureOpenAI({
      apiKeys: [KEY],
      chat: (r) => {
        const system = (r.body.messages as Array<{ content: string }>)[0].content;
        return system.includes("sentiment")
          ? '{"sentiment": "positive", "confidence": 0.9, "explanation": "calm"}'
          : "- A calm text about rivers.";
      },
    });
  });

  after(async () => {
    await fleet?.killAll();
    await fake?.close();
    await emu?.stop();
  });

  test(
    "three tasks: outputs stored, tokens in the records and in /metrics, a 429 retried",
    { timeout: 180_000 },
    async () => {
      const steps = [
        '{id: summarizer-1, type: text_summarizer, settings: {summary_length: "medium", summary_style: "bullet_points", deployment_name: "gpt-4.1-mini", api_key: "${AZURE_OPENAI_ENDPOINT_API_KEY}", input_field: "text", output_field: "summary"}}',
        '{id: sentiment-1, type: sentiment_analyser, settings: {deployment_name: "gpt-4.1-mini", api_key: "${AZURE_OPENAI_ENDPOINT_API_KEY}"}}',
        '{id: embed-1, type: azure_openai_embeddings, settings: {endpoint: "${AZURE_OPENAI_ENDPOINT}", deployment_name: "text-embedding-3-large", api_key: "${AZURE_OPENAI_ENDPOINT_API_KEY}", dimensions: 4}}',
      ];
      await store.db.container(store.config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
        id: PIPELINE,
        name: PIPELINE,
        yaml: pipelineYaml(PIPELINE, steps),
        enabled: true,
      });
      const vault = uniqueName("ai-v");
      await store.db.container(store.config.COSMOS_DB_CONTAINER_VAULTS).items.upsert({
        id: vault,
        name: vault,
        pipeline_id: PIPELINE,
        enabled: true,
        save_execution_output: true,
      });
      const queue = namedQueue(emu, uniqueName("ai-q"));
      await queue.create();
      fake.enqueueFaults({ kind: "status", status: 429, retryAfter: "1" });
      await preloadTasks(store, queue, [0, 1, 2].map((i) => passThroughTask(vault, i, PIPELINE)));

      const run = await fleet.start(queue.name, {
        NUM_PROCESSING_WORKERS: "1",
        AZURE_OPENAI_ENDPOINT: fake.endpoint,
        AZURE_OPENAI_ENDPOINT_API_KEY: KEY,
        OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1",
        PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_OPENAI_ENDPOINT_API_KEY",
      });
      const executions = store.db.container(store.config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
      const docs = await until("three executions finished", async () => {
        const { resources }: { resources: ExecutionDoc[] } = await executions.items.query<ExecutionDoc>({
          query: "SELECT * FROM c WHERE c.vault_id = @v",
          parameters: [{ name: "@v", value: vault }],
        }).fetchAll();
        const done = resources.filter((d) => d.status === "completed" || d.status === "failed");
        return done.length === 3 ? done : undefined;
      }, 120_000);
      assert.deepEqual(docs.map((d) => [d.status, d.error ?? null]), docs.map(() => ["completed", null]));

      // 3 summaries + 1 throttled retry, 3 sentiments, 3 embeddings.
      assert.equal(fake.requests.length, 10);
      assert.equal(fake.requests.filter((r) => r.operation === "embeddings").length, 3);
      let promptTokens = 0;
      for (const doc of docs) {
        const item = doc.content[0];
        assert.equal(item.data.summary, "- A calm text about rivers.");
        assert.deepEqual(item.data.sentiment, { sentiment: "positive", confidence: 0.9, explanation: "calm" });
        assert.deepEqual(item.data.embedding, fakeVector("x".repeat(200), 4));
        const summarizerLog = item.executor_logs.find((l) => l.executor_id === "summarizer-1");
        assert.equal(summarizerLog?.details.token_usage.deployment, "gpt-4.1-mini");
        const usage = doc.executor_outputs["summarizer-1"].usage!;
        assert.equal(usage.calls, 1);
        assert.ok(usage.prompt_tokens > 0);
        promptTokens += usage.prompt_tokens;
      }
      assert.equal(
        docs.filter((d) =>
          d.content[0].executor_logs.find((l) => l.executor_id === "summarizer-1")?.details.token_usage.attempts === 2
        ).length,
        1,
        "exactly one summary needed a second attempt after the 429",
      );

      await sleep(2500); // one heartbeat, so the supervisor has the worker's counters
      const metrics = await (await run.get("/metrics")).text();
      const line = new RegExp(
        `^contentflow_worker_ai_tokens_total\\{role="processing",executor_type="text_summarizer",kind="prompt"\\} (\\d+)$`,
        "m",
      ).exec(metrics);
      assert.ok(line, metrics);
      assert.equal(Number(line[1]), promptTokens);
      assert.match(
        metrics,
        /^contentflow_worker_ai_tokens_total\{role="processing",executor_type="azure_openai_embeddings",kind="embedding"\} \d+$/m,
      );
      await run.stop();
    },
  );
});

// Template pipeline benchmark: the web UI's "Annual Report KPI + Risk Extraction" template (a PDF through
// pdf_extractor and 12 Azure OpenAI agents) runs through the compiled binary against the Azure OpenAI fake, which
// answers every call after a fixed latency. For each AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT setting it prints tasks/s
// and the most calls the fake saw in flight at once (which the setting must bound). One run, no assertions.
//
//   deno run -A scripts/bench-templates.ts [--tasks N] [--latency-ms N] [--concurrency N] [--limits 2,8]
//   bun scripts/bench-templates.ts …
import process from "node:process";
import { intFlag } from "./lib/bench-kit.ts";
import { startEmulators } from "../tests/helpers/emulators.ts";
import { ensureBinary } from "../tests/helpers/binary.ts";
import { BinaryRun } from "../tests/helpers/binary-run.ts";
import { executionsOfVault, namedQueue, preloadTasks, seedCosmos } from "../tests/helpers/seeded-store.ts";
import { blobService, uploadBlobs } from "../tests/helpers/source-kit.ts";
import { startFakeAzureOpenAI } from "../tests/helpers/fake-azure-openai.ts";
import { completeTemplate, readWebTemplate } from "../tests/helpers/web-templates.ts";
import { makePdf } from "../tests/helpers/documents.ts";
import { buildTaskMessage } from "../src/model/task-envelope.ts";
import { sleep } from "../src/util/sleep.ts";

const args = process.argv.slice(2);
if (args.includes("--help") || args.includes("-h")) {
  console.log(
    "usage: deno run -A scripts/bench-templates.ts [--tasks N] [--latency-ms N] [--concurrency N] [--limits 2,8]",
  );
  process.exit(0);
}
const tasks = intFlag(args, "--tasks", 32);
const latencyMs = intFlag(args, "--latency-ms", 200);
const concurrency = intFlag(args, "--concurrency", 16);
const limitsAt = args.indexOf("--limits");
const limits = (limitsAt >= 0 ? args[limitsAt + 1] : "2,8").split(",").map(Number);

const TEMPLATE = "financial-annual-report-extraction";
const KEY = "bench-openai-key";
const AGENTS = 12;

const binary = ensureBinary();
const emu = await startEmulators();
const openai = await startFakeAzureOpenAI({ apiKeys: [KEY] });
openai.setChat(() => JSON.stringify({ answer: "fake" }));
const rows: string[] = [];
try {
  await uploadBlobs(emu, "content", [{
    name: "report.pdf",
    body: await makePdf({ pages: 2, title: "Annual report" }),
    contentType: "application/pdf",
  }]);
  await blobService(emu).getContainerClient("processed").createIfNotExists();
  const chat = { credential_type: "azure_key_credential", api_key: "${AZURE_OPENAI_API_KEY}" };
  const yaml = completeTemplate(readWebTemplate(TEMPLATE), { azure_openai_agent: chat });

  for (const limit of limits) {
    const store = await seedCosmos(emu, `bench-templates-${limit}-${Date.now()}`);
    const vault = `vault-${limit}`;
    await store.db.container(store.config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
      id: TEMPLATE,
      name: TEMPLATE,
      yaml,
    });
    await store.db.container(store.config.COSMOS_DB_CONTAINER_VAULTS).items.upsert({
      id: vault,
      name: vault,
      pipeline_id: TEMPLATE,
      enabled: true,
      save_execution_output: false,
    });
    const queueName = `bench-templates-${limit}`;
    const queue = namedQueue(emu, queueName);
    await queue.createIfNotExists();
    openai.reset();
    openai.setChat(() => JSON.stringify({ answer: "fake" }));
    openai.enqueueFaults(
      ...Array.from({ length: tasks * AGENTS * 2 }, () => ({ kind: "slow" as const, delayMs: latencyMs })),
    );
    const run = await BinaryRun.start(binary, {
      ...emu.env,
      COSMOS_DB_NAME: store.config.COSMOS_DB_NAME,
      STORAGE_WORKER_QUEUE_NAME: queueName,
      NUM_PROCESSING_WORKERS: "1",
      NUM_SOURCE_WORKERS: "0",
      PROCESSING_CONCURRENCY: String(concurrency),
      QUEUE_MIN_POLL_INTERVAL_MS: "50",
      QUEUE_POLL_INTERVAL_SECONDS: "1",
      AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT: String(limit),
      LOG_LEVEL: "info",
      OUTBOUND_ALLOWED_PRIVATE_HOSTS: "127.0.0.1,localhost",
      PIPELINE_ENV_ALLOWED_VARIABLES: "*,AZURE_OPENAI_API_KEY",
      AZURE_OPENAI_ENDPOINT: openai.v1Endpoint,
      AZURE_OPENAI_API_KEY: KEY,
    });
    try {
      await run.waitReady();
      const t0 = performance.now();
      await preloadTasks(
        store,
        queue,
        Array.from({ length: tasks }, (_, n) =>
          buildTaskMessage({
            taskId: `task_${limit}_${n}`,
            executionId: `exec_${limit}_${n}`,
            pipelineId: TEMPLATE,
            pipelineName: TEMPLATE,
            vaultId: vault,
            items: [{
              id: {
                canonical_id: `https://devstoreaccount1.blob.core.windows.net/content/report.pdf#${n}`,
                unique_id: `report-${limit}-${n}`,
                source_name: "devstoreaccount1",
                source_type: "azure_blob",
                container: "content",
                path: "report.pdf",
                filename: "report.pdf",
              },
              data: {},
              summary_data: {},
              executor_logs: [],
            }],
            executedInputExecutor: "blob-discovery-1",
            maxRetries: 0,
          })),
      );
      let finished = 0;
      let failed = 0;
      const deadline = Date.now() + 300_000;
      while (Date.now() < deadline) {
        const docs = await executionsOfVault(store, vault);
        finished = docs.filter((d) => d.status === "completed" || d.status === "failed").length;
        failed = docs.filter((d) => d.status === "failed").length;
        if (finished >= tasks) break;
        await sleep(200);
      }
      const seconds = (performance.now() - t0) / 1000;
      rows.push(
        `| ${limit} | ${tasks} | ${finished - failed} | ${failed} | ${openai.requests.length} | ${
          (tasks / seconds).toFixed(2)
        } | ${seconds.toFixed(1)} | ${openai.peakConcurrency} |`,
      );
      console.error(rows.at(-1));
    } finally {
      await run.stop();
    }
  }
} finally {
  await openai.close();
  await emu.stop();
}

console.log(
  `Template "${TEMPLATE}" (pdf_extractor + ${AGENTS} azure_openai_agent calls per task), fake Azure OpenAI latency ` +
    `${latencyMs} ms per call, 1 processing worker, PROCESSING_CONCURRENCY=${concurrency}, ${
      process.versions.bun ? "Bun" : "Deno"
    }\n`,
);
console.log(
  "| AI_MAX_CONCURRENT_CALLS_PER_ENDPOINT | tasks | completed | failed | AI calls | tasks/s | seconds | peak calls in flight (fake) |",
);
console.log("|---|---|---|---|---|---|---|---|");
for (const r of rows) console.log(r);

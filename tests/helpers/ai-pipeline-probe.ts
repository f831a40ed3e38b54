// Entry point compiled into a stand-alone binary by tests/e2e/ai-binary.test.ts (with the same `bun build --compile`
// flags as the product): compiles a pipeline of Azure OpenAI executors from the YAML in argv[2] (with ${VAR} from the
// environment), runs it on one item and prints the result as JSON. It proves that the openai SDK and our AI plumbing
// work once bundled into a compiled binary.
import process from "node:process";
import { readFileSync } from "node:fs";
import { compilePipeline, defaultRegistry, parsePipelineYaml, runPipeline } from "../../src/pipeline/index.ts";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { usageTotals } from "../../src/executors/ai/usage.ts";

configureLogging({ level: "error" });
const logger = new Logger();
const { config } = await loadConfig({
  env: {
    OUTBOUND_ALLOWED_PRIVATE_HOSTS: process.env.OUTBOUND_ALLOWED_PRIVATE_HOSTS ?? "",
    PIPELINE_ENV_ALLOWED_VARIABLES: process.env.PIPELINE_ENV_ALLOWED_VARIABLES ?? "*",
  },
  dotenvPath: false,
});
const def = parsePipelineYaml(readFileSync(process.argv[2], "utf8"), { env: process.env });
const pipeline = compilePipeline(def, { registry: defaultRegistry(), deps: { config, logger } });
const result = await runPipeline(pipeline, [{
  id: { canonical_id: "doc-1", unique_id: "u-1" },
  data: { pdf_output: { text: "The river Thames flows through London." } },
  summary_data: {},
  executor_logs: [],
}], { signal: new AbortController().signal, logger });
await pipeline.close();
process.stdout.write(JSON.stringify({ result, usage: usageTotals() }) + "\n");

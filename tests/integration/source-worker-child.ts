// A source worker in its own process, for source-race.test.ts (which SIGKILLs it mid-crawl).
// Settings come from the environment; CHILD_WORKER_ID names the lease owner.
import process from "node:process";
import { loadConfig } from "../../src/config/load.ts";
import { configureLogging, Logger } from "../../src/log/logger.ts";
import { MemoryReporter } from "../../src/model/worker-context.ts";
import { runSourceOnce } from "../../src/workers/source/index.ts";

configureLogging({ level: "error" });
const { config } = await loadConfig({ env: process.env as Record<string, string | undefined>, dotenvPath: false });
const workerId = process.env.CHILD_WORKER_ID ?? "child-worker";
const summary = await runSourceOnce({
  config,
  logger: new Logger({ worker_id: workerId }),
  role: "source",
  index: 0,
  workerId,
  drain: new AbortController().signal,
  report: new MemoryReporter(),
}, {});
process.stdout.write(JSON.stringify(summary) + "\n");
process.exit(summary.errors.length ? 1 : 0);

// `contentflow-worker worker --role=processing|source`: one worker loop in this process (started by the supervisor,
// or by hand). `--role=source --once [--vault ID]` crawls once and prints a summary.
import process from "node:process";
import { randomBytes } from "node:crypto";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { batchedStdout } from "../log/line-batch.ts";
import { configureLogging, parseLogLevel, rootLogger } from "../log/logger.ts";
import { hostname, onSignals } from "../runtime/index.ts";
import { IpcReporter, openSupervisedChannel } from "../supervisor/child-host.ts";
import { MemoryReporter, type WorkerContext, type WorkerReporter, type WorkerRole } from "../model/worker-context.ts";
import { runProcessingWorker } from "../workers/processing/index.ts";
import { runSourceOnce, runSourceWorker } from "../workers/source/index.ts";
import { reportUsageTo } from "../executors/ai/usage.ts";

const HELP = `Usage: contentflow-worker worker --role=processing|source [--index N] [--env-file PATH]
       contentflow-worker worker --role=source --once [--vault ID]

Runs one worker in this process. The supervisor starts its workers this way; operators can too, e.g. to run a
single role on a VM or to debug. SIGTERM/SIGINT drain the worker (in-flight work finishes, unfinished messages
become visible again at once) and exit 0.

Options:
  --role ROLE       processing (queue consumer) or source (vault scheduler and crawler)
  --index N         worker number shown in logs and ids (default 0)
  --once            source only: crawl every enabled vault once, print a summary, exit 0 (1 if any error)
  --vault ID        with --once: only this vault
  --env-file PATH   read this .env file instead of ./.env
  -h, --help        show this help`;

function workerId(config: Config, role: WorkerRole, index: number): string {
  return `${config.WORKER_NAME}-${role}-${index}@${hostname()}:${process.pid}:${randomBytes(2).toString("hex")}`;
}

export const workerCommand: Command = {
  name: "worker",
  summary: "Run one processing or source worker in this process (--role=source --once for an ad-hoc crawl)",
  help: HELP,
  async run(argv) {
    const { flags } = parseArgs(argv, {
      role: "string",
      index: "string",
      once: "boolean",
      vault: "string",
      "env-file": "string",
    });
    const role = flags.role as string | undefined;
    if (role !== "processing" && role !== "source") {
      throw new UsageError(
        role ? `unknown role '${role}': expected processing or source` : "--role=processing|source is required",
      );
    }
    if (flags.once && role !== "source") throw new UsageError("--once is only for --role=source");
    if (flags.vault && !flags.once) throw new UsageError("--vault goes with --once");
    const index = flags.index === undefined ? 0 : Number(flags.index);
    if (!Number.isInteger(index) || index < 0) {
      throw new UsageError(`--index must be a whole number >= 0, got '${flags.index}'`);
    }

    const supervised = process.env.CFW_SUPERVISED === "1" && !flags.once;
    const channel = supervised ? await openSupervisedChannel() : undefined;
    const config = channel?.config ?? (await loadEffectiveConfig(flags["env-file"] as string | undefined)).config;
    requireConnectionSettings(config);
    // A supervised worker's log lines and state reports go to the supervisor's pipe in one batch per event-loop
    // turn (src/log/line-batch.ts), in the order written.
    const toSupervisor = supervised ? batchedStdout() : undefined;
    configureLogging({
      level: parseLogLevel(config.LOG_LEVEL),
      file: supervised ? undefined : config.LOG_FILE || undefined,
      write: toSupervisor?.write,
    });
    const id = workerId(config, role, index);
    const logger = rootLogger.child({ worker: config.WORKER_NAME, role, index, worker_id: id });
    if (channel && !channel.parentDeath.watching) {
      logger.warn("this worker may outlive a killed supervisor while blocked", { reason: channel.parentDeath.reason });
    }
    const drain = new AbortController();
    const report: WorkerReporter = toSupervisor ? new IpcReporter(id, toSupervisor.write) : new MemoryReporter();
    const ctx: WorkerContext = {
      config,
      logger,
      role,
      index,
      workerId: id,
      drain: drain.signal,
      report,
      onWake: channel?.onWake,
    };
    const stopOn = (why: string) => {
      if (drain.signal.aborted) return;
      logger.info("draining", { reason: why });
      report.setReady(false, "draining");
      drain.abort(new Error(why));
    };
    // SIGINT drains as SIGTERM does, supervised or not: Ctrl-C in a terminal reaches the whole process group, so a
    // supervised child gets it beside the supervisor (which asks for a drain too); left to its default, SIGINT
    // would end the child at once, its tasks unfinished and its messages hidden until their leases ran out.
    onSignals(["SIGTERM", "SIGINT"], (s) => stopOn(s));
    channel?.drainRequested.then(stopOn);

    if (flags.once) {
      const summary = await runSourceOnce(ctx, { vaultId: flags.vault as string | undefined });
      process.stdout.write(
        `vaults crawled: ${summary.vaults}\nitems discovered: ${summary.items_discovered}\n` +
          `tasks queued: ${summary.tasks_queued}\nerrors: ${summary.errors.length}\n` +
          summary.errors.map((e) => `  - ${e}\n`).join("") + JSON.stringify(summary) + "\n",
      );
      return summary.errors.length ? EXIT_FAILURE : EXIT_OK;
    }
    logger.info("worker starting");
    // Tokens used by Azure AI executors go to /metrics as contentflow_worker_ai_tokens_total.
    const stopUsageReports = reportUsageTo(report);
    if (role === "processing") await runProcessingWorker(ctx);
    else await runSourceWorker(ctx);
    stopUsageReports();
    if (report instanceof IpcReporter) report.stop();
    logger.info("worker stopped");
    return EXIT_OK;
  },
};

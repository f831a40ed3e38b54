// `contentflow-worker executions retry`: argument parsing and output. What it does (from the poison record when the
// task is still there, else rebuilt from the execution record; a retry killed at any step and run again neither loses
// nor doubles a task) is src/redrive/retry-executions.ts.
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { RedriveAdmin } from "../redrive/admin.ts";
import { retryExecutions, type RetryOutcome } from "../redrive/retry-executions.ts";
import { parseDuration } from "./poison-command.ts";

const HELP =
  `Usage: contentflow-worker executions retry (--execution ID[,ID...] | --status failed --pipeline ID [--since TIME])
                                         [--dry-run] [--json]

Sends failed executions' tasks back to the task queue and sets their execution records back to pending.

  - A task still in the poison queue is re-driven from its poison record (the original message, as
    'poison requeue' does; the poison record is deleted).
  - Otherwise the task is rebuilt from the execution record. The record keeps only the items' identifiers, not
    their data, so this works only when the pipeline reads the content itself (a content_retriever step);
    executions of other pipelines are reported as not retryable, with the reason.

A retry killed at any step and run again neither loses a task nor runs it twice (each retry carries a re-drive
id; only the one the execution record names runs, and a retry left half done is finished by the next run). An
execution already re-queued and still pending is reported, not sent again; a completed one is never sent again.

Options:
  --execution IDS   these executions (comma-separated, or repeated as arguments after the flag)
  --status failed   with --pipeline: every failed execution of the pipeline (only 'failed' can be retried)
  --pipeline ID     the pipeline whose failed executions are retried
  --since TIME      only executions created at or after TIME (ISO 8601, e.g. 2026-01-31T00:00:00Z, or a
                    duration back from now: 90m, 12h, 7d)
  --dry-run         show what would be retried; change nothing
  --json            machine-readable output
  --env-file PATH   read this .env file instead of ./.env
  -h, --help        show this help

Exit codes: 0 done (also when nothing matched), 1 an execution could not be retried (the others were; see the
output), 2 usage error.`;

export interface ExecutionsIO {
  loadConfig(envFile?: string): Promise<Config>;
  stdout(text: string): void;
}

const defaultIO: ExecutionsIO = {
  loadConfig: async (envFile) => (await loadEffectiveConfig(envFile)).config,
  stdout: (t) => void process.stdout.write(t),
};

/** ISO time, or a duration back from now. */
function parseSince(text: string): string {
  if (/^\d+(\.\d+)?\s*[smhd]$/i.test(text.trim())) return new Date(Date.now() - parseDuration(text)).toISOString();
  const at = Date.parse(text);
  if (!Number.isFinite(at)) throw new UsageError(`--since '${text}' is neither an ISO 8601 time nor a duration`);
  return new Date(at).toISOString();
}

async function retryCommand(argv: string[], io: ExecutionsIO): Promise<number> {
  const { flags, positionals } = parseArgs(argv, {
    execution: "string",
    status: "string",
    pipeline: "string",
    since: "string",
    "dry-run": "boolean",
    json: "boolean",
    "env-file": "string",
  }, 1000);
  const ids = flags.execution
    ? [...String(flags.execution).split(","), ...positionals].map((s) => s.trim()).filter(Boolean)
    : undefined;
  if (!flags.execution && positionals.length) throw new UsageError(`unexpected argument '${positionals[0]}'`);
  if (ids && (flags.status || flags.pipeline || flags.since)) {
    throw new UsageError("--execution cannot be combined with --status, --pipeline or --since");
  }
  if (!ids) {
    if (flags.status === undefined) throw new UsageError("say which executions: --execution ID or --status failed");
    if (flags.status !== "failed") {
      throw new UsageError(
        `--status ${String(flags.status)}: only failed executions can be retried (use --status failed; a pending or ` +
          "running execution is still on its way, a completed one is done)",
      );
    }
    if (!flags.pipeline) throw new UsageError("--status failed needs --pipeline ID");
  }
  const since = flags.since ? parseSince(String(flags.since)) : undefined;
  const dryRun = Boolean(flags["dry-run"]);
  const config = await io.loadConfig(flags["env-file"] as string | undefined);
  requireConnectionSettings(config);
  const tool = new RedriveAdmin(config);
  let outcomes: RetryOutcome[];
  try {
    outcomes = await retryExecutions(tool, ids ? { ids } : { pipeline: String(flags.pipeline), since }, { dryRun });
  } finally {
    await tool.close();
  }
  const failed = outcomes.filter((o) => o.result === "not-retryable");
  if (flags.json) io.stdout(JSON.stringify({ dry_run: dryRun, outcomes }, null, 2) + "\n");
  else {
    for (const o of outcomes) {
      io.stdout(`${o.result.padEnd(26)} ${o.execution_id}${o.detail ? `  (${o.detail})` : ""}\n`);
    }
    io.stdout(
      dryRun
        ? `dry run: ${outcomes.length - failed.length} execution(s) would be retried, ${failed.length} cannot be\n`
        : `${outcomes.length - failed.length} execution(s) retried or already queued on ${tool.tasks.queueName}, ` +
          `${failed.length} cannot be\n`,
    );
  }
  return failed.length ? EXIT_FAILURE : EXIT_OK;
}

export async function runExecutions(argv: string[], io: ExecutionsIO = defaultIO): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "retry":
      return await retryCommand(rest, io);
    case undefined:
      throw new UsageError("executions needs a subcommand: retry");
    default:
      throw new UsageError(`unknown executions subcommand '${sub}' (retry)`);
  }
}

export const executionsCommand: Command = {
  name: "executions",
  summary: "Retry failed executions from their poison records or execution records",
  help: HELP,
  run: (argv) => runExecutions(argv),
};

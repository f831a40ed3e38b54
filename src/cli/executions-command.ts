// `contentflow-worker executions retry`: argument parsing and output. A task still in the poison queue is re-driven
// from its poison record (the original message, exactly as `poison requeue` does). Otherwise the task is rebuilt from
// the execution record, which keeps only the items' identifiers (`content`), not their data: that works when the
// pipeline reads the items' content itself (a content_retriever step after the input executor); other executions are
// listed as not retryable, with the reason. The re-drive itself is src/redrive/ (a retry killed at any step and run
// again neither loses nor doubles a task, see redrive-task.ts).
import process from "node:process";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { PoisonLeaseKeeper } from "../queue/poison-leases.ts";
import { readExecution } from "../store/execution-records.ts";
import { currentRedrive } from "../store/redrive.ts";
import { readPipelineDoc } from "../store/pipelines.ts";
import { parsePipelineYaml } from "../pipeline/index.ts";
import type { ExecutionDoc } from "../model/documents.ts";
import { CONTENT_READERS, type Described, RedriveAdmin } from "../redrive/admin.ts";
import { parseDuration } from "./poison-command.ts";

const POISON_LEASE_SECONDS = 120;

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

export interface RetryOutcome {
  execution_id: string;
  result:
    | "requeued-from-poison"
    | "rebuilt-from-record"
    | "would-requeue-from-poison"
    | "would-rebuild-from-record"
    | "already-queued"
    | "already-completed"
    | "not-retryable";
  detail?: string;
}

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

/** Whether the pipeline reads its items' content by identifier, so a task rebuilt from ids can run. */
async function pipelineReadsContent(
  pipelines: Parameters<typeof readPipelineDoc>[0],
  pipelineId: string,
  inputExecutor: string | null,
): Promise<true | string> {
  const read = await readPipelineDoc(pipelines, pipelineId, AbortSignal.timeout(30_000));
  if (read.kind === "not-found") return `pipeline ${pipelineId} no longer exists`;
  if (read.kind === "malformed") return `pipeline ${pipelineId} is malformed: ${read.problem}`;
  let executors;
  try {
    executors = parsePipelineYaml(read.doc.yaml).executors;
  } catch (err) {
    return `pipeline ${pipelineId} does not parse: ${(err as Error).message}`;
  }
  if (executors.some((e) => CONTENT_READERS.has(e.type) && e.id !== inputExecutor)) return true;
  return `the record keeps only the items' identifiers, not their data, and pipeline ${pipelineId} does not read ` +
    `the content itself (no ${[...CONTENT_READERS].join("/")} step); re-send it from its source (the source worker ` +
    `or 'contentflow-worker enqueue')`;
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
    if (flags.status !== "failed") throw new UsageError("say which executions: --execution ID or --status failed");
    if (!flags.pipeline) throw new UsageError("--status failed needs --pipeline ID");
  }
  const since = flags.since ? parseSince(String(flags.since)) : undefined;
  const dryRun = Boolean(flags["dry-run"]);
  const config = await io.loadConfig(flags["env-file"] as string | undefined);
  requireConnectionSettings(config);
  const tool = new RedriveAdmin(config);
  const outcomes: RetryOutcome[] = [];
  // Poison records are leased for the whole command (renewed while they wait, see queue/poison-leases.ts); the ones
  // not re-driven are made visible again at the end.
  const leases = new PoisonLeaseKeeper(tool.poison, { leaseSeconds: POISON_LEASE_SECONDS });
  const poisonEntries = await tool.poison.scan({ leaseSeconds: POISON_LEASE_SECONDS, onPage: leases.keep });
  const settled = new Set<string>();
  try {
    const store = await tool.cosmos();
    const byExecution = new Map<string, Described>();
    for (const entry of poisonEntries) {
      const d = await tool.describe(entry);
      const id = d.original?.executionId ?? entry.record?.execution_id;
      if (id && !byExecution.has(id)) byExecution.set(id, d);
    }
    const docs: Array<{ id: string; doc?: ExecutionDoc }> = [];
    if (ids) {
      for (const id of ids) docs.push({ id, doc: await readExecution(store.executions, id) });
    } else {
      const { resources } = await store.executions.items.query<ExecutionDoc>({
        query: `SELECT * FROM c WHERE c.status = 'failed' AND c.pipeline_id = @p${
          since ? " AND c.created_at >= @since" : ""
        }`,
        parameters: [
          { name: "@p", value: String(flags.pipeline) },
          ...(since ? [{ name: "@since", value: since }] : []),
        ],
      }).fetchAll();
      for (const doc of resources) docs.push({ id: doc.id, doc });
    }
    for (const { id, doc } of docs) {
      let outcome: RetryOutcome;
      try {
        outcome = await retryOne(id, doc, {
          byExecution,
          leases,
          tool,
          dryRun,
          settled,
          maxRetries: config.MAX_TASK_RETRIES,
        });
      } catch (err) {
        outcome = { execution_id: id, result: "not-retryable", detail: (err as Error).message };
      }
      outcomes.push(outcome);
    }
  } finally {
    await leases.stop();
    await tool.poison.release(poisonEntries.filter((e) => !settled.has(e.id)));
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

async function retryOne(
  id: string,
  doc: ExecutionDoc | undefined,
  ctx: {
    byExecution: Map<string, Described>;
    leases: PoisonLeaseKeeper;
    tool: RedriveAdmin;
    dryRun: boolean;
    settled: Set<string>;
    maxRetries: number;
  },
): Promise<RetryOutcome> {
  const no = (detail: string): RetryOutcome => ({ execution_id: id, result: "not-retryable", detail });
  if (!doc) return no("no such execution record");
  const redrive = currentRedrive(doc);
  if (doc.status === "pending" && redrive?.state === "queued") {
    return { execution_id: id, result: "already-queued", detail: `re-drive ${redrive.id} at ${redrive.at}` };
  }
  if (doc.status === "completed") return { execution_id: id, result: "already-completed" };

  const poisoned = ctx.byExecution.get(id);
  if (poisoned && (doc.status === "failed" || redrive?.poison_message_id === poisoned.entry.id)) {
    await ctx.leases.take(poisoned.entry);
    const r = await ctx.tool.requeue(poisoned, { dryRun: ctx.dryRun });
    const detail = `poison record ${r.id}`;
    switch (r.result) {
      case "requeued":
      case "finished-earlier-requeue":
        ctx.settled.add(r.id);
        return { execution_id: id, result: "requeued-from-poison", detail };
      case "already-completed":
        ctx.settled.add(r.id);
        return { execution_id: id, result: "already-completed", detail };
      case "would-requeue":
        return { execution_id: id, result: "would-requeue-from-poison", detail };
      default:
        return no(`its poison record ${r.id} cannot be re-driven: ${r.detail ?? "unknown reason"}`);
    }
  }

  const store = await ctx.tool.cosmos();
  const result = await ctx.tool.retryFromRecord(doc, {
    dryRun: ctx.dryRun,
    maxRetries: ctx.maxRetries,
    readable: () =>
      pipelineReadsContent(
        store.pipelines,
        doc.pipeline_id ?? "",
        (doc as { executed_input_executor?: string | null })
          .executed_input_executor ?? null,
      ),
  });
  switch (result.kind) {
    case "would-rebuild":
      return { execution_id: id, result: "would-rebuild-from-record" };
    case "queued":
      return { execution_id: id, result: "rebuilt-from-record", detail: `${doc.content?.length ?? 0} item(s)` };
    case "already-queued":
      return { execution_id: id, result: "already-queued", detail: `re-drive ${result.redriveId}` };
    case "completed":
      return { execution_id: id, result: "already-completed" };
    case "refused":
      return no(result.reason);
  }
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

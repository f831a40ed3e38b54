// `contentflow-worker poison list|show|requeue|purge`: argument parsing and output. What the commands do to the
// poison queue, the task queue and the execution records is src/redrive/ (admin.ts; a requeue killed half way and run
// again neither loses nor doubles a task, see redrive-task.ts). Records are claimed while the command reads them and
// made visible again unless the command settles them.
import process from "node:process";
import { createInterface } from "node:readline";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import type { PoisonEntry } from "../queue/poison-queue.ts";
import { type Described, type PoisonOutcome, RedriveAdmin } from "../redrive/admin.ts";
import { requeuePoison } from "../redrive/requeue-poison.ts";
import { type LinearRegex, linearRegex } from "../util/linear-regex.ts";
import { ProgressLine, type ProgressSink } from "./progress-line.ts";

/** How long requeue and purge hold the records they read (a few calls per record); --lease-seconds changes it. */
const DEFAULT_CLAIM_SECONDS = 120;
/**
 * Records a requeue handles at once. Each costs about six round trips that mostly wait on Cosmos and the queue, so
 * a few in flight multiply the rate; more than this mostly adds contention on the emulators or the account.
 */
const DEFAULT_REQUEUE_CONCURRENCY = 16;

const HELP = `Usage: contentflow-worker poison list [--json] [--limit N]
       contentflow-worker poison show ID [--json]
       contentflow-worker poison requeue (--id ID[,ID...] | --reason REGEX | --pipeline ID | --all) [--dry-run] [--json]
                                         [--concurrency N] [--lease-seconds N]
       contentflow-worker poison purge --older-than DURATION [--yes] [--dry-run] [--json]

The poison queue (STORAGE_POISON_QUEUE_NAME, default <STORAGE_WORKER_QUEUE_NAME>-poison) holds tasks the processing
workers set aside, each with the reason. ID is the poison record's message id (the first column of list).

  list      every record: id, when it was set aside, deliveries, pipeline, vault, execution, reason
  show      one record with the original message
  requeue   sends the selected records' tasks back to the task queue with a fresh retry budget, sets their
            execution records back to pending with a note of the re-drive, then deletes the poison records.
            Filters combine (all must match). A requeue that is killed and run again finishes the job without
            running any task twice; a task whose execution is completed is never sent again (its record is
            deleted, shown as already-completed). Claim-check payloads and spilled originals are kept for the
            re-driven task.
            Records are handled --concurrency at a time; on a terminal, progress is shown as N of M.
  purge     deletes records set aside longer ago than DURATION (e.g. 90m, 12h, 7d) and their spilled blobs;
            asks for confirmation on a terminal, needs --yes otherwise

Options:
  --json            machine-readable output
  --limit N         list at most N records
  --id IDS          requeue these records (comma-separated)
  --reason REGEX    requeue records whose reason matches (RE2 regular expression, case-insensitive)
  --pipeline ID     requeue records of this pipeline
  --all             requeue every record
  --older-than D    purge records older than D
  --dry-run         show what requeue or purge would do; change nothing
  --yes             purge without asking
  --concurrency N   requeue: records handled at once, 1 to 64 (default ${DEFAULT_REQUEUE_CONCURRENCY})
  --lease-seconds N requeue/purge: how long the records read stay invisible to others at a time
                    (default ${DEFAULT_CLAIM_SECONDS}); requeue renews the leases of records still waiting, so a
                    long re-drive keeps them all; a command killed half way leaves them invisible up to that long
  --env-file PATH   read this .env file instead of ./.env
  -h, --help        show this help

Exit codes: 0 done (also when nothing matched), 1 a record could not be handled (the others were; see the output),
2 usage error.`;

function requeueConcurrency(flags: Record<string, unknown>): number {
  if (flags.concurrency === undefined) return DEFAULT_REQUEUE_CONCURRENCY;
  const n = Number(flags.concurrency);
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new UsageError("--concurrency must be 1 to 64");
  return n;
}

function claimSeconds(flags: Record<string, unknown>): number {
  if (flags["lease-seconds"] === undefined) return DEFAULT_CLAIM_SECONDS;
  const n = Number(flags["lease-seconds"]);
  if (!Number.isInteger(n) || n < 5 || n > 7 * 86_400) throw new UsageError("--lease-seconds must be 5 to 604800");
  return n;
}

export interface PoisonIO {
  loadConfig(envFile?: string): Promise<Config>;
  stdout(text: string): void;
  confirm(question: string): Promise<boolean>;
  interactive: boolean;
  /** Where requeue shows its progress (only if a terminal). */
  progress?: ProgressSink;
}

const defaultIO: PoisonIO = {
  loadConfig: async (envFile) => (await loadEffectiveConfig(envFile)).config,
  stdout: (t) => void process.stdout.write(t),
  interactive: Boolean(process.stdin.isTTY),
  progress: { isTTY: Boolean(process.stderr.isTTY), write: (t) => void process.stderr.write(t) },
  confirm: (question) =>
    new Promise((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr });
      rl.question(`${question} [y/N] `, (answer) => {
        rl.close();
        resolve(/^y(es)?$/i.test(answer.trim()));
      });
    }),
};

/** "90s", "15m", "12h", "7d" → milliseconds. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*(s|m|h|d)$/i.exec(text.trim());
  if (!m) throw new UsageError(`duration '${text}' is not a number with s, m, h or d (e.g. 12h, 7d)`);
  const unit = { s: 1_000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2].toLowerCase() as "s" | "m" | "h" | "d"];
  return Number(m[1]) * unit;
}

interface Row {
  id: string;
  poisoned_at: string | null;
  first_queued_at: string | null;
  deliveries: number | null;
  pipeline_id: string | null;
  vault_id: string | null;
  task_id: string | null;
  execution_id: string | null;
  reason: string;
  message_in_blob: boolean;
}

function row(d: Described): Row {
  const r = d.entry.record;
  return {
    id: d.entry.id,
    poisoned_at: r?.time ?? d.entry.insertedOn?.toISOString() ?? null,
    first_queued_at: r?.inserted_on ?? null,
    deliveries: r?.dequeue_count ?? null,
    pipeline_id: d.original?.pipelineId ?? null,
    vault_id: d.original?.vaultId ?? null,
    task_id: d.original?.taskId ?? r?.task_id ?? null,
    execution_id: d.original?.executionId ?? r?.execution_id ?? null,
    reason: r?.reason ?? d.entry.unreadable ?? "",
    message_in_blob: Boolean(r?.message_blob),
  };
}

function table(rows: Row[]): string {
  const cut = (s: string | null, n: number) => (s ?? "-").length > n ? `${(s ?? "-").slice(0, n - 1)}…` : s ?? "-";
  const cols: Array<[string, (r: Row) => string, number]> = [
    ["ID", (r) => r.id, 36],
    ["SET ASIDE", (r) => r.poisoned_at?.replace(/\.\d+Z$/, "Z") ?? "-", 20],
    ["DELIVERIES", (r) => String(r.deliveries ?? "-"), 10],
    ["PIPELINE", (r) => cut(r.pipeline_id, 24), 24],
    ["VAULT", (r) => cut(r.vault_id, 20), 20],
    ["EXECUTION", (r) => cut(r.execution_id, 20), 20],
    ["REASON", (r) => cut(r.reason.replace(/\s+/g, " "), 70), 0],
  ];
  const widths = cols.map(([h, f, max]) => Math.max(h.length, ...rows.map((r) => f(r).length)) || max);
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]))).join("  ");
  return [line(cols.map(([h]) => h)), ...rows.map((r) => line(cols.map(([, f]) => f(r))))].join("\n") + "\n";
}

async function openTool(flags: Record<string, unknown>, io: PoisonIO): Promise<RedriveAdmin> {
  const config = await io.loadConfig(flags["env-file"] as string | undefined);
  requireConnectionSettings(config);
  return new RedriveAdmin(config);
}

async function listCommand(argv: string[], io: PoisonIO): Promise<number> {
  const { flags } = parseArgs(argv, { json: "boolean", limit: "string", "env-file": "string" });
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError("--limit must be >= 1");
  const tool = await openTool(flags, io);
  const entries = await tool.poison.scan({ claimSeconds: 60, limit });
  try {
    const rows = [];
    for (const e of entries) rows.push(row(await tool.withClaimCheckIds(await tool.describe(e))));
    rows.sort((a, b) => (a.poisoned_at ?? "").localeCompare(b.poisoned_at ?? ""));
    if (flags.json) io.stdout(JSON.stringify(rows, null, 2) + "\n");
    else {
      io.stdout(rows.length ? table(rows) : "");
      io.stdout(`${rows.length} record(s) in ${tool.poison.queue.name}\n`);
    }
  } finally {
    await tool.poison.release(entries);
  }
  return EXIT_OK;
}

async function showCommand(argv: string[], io: PoisonIO): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { json: "boolean", "env-file": "string" }, 1);
  const id = positionals[0];
  if (!id) throw new UsageError("poison show needs the record's ID (see poison list)");
  const tool = await openTool(flags, io);
  const entries = await tool.poison.scan({ claimSeconds: 60 });
  try {
    const entry = entries.find((e) => e.id === id);
    if (!entry) {
      io.stdout(`no poison record ${id} in ${tool.poison.queue.name}\n`);
      return EXIT_FAILURE;
    }
    const d = await tool.withClaimCheckIds(await tool.describe(entry));
    const out = {
      ...row(d),
      record: entry.record ?? null,
      original_message: d.original?.text ?? null,
      problem: d.problem,
    };
    if (flags.json) io.stdout(JSON.stringify(out, null, 2) + "\n");
    else {
      const r = row(d);
      io.stdout(
        [
          `id:           ${r.id}`,
          `set aside:    ${r.poisoned_at ?? "-"}`,
          `first queued: ${r.first_queued_at ?? "-"}`,
          `deliveries:   ${r.deliveries ?? "-"}`,
          `pipeline:     ${r.pipeline_id ?? "-"}`,
          `vault:        ${r.vault_id ?? "-"}`,
          `task:         ${r.task_id ?? "-"}`,
          `execution:    ${r.execution_id ?? "-"}`,
          `reason:       ${r.reason}`,
          ...(d.problem ? [`problem:      ${d.problem}`] : []),
          `message${r.message_in_blob ? " (spilled to a blob, read back)" : ""}:`,
          d.original?.text ?? entry.record?.message ?? "-",
        ].join("\n") + "\n",
      );
    }
  } finally {
    await tool.poison.release(entries);
  }
  return EXIT_OK;
}

async function requeueCommand(argv: string[], io: PoisonIO): Promise<number> {
  const { flags } = parseArgs(argv, {
    id: "string",
    reason: "string",
    pipeline: "string",
    all: "boolean",
    "dry-run": "boolean",
    json: "boolean",
    "lease-seconds": "string",
    concurrency: "string",
    "env-file": "string",
  });
  const claimFor = claimSeconds(flags);
  const ids = flags.id ? new Set(String(flags.id).split(",").map((s) => s.trim()).filter(Boolean)) : undefined;
  let reason: LinearRegex | undefined;
  if (flags.reason) {
    try {
      reason = linearRegex(String(flags.reason), { caseInsensitive: true });
    } catch (err) {
      throw new UsageError(`--reason is not a valid regular expression: ${(err as Error).message}`);
    }
  }
  const pipeline = flags.pipeline as string | undefined;
  if (!ids && !reason && !pipeline && !flags.all) {
    throw new UsageError("say which records: --id, --reason, --pipeline or --all");
  }
  const dryRun = Boolean(flags["dry-run"]);
  const concurrency = requeueConcurrency(flags);
  const tool = await openTool(flags, io);
  const progress = new ProgressLine(io.progress, "poison requeue");
  let outcomes: PoisonOutcome[];
  try {
    outcomes = await requeuePoison(tool, { ids, reason, pipeline }, {
      dryRun,
      claimSeconds: claimFor,
      concurrency,
      progress: (p) =>
        progress.update(
          p.handled === undefined
            ? `${p.read} records read`
            : `${p.handled} of ${p.total} records looked at, ${p.requeued} requeued`,
        ),
    });
  } finally {
    progress.done();
    await tool.close();
  }
  const failed = outcomes.filter((o) => o.result === "skipped");
  if (flags.json) io.stdout(JSON.stringify({ dry_run: dryRun, outcomes }, null, 2) + "\n");
  else {
    for (const o of outcomes) {
      io.stdout(
        `${o.result.padEnd(24)} ${o.id}  execution ${o.execution_id ?? "-"}${o.detail ? `  (${o.detail})` : ""}\n`,
      );
    }
    const requeued = outcomes.filter((o) => o.result === "requeued" || o.result === "finished-earlier-requeue").length;
    const completed = outcomes.filter((o) => o.result === "already-completed").length;
    io.stdout(
      dryRun
        ? `dry run: ${outcomes.length - failed.length} record(s) would be requeued, ${failed.length} could not be\n`
        : `${requeued} requeued to ${tool.tasks.queueName}, ${completed} already completed (record deleted), ` +
          `${failed.length} could not be (kept in ${tool.poison.queue.name})\n`,
    );
  }
  return failed.length ? EXIT_FAILURE : EXIT_OK;
}

async function purgeCommand(argv: string[], io: PoisonIO): Promise<number> {
  const { flags } = parseArgs(argv, {
    "older-than": "string",
    yes: "boolean",
    "dry-run": "boolean",
    json: "boolean",
    "lease-seconds": "string",
    "env-file": "string",
  });
  if (!flags["older-than"]) throw new UsageError("poison purge needs --older-than DURATION (e.g. 7d)");
  const cutoff = Date.now() - parseDuration(String(flags["older-than"]));
  const tool = await openTool(flags, io);
  const entries = await tool.poison.scan({ claimSeconds: claimSeconds(flags) });
  const chosen: Described[] = [];
  const keep: PoisonEntry[] = [];
  for (const entry of entries) {
    const at = Date.parse(entry.record?.time ?? entry.insertedOn?.toISOString() ?? "");
    if (Number.isFinite(at) && at < cutoff) chosen.push(await tool.describe(entry));
    else keep.push(entry);
  }
  let deleted = 0;
  try {
    const question = `delete ${chosen.length} poison record(s) set aside before ${new Date(cutoff).toISOString()}?`;
    if (flags["dry-run"] || chosen.length === 0) {
      keep.push(...chosen.map((c) => c.entry));
    } else if (!flags.yes && !(io.interactive && await io.confirm(question))) {
      keep.push(...chosen.map((c) => c.entry));
      if (!io.interactive) {
        throw new UsageError(`${question} Add --yes to confirm (no terminal to ask on)`);
      }
      io.stdout("nothing deleted\n");
      return EXIT_OK;
    } else {
      for (const c of chosen) {
        await tool.purge(c);
        deleted++;
      }
    }
  } finally {
    await tool.poison.release(keep);
  }
  const rows = chosen.map(row);
  if (flags.json) {
    io.stdout(JSON.stringify({ dry_run: Boolean(flags["dry-run"]), deleted, records: rows }, null, 2) + "\n");
  } else if (flags["dry-run"]) io.stdout(`dry run: ${rows.length} record(s) would be deleted\n`);
  else io.stdout(`${deleted} record(s) deleted from ${tool.poison.queue.name}\n`);
  return EXIT_OK;
}

export async function runPoison(argv: string[], io: PoisonIO = defaultIO): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "list":
      return await listCommand(rest, io);
    case "show":
      return await showCommand(rest, io);
    case "requeue":
      return await requeueCommand(rest, io);
    case "purge":
      return await purgeCommand(rest, io);
    case undefined:
      throw new UsageError("poison needs a subcommand: list, show, requeue or purge");
    default:
      throw new UsageError(`unknown poison subcommand '${sub}' (list, show, requeue or purge)`);
  }
}

export const poisonCommand: Command = {
  name: "poison",
  summary: "List, show, requeue or purge the poison queue's records",
  help: HELP,
  run: (argv) => runPoison(argv),
};

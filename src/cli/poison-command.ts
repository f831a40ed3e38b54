// `contentflow-worker poison list|show|requeue|purge`: the poison queue for operators. Records are leased while the
// command reads them and made visible again unless the command settles them. A requeue sends the original task back
// to the task queue with a fresh retry budget and sets its execution record back to pending (store/redrive.ts says
// why a requeue killed half way and run again neither loses nor doubles a task); the poison record is deleted only
// after its task is on the queue.
import process from "node:process";
import { createInterface } from "node:readline";
import type { BlobServiceClient } from "@azure/storage-blob";
import type { QueueClient } from "@azure/storage-queue";
import type { Command } from "./command.ts";
import { EXIT_FAILURE, EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { taskQueues } from "../queue/clients.ts";
import { describeOriginal, type OriginalTask, type PoisonEntry, PoisonQueue } from "../queue/poison-queue.ts";
import { readClaimCheck } from "../queue/claim-check.ts";
import { decodeClaimCheckBlob } from "../queue/decode.ts";
import { blobServiceClient } from "../executors/blob-clients.ts";
import { openCosmosStore } from "../store/cosmos.ts";
import { readExecution } from "../store/execution-records.ts";
import { beginRedrive, currentRedrive, redriveQueued } from "../store/redrive.ts";
import { QUEUE_MESSAGE_LIMIT_BYTES } from "../model/task-envelope.ts";
import { queueTextBytes } from "../queue/sender.ts";
import { PoisonLeaseKeeper } from "../queue/poison-leases.ts";
import { eachLimited } from "../util/each-limited.ts";
import { type LinearRegex, linearRegex } from "../util/linear-regex.ts";
import { ProgressLine, type ProgressSink } from "./progress-line.ts";

/** How long requeue and purge hold the records they read (a few calls per record); --lease-seconds changes it. */
const DEFAULT_LEASE_SECONDS = 120;
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
            running any task twice. Claim-check payloads and spilled originals are kept for the re-driven task.
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
                    (default ${DEFAULT_LEASE_SECONDS}); requeue renews the leases of records still waiting, so a
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

function leaseSeconds(flags: Record<string, unknown>): number {
  if (flags["lease-seconds"] === undefined) return DEFAULT_LEASE_SECONDS;
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

export interface Described {
  entry: PoisonEntry;
  original?: OriginalTask;
  /** Why the original could not be read (blob gone, …). */
  problem?: string;
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

export class PoisonTool {
  private blobs?: BlobServiceClient;
  readonly queue: PoisonQueue;

  constructor(readonly config: Config) {
    this.queue = new PoisonQueue(taskQueues(config).poison);
  }

  blobService = (): BlobServiceClient => (this.blobs ??= blobServiceClient(this.config));

  async describe(entry: PoisonEntry): Promise<Described> {
    if (!entry.record) return { entry };
    try {
      const text = await this.queue.originalText(entry.record, this.blobService);
      return { entry, original: describeOriginal(text, entry.record) };
    } catch (err) {
      return { entry, problem: `the original message could not be read: ${(err as Error).message}` };
    }
  }

  /** Pipeline and vault of a claim-check task live in its blob. */
  async withClaimCheckIds(d: Described): Promise<Described> {
    if (d.original?.decoded.kind !== "claim-check") return d;
    const claim = d.original.decoded.message;
    const read = await readClaimCheck(this.blobService(), claim, AbortSignal.timeout(60_000)).catch(() => undefined);
    if (!read?.found) return { ...d, problem: `claim-check blob ${claim.claim_check.blob} is gone` };
    const decoded = decodeClaimCheckBlob(read.text, claim);
    if (!decoded.ok) return { ...d, problem: decoded.reason };
    return {
      ...d,
      original: {
        ...d.original,
        pipelineId: decoded.message.payload.pipeline_id,
        vaultId: decoded.message.payload.vault_id ?? undefined,
      },
    };
  }
}

async function openTool(flags: Record<string, unknown>, io: PoisonIO): Promise<PoisonTool> {
  const config = await io.loadConfig(flags["env-file"] as string | undefined);
  requireConnectionSettings(config);
  return new PoisonTool(config);
}

async function listCommand(argv: string[], io: PoisonIO): Promise<number> {
  const { flags } = parseArgs(argv, { json: "boolean", limit: "string", "env-file": "string" });
  const limit = flags.limit === undefined ? undefined : Number(flags.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new UsageError("--limit must be >= 1");
  const tool = await openTool(flags, io);
  const entries = await tool.queue.scan({ leaseSeconds: 60, limit });
  try {
    const rows = [];
    for (const e of entries) rows.push(row(await tool.withClaimCheckIds(await tool.describe(e))));
    rows.sort((a, b) => (a.poisoned_at ?? "").localeCompare(b.poisoned_at ?? ""));
    if (flags.json) io.stdout(JSON.stringify(rows, null, 2) + "\n");
    else {
      io.stdout(rows.length ? table(rows) : "");
      io.stdout(`${rows.length} record(s) in ${tool.queue.queue.name}\n`);
    }
  } finally {
    await tool.queue.release(entries);
  }
  return EXIT_OK;
}

async function showCommand(argv: string[], io: PoisonIO): Promise<number> {
  const { flags, positionals } = parseArgs(argv, { json: "boolean", "env-file": "string" }, 1);
  const id = positionals[0];
  if (!id) throw new UsageError("poison show needs the record's ID (see poison list)");
  const tool = await openTool(flags, io);
  const entries = await tool.queue.scan({ leaseSeconds: 60 });
  try {
    const entry = entries.find((e) => e.id === id);
    if (!entry) {
      io.stdout(`no poison record ${id} in ${tool.queue.queue.name}\n`);
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
    await tool.queue.release(entries);
  }
  return EXIT_OK;
}

export interface Outcome {
  id: string;
  execution_id: string | null;
  result: "requeued" | "finished-earlier-requeue" | "would-requeue" | "skipped";
  detail?: string;
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
  const lease = leaseSeconds(flags);
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
  const store = dryRun ? undefined : await openCosmosStore(tool.config);
  const tasks = taskQueues(tool.config).tasks;
  const leases = new PoisonLeaseKeeper(tool.queue, { leaseSeconds: lease });
  const entries: PoisonEntry[] = [];
  const settled = new Set<string>();
  const released = new Set<string>();
  const results: Array<Outcome | undefined> = [];
  const progress = new ProgressLine(io.progress, "poison requeue");
  try {
    // Every record is read (and leased) before any is handled: see queue/poison-leases.ts for why.
    const onPage = (page: PoisonEntry[]) => {
      leases.keep(page);
      progress.update(`${entries.length + page.length} records read`);
      entries.push(...page);
    };
    await tool.queue.scan({ leaseSeconds: lease, onPage });
    let handled = 0;
    let requeued = 0;
    await eachLimited(entries, concurrency, async (entry, index) => {
      await leases.take(entry);
      const outcome = await handleForRequeue(tool, entry, { ids, reason, pipeline, dryRun, store, tasks });
      if (outcome) results[index] = outcome;
      if (outcome?.result === "requeued" || outcome?.result === "finished-earlier-requeue") {
        settled.add(entry.id);
        requeued++;
      } else if (await tool.queue.release([entry]) === 0) {
        // Not chosen, a dry run or not handled: visible again at once (the read is over, so it is not read twice).
        released.add(entry.id);
      }
      handled++;
      progress.update(`${handled} of ${entries.length} records looked at, ${requeued} requeued`);
    });
  } finally {
    progress.done();
    await leases.stop();
    // Whatever was neither settled nor released yet (left after an error) is visible again at once.
    await tool.queue.release(entries.filter((e) => !settled.has(e.id) && !released.has(e.id)));
    store?.close();
  }
  const outcomes = results.filter((o): o is Outcome => o !== undefined);
  const failed = outcomes.filter((o) => o.result === "skipped");
  if (flags.json) io.stdout(JSON.stringify({ dry_run: dryRun, outcomes }, null, 2) + "\n");
  else {
    for (const o of outcomes) {
      io.stdout(
        `${o.result.padEnd(24)} ${o.id}  execution ${o.execution_id ?? "-"}${o.detail ? `  (${o.detail})` : ""}\n`,
      );
    }
    const done = outcomes.filter((o) => o.result === "requeued" || o.result === "finished-earlier-requeue").length;
    io.stdout(
      dryRun
        ? `dry run: ${outcomes.length - failed.length} record(s) would be requeued, ${failed.length} could not be\n`
        : `${done} requeued to ${tasks.name}, ${failed.length} could not be (kept in ${tool.queue.queue.name})\n`,
    );
  }
  return failed.length ? EXIT_FAILURE : EXIT_OK;
}

/** One record of a requeue: undefined when the filters do not choose it; never throws. */
async function handleForRequeue(
  tool: PoisonTool,
  entry: PoisonEntry,
  opts: {
    ids?: Set<string>;
    reason?: LinearRegex;
    pipeline?: string;
    dryRun: boolean;
    store?: Awaited<ReturnType<typeof openCosmosStore>>;
    tasks: ReturnType<typeof taskQueues>["tasks"];
  },
): Promise<Outcome | undefined> {
  if (opts.ids && !opts.ids.has(entry.id)) return undefined;
  let r: Row | undefined;
  try {
    let d = await tool.describe(entry);
    if (opts.pipeline) d = await tool.withClaimCheckIds(d);
    r = row(d);
    if ((opts.reason && !opts.reason.test(r.reason)) || (opts.pipeline && r.pipeline_id !== opts.pipeline)) {
      return undefined;
    }
    return await requeueOne(tool, d, opts);
  } catch (err) {
    const executionId = r?.execution_id ?? entry.record?.execution_id ?? null;
    return { id: entry.id, execution_id: executionId, result: "skipped", detail: (err as Error).message };
  }
}

const createdQueues = new WeakMap<QueueClient, Promise<unknown>>();

/** Creates the task queue if needed, once per command rather than once per record (asked again after a failure). */
function taskQueueCreated(queue: QueueClient): Promise<unknown> {
  let created = createdQueues.get(queue);
  if (!created) {
    created = queue.createIfNotExists({ abortSignal: AbortSignal.timeout(30_000) });
    created.catch(() => createdQueues.delete(queue));
    createdQueues.set(queue, created);
  }
  return created;
}

export async function requeueOne(
  tool: PoisonTool,
  d: Described,
  ctx: {
    dryRun: boolean;
    store?: Awaited<ReturnType<typeof openCosmosStore>>;
    tasks: ReturnType<typeof taskQueues>["tasks"];
  },
): Promise<Outcome> {
  const base = { id: d.entry.id, execution_id: d.original?.executionId ?? d.entry.record?.execution_id ?? null };
  if (!d.entry.record) return { ...base, result: "skipped", detail: d.entry.unreadable };
  if (d.problem || !d.original) return { ...base, result: "skipped", detail: d.problem };
  const decoded = d.original.decoded;
  if (decoded.kind === "invalid") {
    return { ...base, result: "skipped", detail: `the original message is not a valid task: ${decoded.reason}` };
  }
  if (decoded.kind === "claim-check") {
    const read = await readClaimCheck(tool.blobService(), decoded.message, AbortSignal.timeout(60_000));
    if (!read.found) return { ...base, result: "skipped", detail: "its claim-check blob is gone" };
  }
  if (ctx.dryRun) return { ...base, result: "would-requeue" };
  const executionId = base.execution_id!;
  const executions = ctx.store!.executions;
  // An earlier requeue of this record got as far as queuing the task: only the poison record is left to delete.
  const current = await readExecution(executions, executionId);
  const redrive = currentRedrive(current);
  if (redrive?.poison_message_id === d.entry.id && redrive.state === "queued") {
    await tool.queue.delete(d.entry);
    return { ...base, result: "finished-earlier-requeue" };
  }
  const { redriveId, record } = await beginRedrive(executions, executionId, {
    poisonMessageId: d.entry.id,
    reason: d.entry.record.reason,
  }, current);
  let text: string;
  if (decoded.kind === "task") {
    const message = decoded.message;
    text = JSON.stringify({
      ...message,
      payload: { ...message.payload, retry_count: 0, redrive_id: redriveId },
    });
  } else {
    text = JSON.stringify({
      ...decoded.message,
      claim_check: { ...decoded.message.claim_check, redrive_id: redriveId },
    });
  }
  if (queueTextBytes(text) > QUEUE_MESSAGE_LIMIT_BYTES) {
    return { ...base, result: "skipped", detail: "the task with its re-drive id no longer fits in one queue message" };
  }
  await taskQueueCreated(ctx.tasks);
  await ctx.tasks.sendMessage(text, { abortSignal: AbortSignal.timeout(30_000) });
  await redriveQueued(executions, executionId, redriveId, record);
  await tool.queue.delete(d.entry);
  return { ...base, result: "requeued" };
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
  const entries = await tool.queue.scan({ leaseSeconds: leaseSeconds(flags) });
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
        await removeSpilledBlobs(tool, c);
        await tool.queue.delete(c.entry);
        deleted++;
      }
    }
  } finally {
    await tool.queue.release(keep);
  }
  const rows = chosen.map(row);
  if (flags.json) {
    io.stdout(JSON.stringify({ dry_run: Boolean(flags["dry-run"]), deleted, records: rows }, null, 2) + "\n");
  } else if (flags["dry-run"]) io.stdout(`dry run: ${rows.length} record(s) would be deleted\n`);
  else io.stdout(`${deleted} record(s) deleted from ${tool.queue.queue.name}\n`);
  return EXIT_OK;
}

/** The spilled original and the claim-check payload of a purged record: nothing can re-drive them any more. */
async function removeSpilledBlobs(tool: PoisonTool, d: Described): Promise<void> {
  const blobs: Array<{ container: string; blob: string }> = [];
  if (d.entry.record?.message_blob) blobs.push(d.entry.record.message_blob);
  if (d.original?.decoded.kind === "claim-check") blobs.push(d.original.decoded.message.claim_check);
  for (const b of blobs) {
    await tool.blobService().getContainerClient(b.container).getBlockBlobClient(b.blob).deleteIfExists({
      abortSignal: AbortSignal.timeout(30_000),
    });
  }
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

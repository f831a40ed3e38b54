// `contentflow-worker enqueue`: queue content items for a pipeline by hand, exactly as the source worker does:
// a pending execution record in Cosmos, then a task message on the queue (with the same modules:
// store/execution-records.ts for the records, queue/sender.ts to split or claim-check payloads over 64 KiB).
import process from "node:process";
import { readFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import * as v from "valibot";
import type { QueueClient } from "@azure/storage-queue";
import type { BlobServiceClient } from "@azure/storage-blob";
import type { Command } from "./command.ts";
import { EXIT_OK } from "../model/exit-codes.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { JsonInputError, parseJsonInput } from "./json-input.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { type Content, ContentSchema, nowIso } from "../model/content.ts";
import {
  buildTaskMessage,
  PRIORITIES,
  type Priority,
  QUEUE_MESSAGE_LIMIT_BYTES,
  type TaskMessage,
  TaskMessageSchema,
  type TaskSpec,
} from "../model/task-envelope.ts";
import { claimCheckBlobName, type PlannedTask, planTaskMessages, queueTextBytes, TaskSender } from "../queue/sender.ts";
import { blobServiceClient } from "../executors/blob-clients.ts";
import { type CosmosStore, openCosmosStore } from "../store/cosmos.ts";
import { type DocRead, readDoc } from "../store/read-doc.ts";
import { errorSummary } from "../util/errors.ts";
import { type PipelineDoc, PipelineDocSchema, VaultDocSchema } from "../model/documents.ts";
import { markedText, SendTaskError, sendTaskWithRecord } from "../workers/source/send-task.ts";

const HELP = `Usage: contentflow-worker enqueue --pipeline ID [--vault ID] (--file PATH | --json TEXT | --stdin)
                                 [--priority P] [--skip-executor ID] [--dry-run] [--output text|json]

Queues content items for a pipeline, as the source worker does: writes a pending execution record to Cosmos
(vault_executions, created_by "cli", content: the items' identifiers) and sends a content_processing task message to
the queue. Prints the task_id and the execution_id.

Nothing is refused for its size: items that do not fit in one 64 KiB queue message are split into several task
messages, each with its own execution record (each task's ids are printed); a single item too large on its own
is stored as a claim-check blob in CLAIM_CHECK_CONTAINER_NAME (needs BLOB_STORAGE_CONNECTION_STRING or
BLOB_STORAGE_ACCOUNT_NAME) and the queue message points to it. The output says which happened.

Input: one Content item or a JSON array of them. Minimal items are fine, e.g.
  {"id": {"canonical_id": "https://acct.blob.core.windows.net/docs/a.pdf", "unique_id": "a.pdf"}}

Options:
  --pipeline ID         pipeline document id (must exist); optional when --vault is given (the vault's pipeline)
  --vault ID            vault the execution belongs to (must exist and use the pipeline)
  --file PATH           read the items from a JSON file
  --json TEXT           the items as JSON text
  --stdin               read the items from standard input
  --priority P          low, normal (default), high or critical
  --skip-executor ID    executor the processing worker leaves out (executed_input_executor), e.g. the
                        pipeline's input discovery executor; by default the whole pipeline runs
  --dry-run             validate and print the message (a JSON list of them if split); write and send nothing
  --output FORMAT       text (default) or json (task_id/execution_id are the first task's; "tasks" lists
                        every task with its ids, items, message_bytes and claim_check)
  --env-file PATH       read this .env file instead of ./.env (e.g. /etc/contentflow-worker/env)
  -h, --help            show this help

Exit codes: 0 queued, 1 runtime failure (pipeline or vault missing, Cosmos, queue or blob error; a task whose
message was not sent is marked failed, and tasks of a split sent before the error are named), 2 usage error
(bad options, invalid JSON or invalid items).`;

/** Where an issue is, for a person: `[2].id.unique_id`. */
function issuePath(issue: v.BaseIssue<unknown>, prefix: string): string {
  let out = prefix;
  for (const item of issue.path ?? []) {
    out += typeof item.key === "number" ? `[${item.key}]` : `${out ? "." : ""}${String(item.key)}`;
  }
  return out || "(top level)";
}

/** One Content item or a list of them, validated; UsageError listing every problem with its path. */
export function parseContentItems(value: unknown): Content[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new UsageError("the input is an empty list: give at least one content item");
  if (!Array.isArray(value) && (typeof value !== "object" || value === null)) {
    throw new UsageError("the input must be a content item (a JSON object with an 'id') or a list of them");
  }
  const problems: string[] = [];
  const items: Content[] = [];
  list.forEach((raw, index) => {
    const result = v.safeParse(ContentSchema, raw);
    if (result.success) items.push(result.output);
    else {
      for (const issue of result.issues) {
        problems.push(`${issuePath(issue, Array.isArray(value) ? `[${index}]` : "")}: ${issue.message}`);
      }
    }
  });
  if (problems.length) {
    const shown = problems.slice(0, 10);
    if (problems.length > shown.length) shown.push(`… and ${problems.length - shown.length} more`);
    throw new UsageError(`invalid content item(s): ${shown.join("; ")}`);
  }
  return items;
}

/** The queue message for `spec`, validated against the contract the processing worker reads. */
function checkedTaskMessage(spec: TaskSpec): TaskMessage {
  const message = buildTaskMessage(spec);
  const checked = v.safeParse(TaskMessageSchema, message);
  if (!checked.success) {
    throw new Error(`built an invalid task message: ${checked.issues.map((i) => issuePath(i, "")).join(", ")}`);
  }
  return checked.output;
}

/** `created_by` / `source_worker_id` of the execution records this command writes. */
export const CLI_WORKER_ID = "cli";

export interface EnqueueRequest {
  pipelineId?: string;
  vaultId?: string;
  items: Content[];
  priority: Priority;
  skipExecutor?: string;
  dryRun: boolean;
}

/** One task message (with its own execution record) of an enqueue. */
export interface EnqueuedTask {
  task_id: string;
  execution_id: string;
  items: number;
  /** Size of the task message as the queue counts it (for a claim-check task: the size of the blob's text). */
  message_bytes: number;
  /** Set when the task was (or, for a dry run, would be) stored as a claim-check blob. */
  claim_check?: { container: string; blob: string };
  message_id?: string;
  message: TaskMessage;
}

export interface EnqueueResult {
  /** The first task's ids (the only task unless the items were split). */
  task_id: string;
  execution_id: string;
  pipeline_id: string;
  pipeline_name: string;
  vault_id: string | null;
  items: number;
  queue: string;
  /** Size of all the items as ONE task message; over `limit_bytes` they were split or claim-checked. */
  message_bytes: number;
  limit_bytes: number;
  message_id?: string;
  dry_run: boolean;
  /** The first task's message. */
  message: TaskMessage;
  tasks: EnqueuedTask[];
}

/** A failure worth exit code 1 with a one-line message (missing documents, Azure errors). */
export class EnqueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnqueueError";
  }
}

/** The document, validated; a Cosmos error becomes an EnqueueError naming what was read. */
async function readChecked<S extends v.GenericSchema>(
  store: CosmosStore,
  container: "pipelines" | "vaults",
  id: string,
  schema: S,
): Promise<DocRead<v.InferOutput<S>>> {
  try {
    return await readDoc(store[container], id, schema);
  } catch (err) {
    throw new EnqueueError(`cannot read ${container.slice(0, -1)} '${id}' from Cosmos: ${errorSummary(err)}`);
  }
}

async function resolvePipeline(
  store: CosmosStore,
  config: Config,
  req: EnqueueRequest,
): Promise<{ pipeline: PipelineDoc; vaultId: string | null }> {
  let pipelineId = req.pipelineId;
  let vaultId: string | null = null;
  if (req.vaultId) {
    const vault = await readChecked(store, "vaults", req.vaultId, VaultDocSchema);
    if (vault.kind === "not-found") {
      throw new EnqueueError(
        `vault '${req.vaultId}' not found in container '${config.COSMOS_DB_CONTAINER_VAULTS}' of database '${config.COSMOS_DB_NAME}'`,
      );
    }
    if (vault.kind === "malformed") throw new EnqueueError(`vault '${req.vaultId}' is malformed: ${vault.problem}`);
    if (pipelineId && vault.doc.pipeline_id !== pipelineId) {
      throw new EnqueueError(
        `vault '${req.vaultId}' belongs to pipeline '${vault.doc.pipeline_id}', not '${pipelineId}'`,
      );
    }
    pipelineId = vault.doc.pipeline_id;
    vaultId = vault.doc.id;
  }
  if (!pipelineId) throw new UsageError("--pipeline is required (or --vault, to use the vault's pipeline)");
  const pipeline = await readChecked(store, "pipelines", pipelineId, PipelineDocSchema);
  if (pipeline.kind === "not-found") {
    throw new EnqueueError(
      `pipeline '${pipelineId}' not found in container '${config.COSMOS_DB_CONTAINER_PIPELINES}' of database '${config.COSMOS_DB_NAME}'`,
    );
  }
  if (pipeline.kind === "malformed") {
    throw new EnqueueError(`pipeline '${pipelineId}' is malformed: ${pipeline.problem}`);
  }
  return { pipeline: pipeline.doc, vaultId };
}

export interface EnqueueDeps {
  store?: CosmosStore;
  queue?: QueueClient;
  /** For claim-check blobs; by default from BLOB_STORAGE_CONNECTION_STRING / BLOB_STORAGE_ACCOUNT_NAME. */
  blobService?: BlobServiceClient;
}

/** `; already queued: …` for an error after some tasks of a split were sent (so nobody enqueues them twice). */
function queuedSoFar(done: EnqueuedTask[], total: number): string {
  if (total <= 1) return "";
  const sent = done.map((t) => `${t.task_id} (${t.execution_id}, ${t.items} item(s))`).join(", ");
  const left = total - done.length;
  return done.length
    ? `; ${done.length} of ${total} tasks were queued before it: ${sent}; the other ${left} were not sent`
    : `; none of the ${total} tasks was queued`;
}

/**
 * Validates, then for each task message (the items are split over several when one message would exceed the
 * 64 KiB queue limit; a single item too large on its own goes to a claim-check blob — src/queue/sender.ts):
 * writes its pending execution record, then sends it. Nothing is written for a dry run.
 */
export async function enqueueTask(config: Config, req: EnqueueRequest, deps: EnqueueDeps = {}): Promise<EnqueueResult> {
  const store = deps.store ?? (await openCosmosStore(config));
  try {
    const { pipeline, vaultId } = await resolvePipeline(store, config, req);
    const createdAt = nowIso();
    const spec: Omit<TaskSpec, "items"> = {
      pipelineId: pipeline.id,
      pipelineName: pipeline.name ?? "",
      vaultId,
      priority: req.priority,
      maxRetries: config.MAX_TASK_RETRIES,
      executedInputExecutor: req.skipExecutor ?? null,
      createdAt,
    };
    const build = (items: Content[]) => checkedTaskMessage({ ...spec, items });
    const plan = planTaskMessages(req.items, build);
    const claimCheckOf = (p: PlannedTask) =>
      p.claimCheck ? { container: config.CLAIM_CHECK_CONTAINER_NAME, blob: claimCheckBlobName(p.message) } : undefined;
    const tasks: EnqueuedTask[] = plan.map((p) => ({
      task_id: p.message.payload.task_id,
      execution_id: p.message.payload.execution_id,
      items: p.message.payload.content.length,
      message_bytes: p.bytes,
      ...(p.claimCheck ? { claim_check: claimCheckOf(p) } : {}),
      message: p.message,
    }));
    let blobService = deps.blobService;
    if (!blobService && plan.some((p) => p.claimCheck)) {
      try {
        blobService = blobServiceClient(config);
      } catch (err) {
        throw new EnqueueError(
          `an item is too large for a queue message on its own and must go to a claim-check blob, ` +
            `but blob storage is not configured: ${(err as Error).message.split(":")[0]} ` +
            `(set BLOB_STORAGE_CONNECTION_STRING or BLOB_STORAGE_ACCOUNT_NAME)`,
        );
      }
    }
    const sender = new TaskSender(config, { queue: deps.queue, blobService });
    const result: EnqueueResult = {
      task_id: tasks[0].task_id,
      execution_id: tasks[0].execution_id,
      pipeline_id: pipeline.id,
      pipeline_name: spec.pipelineName,
      vault_id: vaultId,
      items: req.items.length,
      queue: sender.queueName,
      message_bytes: plan.length === 1 ? plan[0].bytes : queueTextBytes(JSON.stringify(build(req.items))),
      limit_bytes: QUEUE_MESSAGE_LIMIT_BYTES,
      dry_run: req.dryRun,
      message: tasks[0].message,
      tasks,
    };
    if (req.dryRun) return result;

    const done: EnqueuedTask[] = [];
    const sendDeps = {
      executions: store.executions,
      sender,
      workerId: CLI_WORKER_ID,
      claimCheckContainer: config.CLAIM_CHECK_CONTAINER_NAME,
    };
    for (const [i, planned] of plan.entries()) {
      const task = tasks[i];
      try {
        task.message_id = (await sendTaskWithRecord(sendDeps, planned)).messageId;
      } catch (err) {
        if (!(err instanceof SendTaskError)) throw err;
        const what = err.step === "record"
          ? `cannot create execution record '${task.execution_id}' in Cosmos: ${err.detail}`
          : `cannot send the task to queue '${sender.queueName}': ${err.detail} (execution ${task.execution_id} ${
            markedText(err.marked!)
          })`;
        throw new EnqueueError(what + queuedSoFar(done, plan.length));
      }
      done.push(task);
    }
    result.message_id = tasks[0].message_id;
    return result;
  } finally {
    if (!deps.store) store.close();
  }
}

export interface EnqueueIO {
  loadConfig(envFile?: string): Promise<Config>;
  readStdin(): Promise<string>;
  readFile(path: string): string;
  stdout(text: string): void;
  stderr(text: string): void;
}

const processIO: EnqueueIO = {
  loadConfig: async (envFile) => (await loadEffectiveConfig(envFile)).config,
  readStdin: async () => {
    const chunks: Uint8Array[] = [];
    for await (const chunk of process.stdin) {
      chunks.push(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
    }
    return Buffer.concat(chunks).toString("utf8");
  },
  readFile: (path) => readFileSync(path, "utf8"),
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
};

async function readItems(flags: Record<string, string | boolean | undefined>, io: EnqueueIO): Promise<Content[]> {
  const sources = ["file", "json", "stdin"].filter((f) => flags[f] !== undefined && flags[f] !== false);
  if (sources.length !== 1) {
    throw new UsageError(
      sources.length === 0
        ? "give the content items with --file PATH, --json TEXT or --stdin"
        : `use only one of --file, --json and --stdin (got ${sources.map((s) => `--${s}`).join(", ")})`,
    );
  }
  let text: string;
  let what: string;
  if (flags.file !== undefined) {
    what = `--file ${flags.file}`;
    try {
      text = io.readFile(String(flags.file));
    } catch (err) {
      throw new UsageError(
        `cannot read --file ${flags.file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
      );
    }
  } else if (flags.json !== undefined) {
    what = "--json";
    text = String(flags.json);
  } else {
    what = "--stdin";
    text = await io.readStdin();
  }
  let value: unknown;
  try {
    value = parseJsonInput(text, what);
  } catch (err) {
    if (err instanceof JsonInputError) throw new UsageError(err.message);
    throw err;
  }
  return parseContentItems(value);
}

function claimCheckText(task: EnqueuedTask): string {
  return `claim-check blob ${task.claim_check!.container}/${task.claim_check!.blob}`;
}

/** After the `queued …` line: what the size limit made of the items, and each task's ids. */
function taskLines(result: EnqueueResult): string {
  const ids = (t: EnqueuedTask) => `task_id: ${t.task_id}\nexecution_id: ${t.execution_id}\n`;
  const [first] = result.tasks;
  const n = result.tasks.length;
  if (n === 1) {
    const note = first.claim_check
      ? `the task message is ${first.message_bytes} bytes, over the ${result.limit_bytes}-byte queue limit: ` +
        `stored as ${claimCheckText(first)}; the queue message points to it\n`
      : "";
    return note + ids(first);
  }
  let out = `the items are ${result.message_bytes} bytes as one message, over the ${result.limit_bytes}-byte queue ` +
    `limit: split into ${n} task messages, each with its own execution record\n`;
  result.tasks.forEach((t, i) => {
    out += `task ${i + 1} of ${n}: ${t.items} item(s), ${t.message_bytes} bytes` +
      `${t.claim_check ? `, stored as ${claimCheckText(t)}` : ""}\n${ids(t)}`;
  });
  return out;
}

function dryRunLine(result: EnqueueResult): string {
  const [first] = result.tasks;
  const n = result.tasks.length;
  if (n === 1) {
    return `dry run: task ${first.task_id} (${first.items} item(s), ${first.message_bytes} bytes) is valid` +
      (first.claim_check
        ? `; over the ${result.limit_bytes}-byte queue limit, it would be stored as ${claimCheckText(first)}`
        : "");
  }
  const claimChecked = result.tasks.filter((t) => t.claim_check).length;
  return `dry run: ${result.items} item(s) (${result.message_bytes} bytes as one message) are valid; over the ` +
    `${result.limit_bytes}-byte queue limit, they would be split into ${n} task messages ` +
    `(${result.tasks.map((t) => t.items).join(" + ")} items)` +
    (claimChecked ? `, ${claimChecked} of them stored as claim-check blobs` : "");
}

export async function runEnqueue(argv: string[], io: EnqueueIO = processIO): Promise<number> {
  const { flags } = parseArgs(argv, {
    pipeline: "string",
    vault: "string",
    file: "string",
    json: "string",
    stdin: "boolean",
    priority: "string",
    "skip-executor": "string",
    "dry-run": "boolean",
    output: "string",
    "env-file": "string",
  });
  const output = (flags.output as string | undefined) ?? "text";
  if (output !== "text" && output !== "json") throw new UsageError(`--output must be text or json, got '${output}'`);
  const priority = (flags.priority as string | undefined) ?? "normal";
  if (!(PRIORITIES as readonly string[]).includes(priority)) {
    throw new UsageError(`--priority must be one of ${PRIORITIES.join(", ")}, got '${priority}'`);
  }
  if (!flags.pipeline && !flags.vault) {
    throw new UsageError("--pipeline is required (or --vault, to use the vault's pipeline)");
  }
  const items = await readItems(flags, io);

  const config = await io.loadConfig(flags["env-file"] as string | undefined);
  requireConnectionSettings(config);
  let result: EnqueueResult;
  try {
    result = await enqueueTask(config, {
      pipelineId: flags.pipeline as string | undefined,
      vaultId: flags.vault as string | undefined,
      items,
      priority: priority as Priority,
      skipExecutor: flags["skip-executor"] as string | undefined,
      dryRun: flags["dry-run"] === true,
    });
  } catch (err) {
    if (err instanceof EnqueueError) {
      io.stderr(`contentflow-worker enqueue: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
  if (output === "json") {
    // The messages themselves are only printed for dry runs.
    const { message, tasks, ...summary } = result;
    const listed = tasks.map(({ message: m, ...t }) => (result.dry_run ? { ...t, message: m } : t));
    io.stdout(
      JSON.stringify({ ...summary, ...(result.dry_run ? { message } : {}), tasks: listed }, null, 2) + "\n",
    );
  } else if (result.dry_run) {
    const messages = result.tasks.map((t) => t.message);
    io.stdout(JSON.stringify(messages.length === 1 ? messages[0] : messages, null, 2) + "\n");
    io.stderr(`${dryRunLine(result)}; nothing written or sent\n`);
  } else {
    io.stdout(
      `queued ${result.items} item(s) for pipeline ${result.pipeline_id}` +
        `${result.pipeline_name ? ` (${result.pipeline_name})` : ""} on queue ${result.queue}\n` +
        taskLines(result),
    );
  }
  return EXIT_OK;
}

export const enqueueCommand: Command = {
  name: "enqueue",
  summary: "Queue content items for a pipeline (pending execution record + task message)",
  help: HELP,
  run: (argv) => runEnqueue(argv),
};

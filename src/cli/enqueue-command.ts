// `contentflow-worker enqueue`: queue content items for a pipeline by hand, exactly as the source worker does:
// a pending execution record in Cosmos, then a task message on the queue.
import process from "node:process";
import { readFileSync } from "node:fs";
import { Buffer } from "node:buffer";
import * as v from "valibot";
import type { QueueClient } from "@azure/storage-queue";
import { type Command, EXIT_OK } from "./command.ts";
import { parseArgs, UsageError } from "./args.ts";
import { loadEffectiveConfig } from "./load-effective-config.ts";
import { JsonInputError, parseJsonInput } from "./json-input.ts";
import { requireConnectionSettings } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { type Content, ContentSchema, nowIso } from "../pipeline/content.ts";
import { PRIORITIES, QUEUE_MESSAGE_LIMIT_BYTES, type TaskMessage, TaskMessageSchema } from "../queue/envelope.ts";
import { taskQueues } from "../queue/clients.ts";
import { cosmosStatus, type CosmosStore, openCosmosStore } from "../store/cosmos.ts";
import {
  type ExecutionDoc,
  ExecutionDocSchema,
  newId,
  type PipelineDoc,
  PipelineDocSchema,
  VaultDocSchema,
} from "../store/documents.ts";

type Priority = (typeof PRIORITIES)[number];

const HELP = `Usage: contentflow-worker enqueue --pipeline ID [--vault ID] (--file PATH | --json TEXT | --stdin)
                                 [--priority P] [--skip-executor ID] [--dry-run] [--output text|json]

Queues content items for a pipeline, as the source worker does: writes a pending execution record to Cosmos
(vault_executions, created_by "cli") and sends a content_processing task message to the queue. Prints the
task_id and the execution_id.

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
  --dry-run             validate and print the message; write and send nothing
  --output FORMAT       text (default) or json
  --env-file PATH       read this .env file instead of ./.env (e.g. /etc/contentflow-worker/env)
  -h, --help            show this help

Exit codes: 0 queued, 1 runtime failure (pipeline or vault missing, Cosmos or queue error),
2 usage error (bad options, invalid JSON or invalid items).`;

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

export interface TaskSpec {
  pipelineId: string;
  pipelineName: string;
  vaultId: string | null;
  items: Content[];
  priority: Priority;
  maxRetries: number;
  skipExecutor: string | null;
}

/** The queue message for `spec`, validated against the contract the processing worker reads. */
export function buildTaskMessage(spec: TaskSpec, createdAt = nowIso()): TaskMessage {
  const message = {
    task_type: "content_processing" as const,
    payload: {
      task_id: newId("task"),
      task_type: "content_processing" as const,
      priority: spec.priority,
      pipeline_id: spec.pipelineId,
      pipeline_name: spec.pipelineName,
      execution_id: newId("exec"),
      vault_id: spec.vaultId,
      content: spec.items,
      executed_input_executor: spec.skipExecutor,
      created_at: createdAt,
      retry_count: 0,
      max_retries: spec.maxRetries,
    },
  };
  const checked = v.safeParse(TaskMessageSchema, message);
  if (!checked.success) {
    throw new Error(`built an invalid task message: ${checked.issues.map((i) => issuePath(i, "")).join(", ")}`);
  }
  return checked.output;
}

/** The pending execution record (vault_executions) for a task, as the source worker writes it. */
export function buildExecutionRecord(message: TaskMessage): ExecutionDoc {
  const task = message.payload;
  const n = task.content.length;
  return v.parse(ExecutionDocSchema, {
    id: task.execution_id,
    pipeline_id: task.pipeline_id,
    pipeline_name: task.pipeline_name,
    vault_id: task.vault_id ?? null,
    status: "pending",
    status_message: `Task queued for processing with input content of size ${n}`,
    task_id: task.task_id,
    source_worker_id: null,
    content: task.content,
    number_of_items: n,
    created_at: task.created_at,
    created_by: "cli",
    updated_at: task.created_at,
    started_at: null,
    completed_at: null,
    error: null,
    executor_outputs: {},
    events: [],
  });
}

export interface EnqueueRequest {
  pipelineId?: string;
  vaultId?: string;
  items: Content[];
  priority: Priority;
  skipExecutor?: string;
  dryRun: boolean;
}

export interface EnqueueResult {
  task_id: string;
  execution_id: string;
  pipeline_id: string;
  pipeline_name: string;
  vault_id: string | null;
  items: number;
  queue: string;
  message_bytes: number;
  message_id?: string;
  dry_run: boolean;
  message: TaskMessage;
}

/** A failure worth exit code 1 with a one-line message (missing documents, Azure errors). */
export class EnqueueError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "EnqueueError";
  }
}

function describeError(err: unknown): string {
  const e = err as { message?: string; code?: unknown };
  const status = cosmosStatus(err);
  return `${e?.message?.split("\n")[0] ?? String(err)}${status !== undefined ? ` (status ${status})` : ""}`;
}

async function readDoc(store: CosmosStore, container: "pipelines" | "vaults", id: string): Promise<unknown> {
  try {
    const { resource } = await store[container].item(id, id).read();
    return resource;
  } catch (err) {
    if (cosmosStatus(err) === 404) return undefined;
    throw new EnqueueError(`cannot read ${container.slice(0, -1)} '${id}' from Cosmos: ${describeError(err)}`);
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
    const raw = await readDoc(store, "vaults", req.vaultId);
    if (raw === undefined) {
      throw new EnqueueError(
        `vault '${req.vaultId}' not found in container '${config.COSMOS_DB_CONTAINER_VAULTS}' of database '${config.COSMOS_DB_NAME}'`,
      );
    }
    const vault = v.safeParse(VaultDocSchema, raw);
    if (!vault.success) throw new EnqueueError(`vault '${req.vaultId}' is malformed: ${vault.issues[0].message}`);
    if (pipelineId && vault.output.pipeline_id !== pipelineId) {
      throw new EnqueueError(
        `vault '${req.vaultId}' belongs to pipeline '${vault.output.pipeline_id}', not '${pipelineId}'`,
      );
    }
    pipelineId = vault.output.pipeline_id;
    vaultId = vault.output.id;
  }
  if (!pipelineId) throw new UsageError("--pipeline is required (or --vault, to use the vault's pipeline)");
  const raw = await readDoc(store, "pipelines", pipelineId);
  if (raw === undefined) {
    throw new EnqueueError(
      `pipeline '${pipelineId}' not found in container '${config.COSMOS_DB_CONTAINER_PIPELINES}' of database '${config.COSMOS_DB_NAME}'`,
    );
  }
  const pipeline = v.safeParse(PipelineDocSchema, raw);
  if (!pipeline.success) {
    throw new EnqueueError(
      `pipeline '${pipelineId}' is malformed: ${pipeline.issues.map((i) => i.message).join("; ")}`,
    );
  }
  return { pipeline: pipeline.output, vaultId };
}

function isQueueNotFound(err: unknown): boolean {
  const e = err as { statusCode?: number; code?: string };
  return e?.statusCode === 404 || e?.code === "QueueNotFound";
}

/**
 * Sends the message as plain JSON text, creating the queue if it does not exist yet.
 * Payloads over the 64 KiB queue limit are refused before anything is written (see enqueueTask).
 */
async function sendTaskMessage(queue: QueueClient, text: string): Promise<string> {
  try {
    return (await queue.sendMessage(text)).messageId;
  } catch (err) {
    if (!isQueueNotFound(err)) throw err;
    await queue.createIfNotExists();
    return (await queue.sendMessage(text)).messageId;
  }
}

export interface EnqueueDeps {
  store?: CosmosStore;
  queue?: QueueClient;
}

/** Validates, writes the pending execution record, sends the task. Nothing is written for a dry run. */
export async function enqueueTask(config: Config, req: EnqueueRequest, deps: EnqueueDeps = {}): Promise<EnqueueResult> {
  const store = deps.store ?? (await openCosmosStore(config));
  try {
    const { pipeline, vaultId } = await resolvePipeline(store, config, req);
    const message = buildTaskMessage({
      pipelineId: pipeline.id,
      pipelineName: pipeline.name ?? "",
      vaultId,
      items: req.items,
      priority: req.priority,
      maxRetries: config.MAX_TASK_RETRIES,
      skipExecutor: req.skipExecutor ?? null,
    });
    const text = JSON.stringify(message);
    const bytes = new TextEncoder().encode(text).length;
    const queue = deps.queue ?? taskQueues(config).tasks;
    const result: EnqueueResult = {
      task_id: message.payload.task_id,
      execution_id: message.payload.execution_id,
      pipeline_id: message.payload.pipeline_id,
      pipeline_name: message.payload.pipeline_name,
      vault_id: vaultId,
      items: req.items.length,
      queue: queue.name,
      message_bytes: bytes,
      dry_run: req.dryRun,
      message,
    };
    if (bytes > QUEUE_MESSAGE_LIMIT_BYTES) {
      throw new EnqueueError(
        `the task message is ${bytes} bytes, over the ${QUEUE_MESSAGE_LIMIT_BYTES}-byte queue limit: ` +
          `enqueue the ${req.items.length} items in smaller batches (this command does not write claim-check blobs)`,
      );
    }
    if (req.dryRun) return result;

    const record = buildExecutionRecord(message);
    try {
      await store.executions.items.create(record);
    } catch (err) {
      throw new EnqueueError(`cannot create execution record '${record.id}' in Cosmos: ${describeError(err)}`);
    }
    try {
      result.message_id = await sendTaskMessage(queue, text);
    } catch (err) {
      const reason = describeError(err);
      // Like the source worker: an execution whose task never reached the queue is marked failed, not left pending.
      const failedAt = nowIso();
      await store.executions.items
        .upsert({
          ...record,
          status: "failed",
          status_message: "Execution failed. View error for details.",
          error: `failed to send the task to queue '${queue.name}': ${reason}`,
          updated_at: failedAt,
          completed_at: failedAt,
        })
        .catch(() => {});
      throw new EnqueueError(
        `cannot send the task to queue '${queue.name}': ${reason} (execution ${record.id} marked failed)`,
      );
    }
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
    const { message, ...summary } = result;
    io.stdout(JSON.stringify(result.dry_run ? { ...summary, message } : summary, null, 2) + "\n");
  } else if (result.dry_run) {
    io.stdout(JSON.stringify(result.message, null, 2) + "\n");
    io.stderr(
      `dry run: task ${result.task_id} (${result.items} item(s), ${result.message_bytes} bytes) is valid; nothing written or sent\n`,
    );
  } else {
    io.stdout(
      `queued ${result.items} item(s) for pipeline ${result.pipeline_id}` +
        `${result.pipeline_name ? ` (${result.pipeline_name})` : ""} on queue ${result.queue}\n` +
        `task_id: ${result.task_id}\nexecution_id: ${result.execution_id}\n`,
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

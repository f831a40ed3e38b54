// Pieces shared by the benchmark scripts: a seeded Cosmos database, task preloading, the bare SDK loop that sets
// the throughput ceiling, and a handle on a running compiled binary (its API, counters, children, exit).
import { type ChildProcess, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { QueueClient } from "@azure/storage-queue";
import { CosmosClient, type Database } from "@azure/cosmos";
import type { Emulators } from "./emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";
import { pendingExecutionDoc } from "../../src/store/execution-records.ts";
import type { TaskMessage } from "../../src/model/task-envelope.ts";
import type { ChildSnapshot } from "../../src/supervisor/supervisor.ts";

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export const PIPELINE_ID = "bench-pass-through";
const PIPELINE_YAML = `pipeline:
  name: bench-pass-through
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: bench}}
    - {id: pass, type: pass_through}
  execution_sequence: [discover, pass]
`;

/** A whole-number flag `--name N` / `--name=N`; exits 2 with a message when it is not one. */
export function intFlag(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  const raw = i >= 0 ? args[i + 1] : args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  if (raw === undefined) return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) {
    console.error(`${name} needs a whole number, got "${raw}"`);
    process.exit(2);
  }
  return n;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** Prints a progress line on stderr (numbers go to stdout). */
export function progress(text: string): void {
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${text}\n`);
}

export async function benchConfig(emu: Emulators, overrides: Record<string, string> = {}): Promise<Config> {
  return (await loadConfig({ env: { ...emu.env, ...overrides }, dotenvPath: false })).config;
}

/** The Cosmos database the binary under test uses, seeded with the pass-through pipeline. */
export interface BenchStore {
  db: Database;
  config: Config;
}

/** Seeds `databaseName` (default: the configured one). Each measurement gets a database of its own, because the
 * Cosmos emulator slows down as a container grows. */
export async function seedCosmos(emu: Emulators, databaseName?: string): Promise<BenchStore> {
  const config = await benchConfig(emu, databaseName ? { COSMOS_DB_NAME: databaseName } : {});
  const client = new CosmosClient({
    endpoint: emu.cosmosEndpoint,
    key: emu.env.COSMOS_DB_KEY,
    connectionPolicy: { enableEndpointDiscovery: false },
  });
  await ensureCosmosContainers(client, config);
  const db = client.database(config.COSMOS_DB_NAME);
  await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({
    id: PIPELINE_ID,
    name: PIPELINE_ID,
    yaml: PIPELINE_YAML,
    enabled: true,
  });
  return { db, config };
}

/** A vault of its own per measurement, so its executions can be read back by vault_id. */
export async function createVault({ db, config }: BenchStore, id: string): Promise<void> {
  await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.upsert({
    id,
    name: id,
    pipeline_id: PIPELINE_ID,
    enabled: true,
    save_execution_output: false,
  });
}

export function benchTask(vaultId: string, n: number, pipelineId = PIPELINE_ID): TaskMessage {
  const key = `${vaultId}-${n}`;
  return {
    task_type: "content_processing",
    payload: {
      task_id: `task_${key}`,
      task_type: "content_processing",
      priority: "normal",
      pipeline_id: pipelineId,
      pipeline_name: pipelineId,
      execution_id: `exec_${key}`,
      vault_id: vaultId,
      content: [{
        id: {
          canonical_id: `https://devstoreaccount1.blob.core.windows.net/bench/${key}.txt`,
          unique_id: key,
          filename: `${key}.txt`,
        },
        data: { title: `item ${n}`, text: "x".repeat(200) },
        summary_data: {},
        executor_logs: [],
      }],
      executed_input_executor: "discover",
      created_at: new Date().toISOString(),
      retry_count: 0,
      max_retries: 3,
    },
  } as TaskMessage;
}

/** Runs `fn` over `items` with at most `parallel` at once. */
export async function eachLimited<T>(items: T[], parallel: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: Math.min(parallel, items.length) }, async () => {
    while (next < items.length) await fn(items[next++]);
  }));
}

/** Writes the pending execution records (as a source worker does) and sends the messages. */
export async function preloadTasks(
  { db, config }: BenchStore,
  queue: QueueClient,
  tasks: TaskMessage[],
): Promise<void> {
  const executions = db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  await eachLimited(tasks, 16, (t) => executions.items.create(pendingExecutionDoc(t, { workerId: "bench" })));
  await eachLimited(tasks, 16, (t) => queue.sendMessage(JSON.stringify(t)));
}

/** Fills a queue with `n` plain messages of the task size, for the SDK loop. */
export async function preloadPlain(queue: QueueClient, n: number, vaultId: string): Promise<void> {
  const texts = Array.from({ length: n }, (_, i) => JSON.stringify(benchTask(vaultId, i)));
  await eachLimited(texts, 16, (t) => queue.sendMessage(t));
}

/**
 * The ceiling: `loops` loops, each receiving up to 32 messages and deleting them all in parallel, until `n` are
 * deleted; `work` (if given) runs for each message before its delete. Returns messages per second.
 */
export async function sdkLoop(
  queue: QueueClient,
  loops: number,
  n: number,
  work?: (text: string) => Promise<unknown>,
): Promise<number> {
  let deleted = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: loops }, async () => {
    while (deleted < n) {
      const { receivedMessageItems } = await queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 });
      if (receivedMessageItems.length === 0) {
        await sleep(20);
        continue;
      }
      await Promise.all(receivedMessageItems.map(async (m) => {
        if (work) await work(m.messageText);
        await queue.deleteMessage(m.messageId, m.popReceipt);
      }));
      deleted += receivedMessageItems.length;
    }
  }));
  return n / ((performance.now() - t0) / 1000);
}

/**
 * The Cosmos calls a processing worker makes for one task, by hand with the SDK and nothing else: read the
 * execution, pipeline and vault together, replace the execution as running, then as completed (If-Match).
 */
export async function bareRecordCalls({ db, config }: BenchStore, text: string): Promise<void> {
  const task = JSON.parse(text) as TaskMessage;
  const { execution_id: id, vault_id: vault } = task.payload;
  const executions = db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  const [read] = await Promise.all([
    executions.item(id, id).read(),
    db.container(config.COSMOS_DB_CONTAINER_PIPELINES).item(PIPELINE_ID, PIPELINE_ID).read(),
    db.container(config.COSMOS_DB_CONTAINER_VAULTS).item(vault!, vault!).read(),
  ]);
  const doc = read.resource!;
  const running = await executions.item(id, id).replace(
    { ...doc, status: "running", started_at: new Date().toISOString() },
    { accessCondition: { type: "IfMatch", condition: doc._etag } },
  );
  await executions.item(id, id).replace(
    { ...running.resource!, status: "completed", completed_at: new Date().toISOString() },
    { accessCondition: { type: "IfMatch", condition: running.resource!._etag } },
  );
}

export interface ExecutionTimes {
  id: string;
  status: string;
  created_at: string;
  started_at: string | null;
  completed_at: string | null;
  processing_worker_id?: string;
  error?: string | null;
}

export async function executionsOfVault({ db, config }: BenchStore, vaultId: string): Promise<ExecutionTimes[]> {
  const { resources } = await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query<ExecutionTimes>({
    query:
      "SELECT c.id, c.status, c.error, c.created_at, c.started_at, c.completed_at, c.processing_worker_id FROM c WHERE c.vault_id = @v",
    parameters: [{ name: "@v", value: vaultId }],
  }).fetchAll();
  return resources;
}

export async function queueLength(queue: QueueClient): Promise<number> {
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

export function rssMiB(pid: number): number | undefined {
  try {
    const kb = /VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
    return kb ? Math.round(Number(kb) / 1024 * 10) / 10 : undefined;
  } catch {
    return undefined;
  }
}

export function median(values: number[]): number {
  const s = [...values].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
}

export function percentile(values: number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] : NaN;
}

/** A supervisor started from the compiled binary, with its API on a free port. */
export class BinaryRun {
  readonly lines: string[] = [];
  readonly spawnedAt = performance.now();
  port = 0;
  private readonly exited: Promise<number | null>;

  private constructor(readonly proc: ChildProcess) {
    this.exited = new Promise((r) => proc.once("exit", (code) => r(code)));
    const keep = (l: string) => {
      this.lines.push(l);
      if (this.lines.length > 500) this.lines.splice(0, 100);
      if (!this.port && l.includes('"api listening"')) {
        try {
          this.port = JSON.parse(l).port;
        } catch { /* not JSON */ }
      }
    };
    createInterface({ input: proc.stdout! }).on("line", keep);
    createInterface({ input: proc.stderr! }).on("line", keep);
  }

  /** `detached`: in a process group of its own (its pid is the group id), as a shell runs a foreground command. */
  static async start(
    binary: string,
    env: Record<string, string>,
    opts: { detached?: boolean } = {},
  ): Promise<BinaryRun> {
    const proc = spawn(binary, [], {
      cwd: mkdtempSync(join(tmpdir(), "cfw-bench-")),
      env: { PATH: process.env.PATH ?? "", API_HOST: "127.0.0.1", API_PORT: "0", LOG_LEVEL: "info", ...env },
      stdio: ["ignore", "pipe", "pipe"],
      detached: opts.detached ?? false,
    });
    const run = new BinaryRun(proc);
    const deadline = Date.now() + 30_000;
    while (!run.port) {
      if (proc.exitCode !== null) {
        throw new Error(`binary exited with ${proc.exitCode}:\n${run.lines.slice(-20).join("\n")}`);
      }
      if (Date.now() > deadline) {
        throw new Error(`binary did not report its API port:\n${run.lines.slice(-20).join("\n")}`);
      }
      await sleep(20);
    }
    return run;
  }

  get pid(): number {
    return this.proc.pid!;
  }

  async get(path: string): Promise<Response> {
    return await fetch(`http://127.0.0.1:${this.port}${path}`);
  }

  /** Milliseconds from spawn until /ready answers 200. */
  async waitReady(timeoutMs = 60_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const r = await this.get("/ready").catch(() => undefined);
      await r?.body?.cancel();
      if (r?.status === 200) return performance.now() - this.spawnedAt;
      await sleep(20);
    }
    throw new Error(`not ready after ${timeoutMs} ms:\n${this.lines.slice(-20).join("\n")}`);
  }

  async children(): Promise<ChildSnapshot[]> {
    const status = await (await this.get("/status")).json();
    return Object.values(status.workers as Record<string, { workers: ChildSnapshot[] }>).flatMap((r) => r.workers);
  }

  /** Counters summed over the processing role, as the supervisor aggregates them (heartbeat every 2 s). */
  async processingCounters(): Promise<Record<string, number>> {
    const status = await (await this.get("/status")).json();
    return status.counters?.processing ?? {};
  }

  /** Sends `signal` and returns the milliseconds until the process exited. */
  async stop(signal: NodeJS.Signals = "SIGTERM", timeoutMs = 120_000): Promise<number> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return 0;
    const t0 = performance.now();
    process.kill(this.pid, signal);
    const timer = setTimeout(() => process.kill(this.pid, "SIGKILL"), timeoutMs);
    await this.exited;
    clearTimeout(timer);
    return performance.now() - t0;
  }
}

export function benchQueue(emu: Emulators, name: string): QueueClient {
  return new QueueClient(emu.queueConnectionString, name);
}

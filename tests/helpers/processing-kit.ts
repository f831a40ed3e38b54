// Shared helpers of the queue / executions / processing integration tests: configs against the emulators, worker
// contexts, task messages, test-only executors, and reads with timeouts so a stuck emulator fails a test instead
// of hanging it.
import * as v from "valibot";
import { QueueClient } from "@azure/storage-queue";
import { CosmosClient, type Database } from "@azure/cosmos";
import type { Emulators } from "./emulators.ts";
import { loadConfig, poisonQueueName } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { Logger } from "../../src/log/logger.ts";
import { MemoryReporter, type WorkerContext } from "../../src/model/worker-context.ts";
import { runProcessingWorker } from "../../src/workers/processing/index.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";
import { defaultRegistry, type ExecutorRegistry } from "../../src/pipeline/index.ts";
import type { ExecutorDefinition } from "../../src/executors/types.ts";
import type { Content } from "../../src/model/content.ts";
import { buildTaskMessage, type TaskMessage } from "../../src/model/task-envelope.ts";
import { type PoisonRecord, PoisonRecordSchema } from "../../src/queue/poison.ts";
import { sleep, uniqueName, until, withTimeout } from "./wait.ts";
import { sleepOrAbort } from "../../src/util/sleep.ts";

export { sleep, uniqueName, until, withTimeout };

export const SDK_TIMEOUT_MS = 15_000;
export const timeout = () => ({ abortSignal: AbortSignal.timeout(SDK_TIMEOUT_MS) });

export async function testConfig(emu: Emulators, overrides: Record<string, string> = {}): Promise<Config> {
  const env = {
    ...emu.env,
    STORAGE_WORKER_QUEUE_NAME: uniqueName("tasks"),
    CLAIM_CHECK_CONTAINER_NAME: uniqueName("claims"),
    QUEUE_MIN_POLL_INTERVAL_MS: "50",
    QUEUE_POLL_INTERVAL_SECONDS: "1",
    ...overrides,
  };
  return (await loadConfig({ env, dotenvPath: false })).config;
}

export function testCosmos(emu: Emulators): CosmosClient {
  return new CosmosClient({
    endpoint: emu.cosmosEndpoint,
    key: emu.env.COSMOS_DB_KEY,
    connectionPolicy: { enableEndpointDiscovery: false, requestTimeout: SDK_TIMEOUT_MS },
  });
}

export async function testDatabase(emu: Emulators, config: Config): Promise<Database> {
  const client = testCosmos(emu);
  await withTimeout(ensureCosmosContainers(client, config), SDK_TIMEOUT_MS, "create cosmos containers");
  return client.database(config.COSMOS_DB_NAME);
}

export function queueClients(emu: Emulators, config: Config): { tasks: QueueClient; poison: QueueClient } {
  return {
    tasks: new QueueClient(emu.queueConnectionString, config.STORAGE_WORKER_QUEUE_NAME),
    poison: new QueueClient(emu.queueConnectionString, poisonQueueName(config)),
  };
}

export async function poisonRecords(poison: QueueClient): Promise<PoisonRecord[]> {
  const exists = await poison.exists(timeout());
  if (!exists) return [];
  const peeked = await poison.peekMessages({ numberOfMessages: 32, ...timeout() });
  return peeked.peekedMessageItems.map((m) => v.parse(PoisonRecordSchema, JSON.parse(m.messageText)));
}

export async function readDoc(db: Database, container: string, id: string): Promise<any> {
  const { resource } = await db.container(container).item(id, id).read(timeout());
  return resource;
}

export interface RunningWorker {
  ctx: WorkerContext;
  reporter: MemoryReporter;
  done: Promise<void>;
  /** Starts the drain and waits for the worker to return. */
  stop(): Promise<void>;
}

export function startWorker(config: Config, workerId: string, registry?: ExecutorRegistry): RunningWorker {
  const drain = new AbortController();
  const reporter = new MemoryReporter();
  const ctx: WorkerContext = {
    config,
    logger: new Logger({ role: "processing", worker_id: workerId }),
    role: "processing",
    index: 0,
    workerId,
    drain: drain.signal,
    report: reporter,
  };
  const done = runProcessingWorker(ctx, { registry });
  return {
    ctx,
    reporter,
    done,
    stop: async () => {
      drain.abort(new Error("test finished"));
      await withTimeout(done, 60_000, `worker ${workerId} to stop`);
    },
  };
}

export function contentItem(key: string, data: Record<string, unknown> = {}): Content {
  return {
    id: { canonical_id: `https://acct.blob.core.windows.net/c/${key}`, unique_id: `uid-${key}`, filename: key },
    summary_data: {},
    data,
    executor_logs: [],
  };
}

/** A task message with ids derived from `key` (task_<key>, exec_<key>), as the source worker would send it. */
export function taskMessage(
  key: string,
  opts: { pipelineId: string; vaultId?: string; content?: Content[]; inputExecutor?: string | null },
): TaskMessage {
  return buildTaskMessage({
    taskId: `task_${key}`,
    executionId: `exec_${key}`,
    pipelineId: opts.pipelineId,
    pipelineName: opts.pipelineId,
    vaultId: opts.vaultId ?? null,
    items: opts.content ?? [contentItem(key, { title: "T", drop: 1 })],
    executedInputExecutor: opts.inputExecutor === undefined ? "discover" : opts.inputExecutor,
    maxRetries: 3,
  });
}

/** Calls of the test executors, by executor type and item canonical id. */
export const executorCalls = new Map<string, number>();
function countCall(type: string, items: Content[]): number {
  let n = 0;
  for (const item of items) {
    const key = `${type}:${item.id.canonical_id}`;
    n = (executorCalls.get(key) ?? 0) + 1;
    executorCalls.set(key, n);
  }
  return n;
}
export function callsOf(type: string, key: string): number {
  return executorCalls.get(`${type}:https://acct.blob.core.windows.net/c/${key}`) ?? 0;
}

const waitSettings = v.object({ ms: v.optional(v.number(), 0) });
/** test_wait: waits `ms` (honouring the abort signal), then passes the items on. Counts its calls. */
export const waitExecutor: ExecutorDefinition<typeof waitSettings> = {
  type: "test_wait",
  category: "utility",
  description: "test only: waits, then passes items through",
  settings: waitSettings,
  create: (id, settings) => ({
    id,
    type: "test_wait",
    async process(input, ctx) {
      countCall("test_wait", input);
      await sleepOrAbort(settings.ms, ctx.signal);
      return input;
    },
  }),
};

const flakySettings = v.object({ fail_times: v.optional(v.number(), 1) });
/** test_flaky: fails the first `fail_times` calls per item, then passes items on. */
export const flakyExecutor: ExecutorDefinition<typeof flakySettings> = {
  type: "test_flaky",
  category: "utility",
  description: "test only: fails the first calls",
  settings: flakySettings,
  create: (id, settings) => ({
    id,
    type: "test_flaky",
    async process(input) {
      const call = countCall("test_flaky", input);
      if (call <= settings.fail_times) throw new Error(`flaky failure ${call} of ${settings.fail_times}`);
      return input;
    },
  }),
};

export function testRegistry(): ExecutorRegistry {
  return defaultRegistry()
    .register(waitExecutor as unknown as ExecutorDefinition)
    .register(flakyExecutor as unknown as ExecutorDefinition);
}

// A Cosmos database seeded with a pass-through pipeline, vaults of their own per measurement or test, tasks for it
// (pending execution record + queue message, as a source worker sends them) and reads of their executions. Used by
// the end-to-end tests and the benchmark scripts.
import { QueueClient } from "@azure/storage-queue";
import { CosmosClient, type Database } from "@azure/cosmos";
import type { Emulators } from "./emulators.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { ensureCosmosContainers } from "../../src/store/cosmos.ts";
import { pendingExecutionDoc } from "../../src/store/execution-records.ts";
import { buildTaskMessage, type TaskMessage } from "../../src/model/task-envelope.ts";
import { eachLimited } from "../../src/util/each-limited.ts";

export const PIPELINE_ID = "bench-pass-through";
const PIPELINE_YAML = `pipeline:
  name: bench-pass-through
  executors:
    - {id: discover, type: azure_blob_input_discovery, settings: {blob_storage_account: devstoreaccount1, blob_container_name: bench}}
    - {id: pass, type: pass_through}
  execution_sequence: [discover, pass]
`;

export async function seededConfig(emu: Emulators, overrides: Record<string, string> = {}): Promise<Config> {
  return (await loadConfig({ env: { ...emu.env, ...overrides }, dotenvPath: false })).config;
}

/** The Cosmos database the binary under test uses, seeded with the pass-through pipeline. */
export interface SeededStore {
  db: Database;
  config: Config;
}

/** Seeds `databaseName` (default: the configured one). Each measurement gets a database of its own, because the
 * Cosmos emulator slows down as a container grows. */
export async function seedCosmos(emu: Emulators, databaseName?: string): Promise<SeededStore> {
  const config = await seededConfig(emu, databaseName ? { COSMOS_DB_NAME: databaseName } : {});
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

/** A vault of its own per measurement or test, so its executions can be read back by vault_id. */
export async function createVault(
  { db, config }: SeededStore,
  id: string,
  opts: { pipelineId?: string; saveExecutionOutput?: boolean } = {},
): Promise<void> {
  await db.container(config.COSMOS_DB_CONTAINER_VAULTS).items.upsert({
    id,
    name: id,
    pipeline_id: opts.pipelineId ?? PIPELINE_ID,
    enabled: true,
    save_execution_output: opts.saveExecutionOutput ?? false,
  });
}

/** Writes (or replaces) pipeline `id` with `yaml`. */
export async function upsertPipeline({ db, config }: SeededStore, id: string, yaml: string): Promise<void> {
  await db.container(config.COSMOS_DB_CONTAINER_PIPELINES).items.upsert({ id, name: id, yaml });
}

/** Task `n` of `vaultId`: one item of about 200 characters for the pass-through pipeline (ids from the key). */
export function passThroughTask(vaultId: string, n: number, pipelineId = PIPELINE_ID): TaskMessage {
  const key = `${vaultId}-${n}`;
  return buildTaskMessage({
    taskId: `task_${key}`,
    executionId: `exec_${key}`,
    pipelineId,
    pipelineName: pipelineId,
    vaultId,
    items: [{
      id: {
        canonical_id: `https://devstoreaccount1.blob.core.windows.net/bench/${key}.txt`,
        unique_id: key,
        filename: `${key}.txt`,
      },
      data: { title: `item ${n}`, text: "x".repeat(200) },
      summary_data: {},
      executor_logs: [],
    }],
    executedInputExecutor: "discover",
    maxRetries: 3,
  });
}

/** Writes the pending execution records (as a source worker does) and sends the messages. */
export async function preloadTasks(
  { db, config }: SeededStore,
  queue: QueueClient,
  tasks: TaskMessage[],
  /** Seconds each message stays invisible after its send (0: visible at once). */
  visibilityTimeout = 0,
): Promise<void> {
  const executions = db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS);
  await eachLimited(tasks, 16, (t) => executions.items.create(pendingExecutionDoc(t, { workerId: "bench" })));
  await eachLimited(
    tasks,
    16,
    (t) => queue.sendMessage(JSON.stringify(t), visibilityTimeout ? { visibilityTimeout } : {}),
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

export async function executionsOfVault({ db, config }: SeededStore, vaultId: string): Promise<ExecutionTimes[]> {
  const { resources } = await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query<ExecutionTimes>({
    query:
      "SELECT c.id, c.status, c.error, c.created_at, c.started_at, c.completed_at, c.processing_worker_id FROM c WHERE c.vault_id = @v",
    parameters: [{ name: "@v", value: vaultId }],
  }).fetchAll();
  return resources;
}

/** The execution records of `vaultId` as stored (all fields, output included when the vault saves it). */
// deno-lint-ignore no-explicit-any
export async function executionRecordsOfVault({ db, config }: SeededStore, vaultId: string): Promise<any[]> {
  const { resources } = await db.container(config.COSMOS_DB_CONTAINER_VAULT_EXECUTIONS).items.query({
    query: "SELECT * FROM c WHERE c.vault_id = @v",
    parameters: [{ name: "@v", value: vaultId }],
  }).fetchAll();
  return resources;
}

export async function queueLength(queue: QueueClient): Promise<number> {
  return (await queue.getProperties()).approximateMessagesCount ?? 0;
}

export function namedQueue(emu: Emulators, name: string): QueueClient {
  return new QueueClient(emu.queueConnectionString, name);
}

// Shared helpers of the source-side integration tests (source, leases, sender, discovery, Python interop): configs
// against the emulators, a seeded source (database, discovery pipeline, vault, blobs) per test, worker contexts, blob
// uploads, queue reads — all with timeouts so a stuck emulator fails a test instead of hanging it.
import * as v from "valibot";
import { BlobServiceClient } from "@azure/storage-blob";
import type { QueueClient } from "@azure/storage-queue";
import { type Emulators, startEmulators, type StartOptions } from "./emulators.ts";
import { type CosmosStore, openCosmosStore } from "../../src/store/cosmos.ts";
import { loadConfig } from "../../src/config/load.ts";
import type { Config } from "../../src/config/schema.ts";
import { Logger } from "../../src/log/logger.ts";
import { MemoryReporter, type WorkerContext } from "../../src/model/worker-context.ts";
import { ClaimCheckMessageSchema, type TaskMessage, TaskMessageSchema } from "../../src/model/task-envelope.ts";
import { sleep, uniqueName, withTimeout } from "./wait.ts";

export { sleep, uniqueName, withTimeout };

export async function testConfig(emu: Emulators, overrides: Record<string, string> = {}): Promise<Config> {
  const env = {
    ...emu.env,
    STORAGE_WORKER_QUEUE_NAME: uniqueName("src-q"),
    CLAIM_CHECK_CONTAINER_NAME: uniqueName("claims"),
    ...overrides,
  };
  return (await loadConfig({ env, dotenvPath: false })).config;
}

/** A pipeline of one azure_blob_input_discovery step (id `executorId`) over `container`, with extra `settings`. */
export function discoveryPipelineYaml(
  container: string,
  opts: { executorId?: string; settings?: Record<string, unknown> } = {},
): string {
  const id = opts.executorId ?? "discover";
  const extra = Object.entries(opts.settings ?? {}).map(([k, val]) => `        ${k}: ${JSON.stringify(val)}\n`).join(
    "",
  );
  return `pipeline:
  name: blob-discovery
  executors:
    - id: ${id}
      type: azure_blob_input_discovery
      settings:
        blob_storage_account: devstoreaccount1
        blob_container_name: ${container}
${extra}  execution_sequence: [${id}]
`;
}

/** One test's source: its own database, a discovery pipeline over its own container, an enabled vault of it. */
export interface SeededSource {
  config: Config;
  /** The settings given on top of the emulators' (queue, claim-check container and database names included). */
  overrides: Record<string, string>;
  store: CosmosStore;
  container: string;
  pipelineId: string;
  vaultId: string;
  /** The blobs uploaded, in order. */
  names: string[];
}

export interface SeedOptions {
  /** Starts the names of the container, queue and claim-check container (default "src"). */
  prefix?: string;
  /** The discovery step's id (default "discover"). */
  executorId?: string;
  /** More settings of the discovery step. */
  settings?: Record<string, unknown>;
  /** Settings of the worker on top of the emulators'. */
  overrides?: Record<string, string>;
  /** How many blobs to upload: `<prefix>-0000.txt`, … (default none). */
  blobs?: number;
  /** The blobs' names start with this (default "blob"). */
  blobPrefix?: string;
}

/**
 * The emulators of one test file and the Cosmos stores its tests open: `start` in `before`, `stop` in `after`,
 * `seed` in each test that needs a source of its own.
 */
export class SourceTestBed {
  emu!: Emulators;
  private readonly stores: CosmosStore[] = [];

  async start(opts?: StartOptions): Promise<Emulators> {
    this.emu = await startEmulators(opts);
    return this.emu;
  }

  async stop(): Promise<void> {
    for (const s of this.stores) s.close();
    await this.emu?.stop();
  }

  async seed(opts: SeedOptions = {}): Promise<SeededSource> {
    const prefix = opts.prefix ?? "src";
    const overrides = {
      STORAGE_WORKER_QUEUE_NAME: uniqueName(`${prefix}-q`),
      CLAIM_CHECK_CONTAINER_NAME: uniqueName(`${prefix}-claims`),
      COSMOS_DB_NAME: uniqueName("db"),
      ...opts.overrides,
    };
    const config = await testConfig(this.emu, overrides);
    const store = await withTimeout(openCosmosStore(config), 30_000, "open Cosmos");
    this.stores.push(store);
    const container = uniqueName(prefix);
    await withTimeout(
      blobService(this.emu).getContainerClient(container).createIfNotExists(),
      15_000,
      `create container ${container}`,
    );
    const pipelineId = uniqueName("pipeline");
    const vaultId = uniqueName("vault");
    const yaml = discoveryPipelineYaml(container, { executorId: opts.executorId, settings: opts.settings });
    await store.pipelines.items.upsert({ id: pipelineId, name: "Blob discovery", yaml });
    await store.vaults.items.upsert({ id: vaultId, name: vaultId, pipeline_id: pipelineId, enabled: true });
    const blobPrefix = opts.blobPrefix ?? "blob";
    const names = Array.from({ length: opts.blobs ?? 0 }, (_, i) => `${blobPrefix}-${String(i).padStart(4, "0")}.txt`);
    if (names.length) await uploadBlobs(this.emu, container, names.map((name) => ({ name })));
    return { config, overrides, store, container, pipelineId, vaultId, names };
  }
}

export interface TestContext {
  ctx: WorkerContext;
  reporter: MemoryReporter;
  drain: AbortController;
}

export function testContext(config: Config, workerId: string, index = 0): TestContext {
  const drain = new AbortController();
  const reporter = new MemoryReporter();
  const ctx: WorkerContext = {
    config,
    logger: new Logger({ role: "source", worker_id: workerId }),
    role: "source",
    index,
    workerId,
    drain: drain.signal,
    report: reporter,
  };
  return { ctx, reporter, drain };
}

export function blobService(emu: Emulators): BlobServiceClient {
  return BlobServiceClient.fromConnectionString(emu.blobConnectionString);
}

export async function uploadBlobs(
  emu: Emulators,
  container: string,
  blobs: { name: string; body?: string | Uint8Array; metadata?: Record<string, string>; contentType?: string }[],
): Promise<void> {
  const client = blobService(emu).getContainerClient(container);
  await withTimeout(client.createIfNotExists(), 15_000, `create container ${container}`);
  for (const b of blobs) {
    const body = b.body ?? `content of ${b.name}`;
    await withTimeout(
      client.getBlockBlobClient(b.name).uploadData(typeof body === "string" ? new TextEncoder().encode(body) : body, {
        metadata: b.metadata,
        blobHTTPHeaders: { blobContentType: b.contentType ?? "application/octet-stream" },
      }),
      15_000,
      `upload ${b.name}`,
    );
  }
}

export interface ReceivedTask {
  text: string;
  task?: TaskMessage;
  claimCheck?: v.InferOutput<typeof ClaimCheckMessageSchema>;
}

/** Every message currently on the queue (received and deleted), parsed. */
export async function drainQueue(queue: QueueClient): Promise<ReceivedTask[]> {
  if (!(await withTimeout(queue.exists(), 15_000, "queue exists"))) return [];
  const out: ReceivedTask[] = [];
  for (;;) {
    const { receivedMessageItems } = await withTimeout(
      queue.receiveMessages({ numberOfMessages: 32, visibilityTimeout: 60 }),
      15_000,
      "receive messages",
    );
    if (receivedMessageItems.length === 0) return out;
    for (const m of receivedMessageItems) {
      const json = JSON.parse(m.messageText);
      const task = v.safeParse(TaskMessageSchema, json);
      const claim = v.safeParse(ClaimCheckMessageSchema, json);
      out.push({
        text: m.messageText,
        task: task.success ? task.output : undefined,
        claimCheck: claim.success ? claim.output : undefined,
      });
      await withTimeout(queue.deleteMessage(m.messageId, m.popReceipt), 15_000, "delete message");
    }
  }
}

/** Blob paths in the queued tasks (claim-check payloads are read from their blobs). */
export async function queuedPaths(emu: Emulators, tasks: ReceivedTask[]): Promise<string[]> {
  const paths: string[] = [];
  for (const t of tasks) {
    let message = t.task;
    if (!message && t.claimCheck) {
      const blob = blobService(emu).getContainerClient(t.claimCheck.claim_check.container)
        .getBlockBlobClient(t.claimCheck.claim_check.blob);
      const body = await withTimeout(blob.downloadToBuffer(), 15_000, "download claim check");
      message = v.parse(TaskMessageSchema, JSON.parse(body.toString("utf8")));
    }
    if (!message) throw new Error(`unexpected message on the queue: ${t.text.slice(0, 200)}`);
    for (const c of message.payload.content) paths.push(String(c.id.path));
  }
  return paths;
}
